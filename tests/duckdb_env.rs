//! The pinned DuckDB (Python package in a venv under `target/duckdb-venv`), shared by
//! the DuckDB interoperability test and the benchmark (`benches/pipeline.rs` includes
//! this file with `#[path]`). Needs `python3` with `venv` and network access to PyPI on
//! first use.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

pub const DUCKDB_VERSION: &str = "1.4.1";

static VENV_LOCK: Mutex<()> = Mutex::new(());

/// Runs `cmd`; its stdout, or an error with its stdout and stderr.
pub fn sh(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd:?} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The python of `TARGET/duckdb-venv` with duckdb==DUCKDB_VERSION, created on first use.
pub fn duckdb_python(target: &Path) -> Result<PathBuf, String> {
    let _guard = VENV_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let venv = target.join("duckdb-venv");
    let python = venv.join("bin").join("python");
    let version_check = |py: &Path| {
        sh(Command::new(py).args(["-c", "import duckdb; print(duckdb.__version__)"]))
            .map(|v| v.trim().to_string())
    };
    if python.exists() && version_check(&python).as_deref() == Ok(DUCKDB_VERSION) {
        return Ok(python);
    }
    if !python.exists() {
        sh(Command::new("python3").arg("-m").arg("venv").arg(&venv)).map_err(|e| {
            format!(
                "DuckDB needs python3 with the venv module (python3 -m venv {}): {e}",
                venv.display()
            )
        })?;
    }
    sh(Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg(format!("duckdb=={DUCKDB_VERSION}")))
    .map_err(|e| {
        format!("`pip install duckdb=={DUCKDB_VERSION}` failed (network to PyPI?): {e}")
    })?;
    match version_check(&python) {
        Ok(v) if v == DUCKDB_VERSION => Ok(python),
        other => Err(format!(
            "duckdb in {} is {other:?}, expected {DUCKDB_VERSION}",
            venv.display()
        )),
    }
}
