//! Rule files: effective-dated parameter blocks per region, and the lookup of
//! CONTRACT.md §3.
//!
//! A rule file is a list of `[[params]]` blocks, each with a `region` (`"*"`, a 2-digit
//! province, a 4-digit city or a 6-digit code) and an `effective_from` month. Lookup of
//! one parameter for a (region, month): the region levels from most to least specific
//! (6 digits, 4, 2, `*`); within a level, the blocks with `effective_from ≤ month`,
//! latest first; the first block that sets the parameter wins. So a block only holds
//! what changes, both against the less specific region and against its own earlier
//! blocks (e.g. `* 2024-01` sets only the new resident contribution). The earliest `*`
//! block must set every parameter; it also holds for months before its
//! `effective_from` (ledgers older than the rule file), which is our documented choice
//! for what CONTRACT §3 leaves open.
//!
//! Errors name the file, the block (its number, region and month) and the key.

use super::params::{Kind, MonthDay, PARAMETERS, Parameter, Params, Resume, Value};
use super::show;
use crate::domain::{Fen, Month, Rate, SpecialGroup};
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

impl Value {
    /// The value as a rule file would write it (for `explain`).
    fn render(&self) -> String {
        let md = |d: &MonthDay| format!("{:02}-{:02}", d.month, d.day);
        match self {
            Value::Rate(r) => format!("{}", r.as_f64()),
            Value::Int(i) => i.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Money(f) => f.to_string(),
            Value::Resume(r) => r.as_str().to_string(),
            Value::Window(a, b) => format!("[{}, {}]", md(a), md(b)),
            Value::OptionalDay(d) => d.as_ref().map_or_else(|| "none".to_string(), md),
            Value::Month(m) => m.to_string(),
            Value::Groups(g) => {
                let names: Vec<&str> = SpecialGroup::ALL
                    .iter()
                    .filter(|x| g[**x as usize])
                    .map(|x| x.as_str())
                    .collect();
                format!("[{}]", names.join(", "))
            }
        }
    }
}

/// One `[[params]]` block.
#[derive(Clone, Debug)]
struct Block {
    /// `"*"` or 2/4/6 digits.
    region: String,
    effective_from: Month,
    /// The document these values come from (`reference = "…"`), shown by `explain`.
    reference: Option<String>,
    values: BTreeMap<&'static str, Value>,
}

/// A loaded rule file.
#[derive(Clone, Debug)]
pub struct RuleSet {
    pub path: PathBuf,
    pub sha256: String,
    blocks: Vec<Block>,
}

/// Where a resolved parameter value came from (for `explain`).
#[derive(Clone, Debug, PartialEq)]
pub struct Source {
    pub key: String,
    pub value: String,
    pub block_region: String,
    pub effective_from: Month,
    pub reference: Option<String>,
}

/// The shipped national rule file, compiled in: the one place the national values of
/// RULES.md are written down (engine unit tests and `ledgerflow generate` read it).
pub const NATIONAL_RULES: &str = include_str!("../../pipelines/rules/national.toml");

impl RuleSet {
    /// The shipped `pipelines/rules/national.toml` ([`NATIONAL_RULES`]).
    pub fn national() -> RuleSet {
        RuleSet::parse(Path::new("pipelines/rules/national.toml"), NATIONAL_RULES)
            .unwrap_or_else(|e| panic!("the compiled-in national rule file: {e}"))
    }

