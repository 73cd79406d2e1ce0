//! Pipeline files and rule files (CONTRACT.md §3).

pub mod params;
pub mod pipeline;
pub mod rules;

pub use params::{MonthDay, Params, Resume};
pub use pipeline::{OutputTable, Pipeline};
pub use rules::{Resolver, RuleSet, Source};

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
