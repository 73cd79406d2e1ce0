//! Pipeline files (CONTRACT.md §3): which inputs, which rule file, which outputs, which
//! quality gate. Relative paths are relative to the pipeline file's folder.

use super::show;
use crate::domain::Encoding;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// An output table (CONTRACT.md §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OutputTable {
    PersonStatus,
    PersonMonth,
    Gaps,
    Findings,
    Rejects,
}

impl OutputTable {
    pub const ALL: [OutputTable; 5] = [
        OutputTable::PersonStatus,
        OutputTable::PersonMonth,
        OutputTable::Gaps,
        OutputTable::Findings,
        OutputTable::Rejects,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            OutputTable::PersonStatus => "person_status",
            OutputTable::PersonMonth => "person_month",
            OutputTable::Gaps => "gaps",
            OutputTable::Findings => "findings",
            OutputTable::Rejects => "rejects",
        }
    }
    pub fn parse(s: &str) -> Option<OutputTable> {
        OutputTable::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// A loaded pipeline file with every path made absolute-or-relative-to-cwd.
#[derive(Clone, Debug)]
pub struct Pipeline {
    pub path: PathBuf,
    pub sha256: String,
    pub name: String,
    pub rules_path: PathBuf,
    pub ledger: PathBuf,
    pub special_groups: Option<PathBuf>,
    pub claims: Option<PathBuf>,
    pub encoding: Encoding,
    /// `[inputs].sheet`: the sheet of Excel ledger files to read (`None`: the first).
    pub sheet: Option<String>,
    pub out_dir: PathBuf,
    /// In [`OutputTable::ALL`] order, without repeats.
    pub tables: Vec<OutputTable>,
    pub max_reject_ratio: Option<f64>,
    pub pseudonymize: bool,
    /// `[privacy] state_dir`: the private folder (mode 0700, outside `out_dir`) for the
    /// working files that hold raw IDs (the privacy module's `state_dirs` lays it out).
    pub state_dir: Option<PathBuf>,
}

const SECTIONS: &[(&str, &[&str])] = &[
    ("pipeline", &["name", "rules"]),
    (
        "inputs",
        &["ledger", "special_groups", "claims", "encoding", "sheet"],
    ),
    ("outputs", &["dir", "tables"]),
    ("quality", &["max_reject_ratio"]),
    ("privacy", &["pseudonymize", "state_dir"]),
];

impl Pipeline {
    pub fn load(path: &Path) -> Result<Pipeline> {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::config(path, format!("cannot read pipeline file: {e}")))?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| Error::config(path, "pipeline file is not UTF-8"))?;
        let mut p = Pipeline::parse(path, text)?;
        p.sha256 = crate::digest::sha256_hex(&bytes);
        Ok(p)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Pipeline> {
        let err = |m: String| Error::config(path, m);
        let doc: toml::Table = super::parse_toml(path, text)?;
        for (section, v) in &doc {
            let Some((_, keys)) = SECTIONS.iter().find(|(s, _)| s == section) else {
                return Err(err(format!("unknown section [{section}]")));
            };
            let toml::Value::Table(t) = v else {
                return Err(err(format!("[{section}] must be a table")));
            };
            if let Some(k) = t.keys().find(|k| !keys.contains(&k.as_str())) {
                return Err(err(format!(
                    "[{section}] key `{k}`: unknown key (expected one of {})",
                    keys.join(", ")
                )));
            }
        }
        let get = |section: &str, key: &str| doc.get(section).and_then(|s| s.get(key));
        let string = |section: &str, key: &str| -> Result<Option<String>> {
            match get(section, key) {
                None => Ok(None),
                Some(toml::Value::String(s)) => Ok(Some(s.clone())),
                Some(v) => Err(err(format!(
                    "[{section}] key `{key}`: expected a string, got {}",
                    show(v)
                ))),
            }
        };
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        // A path, relative to the pipeline file's folder. An empty one is an error:
        // it used to mean that folder itself, so `dir = ""` wrote the tables beside
        // the pipeline file and `ledger = ""` read them back as ledger files.
        let path_of = |section: &str, key: &str| -> Result<Option<PathBuf>> {
            match string(section, key)? {
                Some(s) if s.trim().is_empty() => Err(err(format!(
                    "[{section}] key `{key}`: empty path (write \".\" for the pipeline file's folder)"
                ))),
                Some(s) => Ok(Some(dir.join(s))),
                None => Ok(None),
            }
        };
        let required = |section: &str, key: &str| -> Result<PathBuf> {
            path_of(section, key)?.ok_or_else(|| err(format!("[{section}] key `{key}`: missing")))
        };
        let name = string("pipeline", "name")?.unwrap_or_else(|| {
            path.file_stem()
                .map_or_else(|| "pipeline".into(), |s| s.to_string_lossy().into_owned())
        });
        let rules_path = required("pipeline", "rules")?;
        let ledger = required("inputs", "ledger")?;
        let special_groups = path_of("inputs", "special_groups")?;
        let claims = path_of("inputs", "claims")?;
        let encoding = match string("inputs", "encoding")? {
            None => Encoding::Utf8,
            Some(e) => Encoding::parse(&e).ok_or_else(|| {
                err(format!(
                    "[inputs] key `encoding`: expected utf-8, gbk or gb18030, got {e:?}"
                ))
            })?,
        };
        let sheet = string("inputs", "sheet")?;
        if sheet.as_deref() == Some("") {
            return Err(err("[inputs] key `sheet`: empty sheet name".into()));
        }
        let out_dir = required("outputs", "dir")?;
        let tables = match get("outputs", "tables") {
            None => OutputTable::ALL.to_vec(),
            Some(toml::Value::Array(a)) => {
                let mut tables = Vec::with_capacity(a.len());
                for v in a {
                    let t = v.as_str().and_then(OutputTable::parse).ok_or_else(|| {
                        let names: Vec<&str> =
                            OutputTable::ALL.iter().map(|t| t.as_str()).collect();
                        err(format!(
                            "[outputs] key `tables`: unknown table {} (expected some of {})",
                            show(v),
                            names.join(", ")
                        ))
                    })?;
                    tables.push(t);
                }
                tables.sort_unstable();
                tables.dedup();
                tables
            }
            Some(v) => {
                return Err(err(format!(
                    "[outputs] key `tables`: expected a list of table names, got {}",
                    show(v)
                )));
            }
        };
        let max_reject_ratio = match get("quality", "max_reject_ratio") {
            None => None,
            Some(toml::Value::Float(f)) if (0.0..=1.0).contains(f) => Some(*f),
            Some(toml::Value::Integer(i)) if (0..=1).contains(i) => Some(*i as f64),
            Some(v) => {
                return Err(err(format!(
                    "[quality] key `max_reject_ratio`: expected a number between 0 and 1, got {}",
                    show(v)
                )));
            }
        };
        let pseudonymize = match get("privacy", "pseudonymize") {
            None => false,
            Some(toml::Value::Boolean(b)) => *b,
            Some(v) => {
                return Err(err(format!(
                    "[privacy] key `pseudonymize`: expected true or false, got {}",
                    show(v)
                )));
            }
        };
        let state_dir = path_of("privacy", "state_dir")?;
        Ok(Pipeline {
            path: path.to_path_buf(),
            sha256: String::new(),
            name,
            rules_path,
            ledger,
            special_groups,
            claims,
            encoding,
            sheet,
            out_dir,
            tables,
            max_reject_ratio,
            pseudonymize,
            state_dir,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_to_the_pipeline_file() {
        let p = Pipeline::parse(
            Path::new("pipelines/sample.toml"),
            r#"
[pipeline]
name = "sample"
rules = "rules/national.toml"
[inputs]
ledger = "../sample_data/ledger"
special_groups = "../sample_data/special_groups.csv"
encoding = "GBK"
sheet = "二月"
[outputs]
dir = "../out"
tables = ["rejects", "person_status", "rejects"]
[quality]
max_reject_ratio = 0.05
"#,
        )
        .unwrap();
        assert_eq!(p.rules_path, Path::new("pipelines/rules/national.toml"));
        assert_eq!(p.ledger, Path::new("pipelines/../sample_data/ledger"));
        assert_eq!(
            p.special_groups.as_deref(),
            Some(Path::new("pipelines/../sample_data/special_groups.csv"))
        );
        assert_eq!(p.claims, None);
        assert_eq!(p.encoding, Encoding::Gbk);
        assert_eq!(p.sheet.as_deref(), Some("二月"));
        assert_eq!(p.out_dir, Path::new("pipelines/../out"));
        assert_eq!(
            p.tables,
            vec![OutputTable::PersonStatus, OutputTable::Rejects]
        );
        assert_eq!(p.max_reject_ratio, Some(0.05));
        assert!(!p.pseudonymize);
    }

    #[test]
    fn bad_pipeline_files_name_file_section_and_key() {
        let e = |text: &str| {
            Pipeline::parse(Path::new("p.toml"), text)
                .unwrap_err()
                .to_string()
        };
        let ok =
            "[pipeline]\nrules = \"r.toml\"\n[inputs]\nledger = \"l\"\n[outputs]\ndir = \"o\"\n";
        assert!(Pipeline::parse(Path::new("p.toml"), ok).is_ok());
        assert_eq!(e("[pipeline]\n"), "p.toml: [pipeline] key `rules`: missing");
        assert!(
            e(&format!("{ok}[quality]\nmax_reject_ratio = 2.0\n"))
                .contains("[quality] key `max_reject_ratio`")
        );
        assert!(
            e(&format!("{ok}[privacy]\npseudonymise = true\n"))
                .contains("[privacy] key `pseudonymise`: unknown key")
        );
        assert!(e(&format!("{ok}[extra]\n")).contains("unknown section [extra]"));
        assert!(
            e(&ok.replace("dir = \"o\"", "dir = \"o\"\ntables = [\"people\"]"))
                .contains("unknown table \"people\"")
        );
        assert!(
            e(&ok.replace("ledger = \"l\"", "ledger = \"l\"\nencoding = \"latin1\""))
                .contains("key `encoding`")
        );
        assert_eq!(
            Pipeline::parse(Path::new("p.toml"), ok).unwrap().sheet,
            None
        );
        assert!(
            e(&ok.replace("ledger = \"l\"", "ledger = \"l\"\nsheet = 2"))
                .contains("[inputs] key `sheet`: expected a string")
        );
        assert!(
            e(&ok.replace("ledger = \"l\"", "ledger = \"l\"\nsheet = \"\""))
                .contains("[inputs] key `sheet`: empty sheet name")
        );
        assert_eq!(
            e(&ok.replace("dir = \"o\"", "dir = \"\"")),
            "p.toml: [outputs] key `dir`: empty path (write \".\" for the pipeline file's folder)"
        );
        assert!(
            e(&ok.replace("ledger = \"l\"", "ledger = \"l\"\nclaims = \" \""))
                .contains("[inputs] key `claims`: empty path")
        );
    }
}
