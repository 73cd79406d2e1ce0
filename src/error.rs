//! The library's error type. Every variant names the file, and the line/column or
//! key where one exists (CONTRACT.md §1); `main.rs` maps variants to exit codes.

use std::path::Path;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad pipeline or rule file: `{path}: {message}` where message names block and key.
    #[error("{path}: {message}")]
    Config { path: String, message: String },
    /// An input file or folder that cannot be found or read.
    #[error("{path}: {message}")]
    Input { path: String, message: String },
    /// Writing outputs failed (not writable, disk full, …).
    #[error("{path}: {message}")]
    Output { path: String, message: String },
    /// Bad command-line usage detected after parsing (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// A bug or an unexpected library failure.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn config(path: impl AsRef<Path>, message: impl Into<String>) -> Error {
        Error::Config {
            path: path.as_ref().display().to_string(),
            message: message.into(),
        }
    }
    pub fn input(path: impl AsRef<Path>, message: impl ToString) -> Error {
        Error::Input {
            path: path.as_ref().display().to_string(),
            message: message.to_string(),
        }
    }
    pub fn output(path: impl AsRef<Path>, message: impl ToString) -> Error {
        Error::Output {
            path: path.as_ref().display().to_string(),
            message: message.to_string(),
        }
    }
}

impl From<polars::prelude::PolarsError> for Error {
    fn from(e: polars::prelude::PolarsError) -> Error {
        Error::Internal(format!("polars: {e}"))
    }
}