    /// Reads and checks a rule file; every error names the file, block and key.
    pub fn load(path: &Path) -> Result<RuleSet> {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::config(path, format!("cannot read rule file: {e}")))?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| Error::config(path, "rule file is not UTF-8"))?;
        let mut rules = RuleSet::parse(path, text)?;
        rules.sha256 = crate::digest::sha256_hex(&bytes);
        Ok(rules)
    }

    /// Parses rule-file text (`path` is only used in messages).
    pub fn parse(path: &Path, text: &str) -> Result<RuleSet> {
        let err = |m: String| Error::config(path, m);
        let doc: toml::Table = super::parse_toml(path, text)?;
        for key in doc.keys() {
            if key != "params" {
                return Err(err(format!(
                    "unknown top-level key `{key}` (expected only [[params]] blocks)"
                )));
            }
        }
        let list = match doc.get("params") {
            Some(toml::Value::Array(a)) => a,
            Some(_) => {
                return Err(err(
                    "`params` must be an array of tables ([[params]])".into()
                ));
            }
            None => return Err(err("no [[params]] blocks".into())),
        };
        let mut blocks = Vec::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            let toml::Value::Table(t) = item else {
                return Err(err(format!("[[params]] #{}: not a table", i + 1)));
            };
            blocks.push(parse_block(i + 1, t).map_err(err)?);
        }
        for (i, a) in blocks.iter().enumerate() {
            if let Some(b) = blocks[..i]
                .iter()
                .find(|b| b.region == a.region && b.effective_from == a.effective_from)
            {
                return Err(err(format!(
                    "[[params]] #{} repeats region {} effective_from {} of an earlier block ({} keys there)",
                    i + 1,
                    a.region,
                    a.effective_from,
                    b.values.len()
                )));
            }
        }
        let base = blocks
            .iter()
            .filter(|b| b.region == "*")
            .min_by_key(|b| b.effective_from)
            .ok_or_else(|| {
                err("no [[params]] block with region = \"*\" (the national defaults)".into())
            })?;
        for Parameter { key, .. } in PARAMETERS {
            if !base.values.contains_key(key) {
                return Err(err(format!(
                    "[[params]] region \"*\" effective_from {}: key `{key}` missing; the earliest \"*\" block must set every parameter",
                    base.effective_from
                )));
            }
        }
        Ok(RuleSet {
            path: path.to_path_buf(),
            sha256: String::new(),
            blocks,
        })
    }

    /// The blocks that can apply to a 6-digit region in any month, most specific first,
    /// latest first within a level.
    fn chain(&self, region: u32) -> Vec<&Block> {
        let code = format!("{region:06}");
        let levels = [&code[..], &code[..4], &code[..2], "*"];
        let mut chain = Vec::new();
        for level in levels {
            let mut here: Vec<&Block> = self.blocks.iter().filter(|b| b.region == level).collect();
            here.sort_by_key(|b| std::cmp::Reverse(b.effective_from));
            chain.extend(here);
        }
        chain
    }

    /// The block that supplies `key` for (region, month).
    fn source<'a>(chain: &[&'a Block], key: &str, month: Month) -> Option<&'a Block> {
        let base = chain
            .iter()
            .filter(|b| b.region == "*")
            .min_by_key(|b| b.effective_from)
            .copied();
        chain
            .iter()
            .find(|b| b.effective_from <= month && b.values.contains_key(key))
            .copied()
            .or(base)
    }

    fn params_from(chain: &[&Block], month: Month) -> Params {
        let get = |key: &str| -> Value {
            // `parse` checked that the earliest `*` block sets every key.
            Self::source(chain, key, month)
                .and_then(|b| b.values.get(key))
                .cloned()
                .unwrap_or(Value::Int(0))
        };
        Params::build(&get)
    }

    /// Resolves every parameter for a 6-digit region and a month.
    pub fn params(&self, region: u32, month: Month) -> Params {
        self.resolver(&[region]).at(region, month).clone()
    }

    /// Precomputes the parameters of `regions` for every month in which one of their
    /// blocks takes effect, for fast lookups by the engine.
    pub fn resolver(&self, regions: &[u32]) -> Resolver {
        let mut regions: Vec<u32> = regions.to_vec();
        regions.sort_unstable();
        regions.dedup();
        let per_region = regions.iter().map(|&r| (r, self.timeline(r))).collect();
        Resolver {
            per_region,
            national: self.timeline(0),
        }
    }

    fn timeline(&self, region: u32) -> Vec<(Month, Params)> {
        let chain = self.chain(region);
        let mut starts: Vec<Month> = chain.iter().map(|b| b.effective_from).collect();
        starts.sort_unstable();
        starts.dedup();
        let mut out: Vec<(Month, Params)> = Vec::with_capacity(starts.len());
        for m in starts {
            let p = Self::params_from(&chain, m);
            if out.last().is_none_or(|(_, last)| *last != p) {
                out.push((m, p));
            }
        }
        out
    }

    /// The parameters of the national (`"*"`) blocks from each month one takes effect,
    /// ascending; the first entry also holds for earlier months.
    pub fn national_timeline(&self) -> Vec<(Month, Params)> {
        self.timeline(0)
    }

    /// Every parameter for (region, month) with the block it comes from.
    pub fn sources(&self, region: u32, month: Month) -> Vec<Source> {
        let chain = self.chain(region);
        PARAMETERS
            .iter()
            .filter_map(|Parameter { key, .. }| {
                let b = Self::source(&chain, key, month)?;
                Some(Source {
                    key: key.to_string(),
                    value: b.values.get(key)?.render(),
                    block_region: b.region.clone(),
                    effective_from: b.effective_from,
                    reference: b.reference.clone(),
                })
            })
            .collect()
    }
}

