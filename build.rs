//! Sets `LEDGERFLOW_BUILD`: a fingerprint of the sources (`src/**/*.rs`), `Cargo.toml`
//! and `Cargo.lock` (FNV-1a 64 over relative paths and contents, without `\r`; symlinks
//! are not followed). Caches and backfill's "up to date" check key on
//! it, so a rebuilt engine never reuses results of another build with the same version.

use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let Ok(kind) = e.file_type() else { continue };
        if kind.is_dir() {
            files(&p, out);
        } else if kind.is_file() && p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn main() {
    let mut paths = vec![PathBuf::from("Cargo.toml"), PathBuf::from("Cargo.lock")];
    files(Path::new("src"), &mut paths);
    paths.sort();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in &paths {
        let name = p.to_string_lossy().replace('\\', "/");
        // Line endings normalised: a checkout with CRLF builds the same fingerprint.
        let data: Vec<u8> = std::fs::read(p)
            .unwrap_or_default()
            .into_iter()
            .filter(|&b| b != b'\r')
            .collect();
        for b in name.bytes().chain([0]).chain(data).chain([0]) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    println!("cargo:rustc-env=LEDGERFLOW_BUILD={h:016x}");
    for p in ["src", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={p}");
    }
}
