//! The pinned DuckDB (Python package in a venv under `target/duckdb-venv`), shared by
//! the DuckDB interoperability test and the benchmark (`benches/pipeline.rs` includes
//! this file with `#[path]`), and the pinned openpyxl of the Excel-ledger tests. Needs `python3` with `venv` and network access to PyPI on
//! first use.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

pub const DUCKDB_VERSION: &str = "1.4.1";
#[allow(dead_code)] // benches/pipeline.rs includes this file and needs only duckdb
pub const OPENPYXL_VERSION: &str = "3.1.5";
#[allow(dead_code)]
pub const KUBERNETES_VALIDATE_VERSION: &str = "1.37.0";
#[allow(dead_code)] // only the benchmark's floor (benches/polars_floor.py) uses polars
pub const POLARS_VERSION: &str = "2.1.0";

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
#[allow(dead_code)] // benches/pipeline.rs uses bench_python
pub fn duckdb_python(target: &Path) -> Result<PathBuf, String> {
    venv_python(target, &[("duckdb", DUCKDB_VERSION)])
}

/// The python of the same venv with openpyxl==OPENPYXL_VERSION too (the Excel-ledger
/// tests write their workbooks with it).
#[allow(dead_code)]
pub fn test_python(target: &Path) -> Result<PathBuf, String> {
    venv_python(
        target,
        &[("duckdb", DUCKDB_VERSION), ("openpyxl", OPENPYXL_VERSION)],
    )
}

/// The python of the same venv with kubernetes-validate==KUBERNETES_VALIDATE_VERSION
/// (the test of the manifests under `deploy/` runs it; it ships the schemas).
#[allow(dead_code)]
pub fn k8s_python(target: &Path) -> Result<PathBuf, String> {
    venv_python(
        target,
        &[("kubernetes_validate", KUBERNETES_VALIDATE_VERSION)],
    )
}

/// The python of the same venv with polars==POLARS_VERSION too (the benchmark's floor).
#[allow(dead_code)]
pub fn bench_python(target: &Path) -> Result<PathBuf, String> {
    venv_python(
        target,
        &[("duckdb", DUCKDB_VERSION), ("polars", POLARS_VERSION)],
    )
}

/// The python of `TARGET/duckdb-venv` with each `(package, version)` installed,
/// created and installed on first use.
fn venv_python(target: &Path, packages: &[(&str, &str)]) -> Result<PathBuf, String> {
    let _guard = VENV_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let venv = target.join("duckdb-venv");
    let python = venv.join("bin").join("python");
    let version_check = |py: &Path, module: &str| {
        sh(Command::new(py).args([
            "-c",
            &format!("import {module}; print({module}.__version__)"),
        ]))
        .map(|v| v.trim().to_string())
    };
    for &(module, version) in packages {
        if python.exists() && version_check(&python, module).as_deref() == Ok(version) {
            continue;
        }
        if !python.exists() {
            sh(Command::new("python3").arg("-m").arg("venv").arg(&venv)).map_err(|e| {
                format!(
                    "the test venv needs python3 with the venv module (python3 -m venv {}): {e}",
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
            .arg(format!("{module}=={version}")))
        .map_err(|e| format!("`pip install {module}=={version}` failed (network to PyPI?): {e}"))?;
        match version_check(&python, module) {
            Ok(v) if v == version => {}
            other => {
                return Err(format!(
                    "{module} in {} is {other:?}, expected {version}",
                    venv.display()
                ));
            }
        }
    }
    Ok(python)
}