/// Parameters resolved for the regions of one run (see [`RuleSet::resolver`]).
pub struct Resolver {
    per_region: Vec<(u32, Vec<(Month, Params)>)>,
    /// For regions not seen when the resolver was built: the `*` blocks only.
    national: Vec<(Month, Params)>,
}

impl Resolver {
    /// The parameters in force for a 6-digit region in a month.
    pub fn at(&self, region: u32, month: Month) -> &Params {
        let timeline = match self.per_region.binary_search_by_key(&region, |(r, _)| *r) {
            Ok(i) => &self.per_region[i].1,
            Err(_) => &self.national,
        };
        // The first entry also holds for earlier months (see the module docs).
        let i = timeline.partition_point(|(from, _)| *from <= month).max(1) - 1;
        &timeline[i].1
    }
}

fn parse_block(n: usize, t: &toml::Table) -> std::result::Result<Block, String> {
    let region = match t.get("region") {
        Some(toml::Value::String(s)) => s.clone(),
        Some(_) => return Err(format!("[[params]] #{n}: key `region`: expected a string")),
        None => return Err(format!("[[params]] #{n}: key `region` missing")),
    };
    let here = |key: &str| format!("[[params]] #{n} (region {region}): key `{key}`");
    let region_ok = region == "*"
        || (matches!(region.len(), 2 | 4 | 6) && region.bytes().all(|b| b.is_ascii_digit()));
    if !region_ok {
        return Err(format!(
            "{}: expected \"*\" or 2, 4 or 6 digits, got {region:?}",
            here("region")
        ));
    }
    let effective_from = match t.get("effective_from") {
        Some(toml::Value::String(s)) => Month::parse(s)
            .ok_or_else(|| format!("{}: expected YYYY-MM, got {s:?}", here("effective_from")))?,
        Some(_) => {
            return Err(format!(
                "{}: expected a string YYYY-MM",
                here("effective_from")
            ));
        }
        None => return Err(format!("{} missing", here("effective_from"))),
    };
    let here = |key: &str| {
        format!("[[params]] #{n} (region {region}, effective_from {effective_from}): key `{key}`")
    };
    let reference = match t.get("reference") {
        None => None,
        Some(toml::Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(_) => {
            return Err(format!(
                "{}: expected a non-empty string",
                here("reference")
            ));
        }
    };
    let mut values = BTreeMap::new();
    for (key, v) in t {
        if key == "region" || key == "effective_from" || key == "reference" {
            continue;
        }
        if key == "subsidy_ratio" {
            let toml::Value::Table(groups) = v else {
                return Err(format!("{}: expected a table of group = ratio", here(key)));
            };
            for (g, r) in groups {
                let full = format!("subsidy_ratio.{g}");
                let Parameter {
                    key: name, kind, ..
                } = parameter(&full).ok_or_else(|| {
                    format!(
                        "{}: unknown special group (expected one of {})",
                        here(&full),
                        group_names()
                    )
                })?;
                values.insert(
                    name,
                    parse_value(kind, r).map_err(|m| format!("{}: {m}", here(name)))?,
                );
            }
            continue;
        }
        let Parameter {
            key: name,
            kind,
            national_only,
            ..
        } = parameter(key).ok_or_else(|| format!("{}: unknown parameter", here(key)))?;
        if region != "*" && national_only {
            return Err(format!(
                "{}: a plausibility bound of the input; only region \"*\" blocks may set it",
                here(key)
            ));
        }
        values.insert(
            name,
            parse_value(kind, v).map_err(|m| format!("{}: {m}", here(name)))?,
        );
    }
    Ok(Block {
        region,
        effective_from,
        reference,
        values,
    })
}

/// The declared parameter with this rule-file key.
fn parameter(key: &str) -> Option<Parameter> {
    PARAMETERS.iter().find(|p| p.key == key).copied()
}

fn group_names() -> String {
    SpecialGroup::ALL
        .iter()
        .map(|g| g.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_month_day(s: &str) -> Option<MonthDay> {
    let (m, d) = s.split_once('-')?;
    if m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (month, day): (u32, u32) = (m.parse().ok()?, d.parse().ok()?);
    // Any day that exists in some year (02-29 is allowed and clamps in short years).
    crate::domain::Date::is_valid_ymd(2024, month, day).then_some(MonthDay { month, day })
}

/// The largest integer a rule file may give (months, days, years, counts): any year
/// of the calendar, and so many months or days that month and date arithmetic on
/// any `YYYY-MM` stays far inside `i32` (2147483647 months would overflow it).
const MAX_INT: i64 = 9999;

fn parse_value(kind: Kind, v: &toml::Value) -> std::result::Result<Value, String> {
    use toml::Value as T;
    Ok(match (kind, v) {
        (Kind::Rate, T::Float(f)) if (0.0..=1.0).contains(f) => Value::Rate(Rate::from_f64(*f)),
        (Kind::Rate, T::Integer(i)) if (0..=1).contains(i) => {
            Value::Rate(Rate::from_f64(*i as f64))
        }
        (Kind::Rate, _) => {
            return Err(format!(
                "expected a number between 0 and 1, got {}",
                show(v)
            ));
        }
        (Kind::Int, T::Integer(i)) if (0..=MAX_INT).contains(i) => Value::Int(*i as i32),
        (Kind::Int, _) => {
            return Err(format!(
                "expected a non-negative integer up to {MAX_INT}, got {}",
                show(v)
            ));
        }
        (Kind::Bool, T::Boolean(b)) => Value::Bool(*b),
        (Kind::Bool, _) => return Err(format!("expected true or false, got {}", show(v))),
        (Kind::Money, T::String(s)) => Value::Money(parse_money(s)?),
        (Kind::Money, T::Integer(i)) => Value::Money(parse_money(&i.to_string())?),
        (Kind::Money, T::Float(f)) => Value::Money(parse_money(&f.to_string())?),
        (Kind::Money, _) => return Err(format!("expected yuan like \"400.00\", got {}", show(v))),
        (Kind::Resume, T::String(s)) => Value::Resume(Resume::parse(s).ok_or_else(|| {
            format!("expected payment_day, day_after_payment or next_month, got {s:?}")
        })?),
        (Kind::Resume, _) => return Err(format!("expected a string, got {}", show(v))),
        (Kind::Window, T::Array(a)) if a.len() == 2 => {
            let day = |x: &T| x.as_str().and_then(parse_month_day);
            match (day(&a[0]), day(&a[1])) {
                (Some(open), Some(close)) => Value::Window(open, close),
                _ => return Err(format!("expected [\"MM-DD\", \"MM-DD\"], got {}", show(v))),
            }
        }
        (Kind::Window, _) => {
            return Err(format!("expected [\"MM-DD\", \"MM-DD\"], got {}", show(v)));
        }
        (Kind::OptionalDay, T::String(s)) if s == "none" => Value::OptionalDay(None),
        (Kind::OptionalDay, T::String(s)) => Value::OptionalDay(Some(
            parse_month_day(s)
                .ok_or_else(|| format!("expected \"MM-DD\" or \"none\", got {s:?}"))?,
        )),
        (Kind::OptionalDay, _) => {
            return Err(format!("expected \"MM-DD\" or \"none\", got {}", show(v)));
        }
        (Kind::Groups, T::Array(a)) => {
            let mut set = [false; 6];
            for x in a {
                let g = x.as_str().and_then(SpecialGroup::parse).ok_or_else(|| {
                    format!(
                        "unknown group {} (expected one of {})",
                        show(x),
                        group_names()
                    )
                })?;
                set[g as usize] = true;
            }
            Value::Groups(set)
        }
        (Kind::Groups, _) => {
            return Err(format!("expected a list of group names, got {}", show(v)));
        }
        (Kind::Month, T::String(s)) => {
            Value::Month(Month::parse(s).ok_or_else(|| format!("expected \"YYYY-MM\", got {s:?}"))?)
        }
        (Kind::Month, _) => return Err(format!("expected \"YYYY-MM\", got {}", show(v))),
    })
}

fn parse_money(s: &str) -> std::result::Result<Fen, String> {
    Fen::parse(s).filter(|f| f.0 >= 0).ok_or_else(|| {
        format!("expected non-negative yuan with at most 2 decimal places, got {s:?}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[[params]]
region = "*"
effective_from = "1990-01"
employee_rate = 0.10
flexible_rate = 0.10
due_lag_months = 0
short_gap_max_months = 3
employer_arrears_window_months = 6
backpay_deadline_months = 3
resume_employee = "day_after_payment"
resume_flexible = "next_month"
retroactive_employee = true
retroactive_flexible = false
break_wait_months_employee = 6
break_wait_months_flexible = 3
waiting_benefit_ratio = 0.0
post_break_reduced_months = 0
post_break_benefit_ratio = 0.5
first_enrolment_wait_months_employee = 0
first_enrolment_wait_months_flexible = 0
resident_contribution = "380.00"
resident_window = ["09-01", "12-31"]
resident_grace_until = "none"
switch_gap_max_months = 3
resident_wait_from = 2025
break_years_count_from = 2025
newborn_window_days = 90
resident_fixed_wait_months = 3
variable_free_break_years = 1
repair_floor_break_years = 4
repair_floor_months = 6
incentive_after_years = 4
incentive_step = "1000.00"
incentive_cap_ratio = 0.20
catastrophic_cap = "300000.00"
exempt_groups = ["tekun", "orphan", "dibao", "disabled_severe", "rescued_poor", "low_income"]
late_fee_daily_rate = 0.0005
late_fee_cap_at_principal = false
retirement_min_months_male = 300
retirement_min_months_female = 240
lump_sum_rate = 0.056
min_period = "1990-01"
max_months_ahead = 24
max_amount = "99999999.99"
[params.subsidy_ratio]
tekun = 1.0
orphan = 1.0
dibao = 0.9
disabled_severe = 0.9
rescued_poor = 0.5
low_income = 0.5

[[params]]
region = "*"
effective_from = "2024-01"
resident_contribution = "400.00"
"#;

    fn load(extra: &str) -> Result<RuleSet> {
        RuleSet::parse(Path::new("rules.toml"), &format!("{BASE}{extra}"))
    }

    fn m(s: &str) -> Month {
        Month::parse(s).unwrap()
    }

    #[test]
    fn national_block_equals_the_engine_defaults_and_later_star_blocks_only_override() {
        let rules = load("").unwrap();
        let mut expected = Params::national_defaults();
        assert_eq!(rules.params(370200, m("2025-06")), expected);
        expected.resident_contribution = Fen(38_000);
        assert_eq!(rules.params(370200, m("2023-12")), expected);
        // Before the earliest block: the earliest block still holds.
        assert_eq!(rules.params(370200, m("1985-01")), expected);
    }

    #[test]
    fn the_shipped_national_rule_file_loads_and_matches_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/rules/national.toml");
        let rules = RuleSet::load(&path).unwrap();
        assert_eq!(rules.sha256.len(), 64);
        // A region without overrides gets the `*` values of RULES.md.
        assert_eq!(
            rules.params(370200, m("2025-06")),
            Params::national_defaults()
        );
        let sh = rules.params(310115, m("2025-06"));
        assert_eq!(
            (
                sh.retirement_min_months_male,
                sh.retirement_min_months_female
            ),
            (180, 180)
        );
        let suzhou = rules.params(320506, m("2025-06"));
        assert_eq!(suzhou.first_enrolment_wait_months_flexible, 3);
        assert_eq!(
            rules.params(370200, m("2023-06")).resident_contribution,
            Fen(38_000)
        );
    }

    #[test]
    fn most_specific_region_wins_then_falls_back_level_by_level() {
        let rules = load(
            r#"
[[params]]
region = "32"
effective_from = "2020-01"
short_gap_max_months = 2
first_enrolment_wait_months_flexible = 3

[[params]]
region = "3205"
effective_from = "2022-01"
first_enrolment_wait_months_flexible = 4

[[params]]
region = "320506"
effective_from = "2025-03"
short_gap_max_months = 1
"#,
        )
        .unwrap();
        let p = rules.params(320506, m("2025-03"));
        assert_eq!(p.short_gap_max_months, 1); // 6-digit block
        assert_eq!(p.first_enrolment_wait_months_flexible, 4); // 4-digit block
        assert_eq!(p.employee_rate, Rate::from_f64(0.10)); // `*`
        // Effective dating: the 6-digit block starts 2025-03, the city block 2022-01.
        let p = rules.params(320506, m("2025-02"));
        assert_eq!(p.short_gap_max_months, 2);
        let p = rules.params(320506, m("2021-12"));
        assert_eq!(p.first_enrolment_wait_months_flexible, 3);
        // Another Jiangsu city only sees the province block.
        assert_eq!(
            rules
                .params(320100, m("2025-06"))
                .first_enrolment_wait_months_flexible,
            3
        );
        // The resolver gives the same answers.
        let r = rules.resolver(&[320506, 320100]);
        assert_eq!(r.at(320506, m("2025-03")).short_gap_max_months, 1);
        assert_eq!(r.at(320506, m("2025-02")).short_gap_max_months, 2);
        assert_eq!(r.at(320506, m("1980-01")).short_gap_max_months, 3);
        assert_eq!(r.at(999999, m("2025-06")).short_gap_max_months, 3);
        // explain's sources name the supplying block.
        let src = rules.sources(320506, m("2025-03"));
        let s = src
            .iter()
            .find(|s| s.key == "first_enrolment_wait_months_flexible")
            .unwrap();
        assert_eq!((s.value.as_str(), s.block_region.as_str()), ("4", "3205"));
        assert_eq!(s.effective_from, m("2022-01"));
    }

    #[test]
    fn a_block_reference_reaches_the_sources_of_its_values() {
        let rules = load(
            r#"
[[params]]
region = "35"
effective_from = "2025-01"
reference = "闽政办〔2025〕3号"
resident_grace_until = "02-28"
"#,
        )
        .unwrap();
        let src = rules.sources(350102, m("2025-06"));
        let by_key = |k: &str| src.iter().find(|s| s.key == k).unwrap().clone();
        assert_eq!(
            by_key("resident_grace_until").reference.as_deref(),
            Some("闽政办〔2025〕3号")
        );
        // A value from a block without a reference has none.
        assert_eq!(by_key("employee_rate").reference, None);
        // A reference must be a non-empty string; it names block and key.
        let err =
            load("\n[[params]]\nregion = \"35\"\neffective_from = \"2025-01\"\nreference = 3\n")
                .unwrap_err()
                .to_string();
        assert!(err.contains("key `reference`"), "{err}");
    }

    #[test]
    fn windows_grace_groups_and_subsidies_parse() {
        let rules = load(
            r#"
[[params]]
region = "3601"
effective_from = "2024-01"
resident_window = ["09-15", "02-28"]
resident_grace_until = "02-28"
exempt_groups = ["tekun"]
subsidy_ratio.dibao = 0.8
"#,
        )
        .unwrap();
        let p = rules.params(360102, m("2025-01"));
        assert_eq!(p.resident_window_open, MonthDay { month: 9, day: 15 });
        assert_eq!(p.resident_window_close, MonthDay { month: 2, day: 28 });
        assert_eq!(p.resident_grace_until, Some(MonthDay { month: 2, day: 28 }));
        assert!(p.is_exempt(SpecialGroup::Tekun) && !p.is_exempt(SpecialGroup::Dibao));
        assert_eq!(p.subsidy_ratio(SpecialGroup::Dibao), Rate::from_f64(0.8));
        assert_eq!(p.subsidy_ratio(SpecialGroup::Orphan), Rate::ONE);
    }

    fn error_of(extra: &str) -> String {
        load(extra).unwrap_err().to_string()
    }

    #[test]
    fn bad_rule_files_name_file_block_and_key() {
        let e = error_of(
            "[[params]]\nregion = \"3101\"\neffective_from = \"2021-01\"\nretirement_min_months = 180\n",
        );
        assert!(e.starts_with("rules.toml: [[params]] #3 (region 3101, effective_from 2021-01): key `retirement_min_months`: unknown parameter"), "{e}");
        let e = error_of(
            "[[params]]\nregion = \"3101\"\neffective_from = \"2021-01\"\nshort_gap_max_months = \"3\"\n",
        );
        assert!(
            e.contains("#3")
                && e.contains("`short_gap_max_months`")
                && e.contains("non-negative integer"),
            "{e}"
        );
        // Months far beyond any calendar would overflow month arithmetic.
        let e = error_of(
            "[[params]]\nregion = \"31\"\neffective_from = \"2021-01\"\nbackpay_deadline_months = 2147483647\n",
        );
        assert!(
            e.contains("`backpay_deadline_months`: expected a non-negative integer up to 9999, got 2147483647"),
            "{e}"
        );
        let e = error_of("[[params]]\nregion = \"31010\"\neffective_from = \"2021-01\"\n");
        assert!(e.contains("key `region`") && e.contains("31010"), "{e}");
        let e = error_of("[[params]]\nregion = \"31\"\neffective_from = \"2021-13\"\n");
        assert!(e.contains("key `effective_from`"), "{e}");
        let e = error_of(
            "[[params]]\nregion = \"31\"\neffective_from = \"2021-01\"\nemployee_rate = 1.5\n",
        );
        assert!(
            e.contains("`employee_rate`") && e.contains("between 0 and 1"),
            "{e}"
        );
        let e = error_of("[[params]]\nregion = \"*\"\neffective_from = \"2024-01\"\n");
        assert!(
            e.contains("#3 repeats region * effective_from 2024-01"),
            "{e}"
        );
        let e = error_of(
            "[[params]]\nregion = \"31\"\neffective_from = \"2021-01\"\nresident_window = [\"13-01\", \"12-31\"]\n",
        );
        assert!(e.contains("`resident_window`"), "{e}");
        let e = error_of(
            "[[params]]\nregion = \"31\"\neffective_from = \"2021-01\"\nsubsidy_ratio.vip = 1.0\n",
        );
        assert!(
            e.contains("`subsidy_ratio.vip`: unknown special group"),
            "{e}"
        );
        // A missing national value leaves the parameter undefined: a load error.
        let e = RuleSet::parse(
            Path::new("r.toml"),
            "[[params]]\nregion = \"*\"\neffective_from = \"2020-01\"\nemployee_rate = 0.1\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("r.toml: ") && e.contains("key `flexible_rate` missing"),
            "{e}"
        );
        let e = error_of(
            "[[params]]\nregion = \"31\"\neffective_from = \"2021-01\"\nmax_amount = \"1.00\"\n",
        );
        assert!(
            e.contains("`max_amount`: a plausibility bound") && e.contains("only region \"*\""),
            "{e}"
        );
        let e = error_of(
            "[[params]]\nregion = \"*\"\neffective_from = \"2021-01\"\nmin_period = \"1990\"\n",
        );
        assert!(e.contains("`min_period`: expected \"YYYY-MM\""), "{e}");
        let bounds = load("").unwrap().params(370200, m("2025-06"));
        assert_eq!(
            (
                bounds.min_period,
                bounds.max_months_ahead,
                bounds.max_amount
            ),
            (m("1990-01"), 24, Fen(9_999_999_999))
        );
        let e = RuleSet::parse(Path::new("r.toml"), "x = 1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown top-level key `x`"), "{e}");
    }
}
