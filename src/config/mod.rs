//! Pipeline files and rule files (CONTRACT.md §3).

pub mod params;
pub mod pipeline;
pub mod rules;

pub use params::{MonthDay, Params, Resume};
pub use pipeline::{OutputTable, Pipeline};
pub use rules::{Resolver, RuleSet, Source};

use crate::error::{Error, Result};
use std::path::Path;

/// Parses TOML text; a syntax error names `file:line:column` (1-based, columns in
/// characters) of the place the parser stopped.
pub(crate) fn parse_toml(path: &Path, text: &str) -> Result<toml::Table> {
    toml::from_str(text).map_err(|e| {
        let message = format!("not valid TOML: {}", e.message());
        match e.span() {
            Some(span) => {
                let (line, column) = line_column(text, span.start);
                Error::config(format!("{}:{line}:{column}", path.display()), message)
            }
            None => Error::config(path, message),
        }
    })
}

/// The 1-based line and column (in characters) of byte offset `at` of `text`.
fn line_column(text: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// A TOML value as it would be written, for error messages.
pub(crate) fn show(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(a) => format!("[{}]", a.iter().map(show).collect::<Vec<_>>().join(", ")),
        toml::Value::Table(_) => "a table".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_syntax_errors_name_file_line_and_column() {
        let e = Pipeline::parse(
            Path::new("p.toml"),
            "[pipeline]\nname = \"x\"\nrules = = 3\n",
        )
        .err()
        .unwrap()
        .to_string();
        assert!(e.starts_with("p.toml:3:9: not valid TOML"), "{e}");
        // Columns count characters, not bytes.
        let e = RuleSet::parse(Path::new("r.toml"), "a = \"账本\" x\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("r.toml:1:10: "), "{e}");
        assert_eq!(line_column("ab\r\ncd", 5), (2, 2));
    }
}
