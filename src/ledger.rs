//! Accepted input rows in columnar form: the hand-off from `validate` to `engine`.
//!
//! Rows are kept in *input order* (files sorted by path, then line), which is the
//! tie-breaker of RULES.md §3 ("ties: input order"). `file` indexes
//! [`Inputs::files`]; `line` is the 1-based line (CSV, header = line 1) or Parquet
//! row index + 1, so `explain` can point at the row behind every month.

use crate::domain::{Date, Fen, Month, Payer, RejectType, Scheme, SpecialGroup};
use crate::id::PersonId;

/// Ledger columns in CONTRACT.md §2.1 order (the order faults are looked for).
pub const LEDGER_COLUMNS: [&str; 10] = [
    "person_id",
    "period",
    "scheme",
    "payer",
    "amount",
    "base",
    "paid_on",
    "region",
    "employer_id",
    "txn_id",
];

/// What kind of input a file is.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum InputKind {
    Ledger,
    SpecialGroups,
    Claims,
}

impl InputKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InputKind::Ledger => "ledger",
            InputKind::SpecialGroups => "special_groups",
            InputKind::Claims => "claims",
        }
    }
}

/// One input file and its counts (the manifest's per-file entry).
#[derive(Clone, Debug)]
pub struct InputFile {
    pub kind: InputKind,
    /// Path as found (relative paths are resolved against the pipeline file's folder).
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
    pub rows_read: u64,
    pub rows_accepted: u64,
    pub rows_rejected: u64,
    /// Columns present in the file that the contract does not name (ignored).
    pub unknown_columns: Vec<String>,
}

/// Accepted ledger rows (CONTRACT.md §2.1), one entry per row in every vector.
#[derive(Clone, Debug, Default)]
pub struct LedgerRows {
    pub person: Vec<PersonId>,
    pub period: Vec<Month>,
    pub scheme: Vec<Scheme>,
    pub payer: Vec<Payer>,
    pub amount: Vec<Fen>,
    /// Required for employee/flexible rows, `None` for resident rows.
    pub base: Vec<Option<Fen>>,
    /// `None` = a declaration (应缴未缴), RULES.md §3.
    pub paid_on: Vec<Option<Date>>,
    /// 6-digit division code.
    pub region: Vec<u32>,
    pub file: Vec<u32>,
    pub line: Vec<u32>,
}

impl LedgerRows {
    pub fn len(&self) -> usize {
        self.person.len()
    }
    pub fn is_empty(&self) -> bool {
        self.person.is_empty()
    }
}

/// Accepted special-group registry rows (CONTRACT.md §2.2).
#[derive(Clone, Debug, Default)]
pub struct RegistryRows {
    pub person: Vec<PersonId>,
    pub group: Vec<SpecialGroup>,
    pub valid_from: Vec<Date>,
    /// `None` = open interval.
    pub valid_to: Vec<Option<Date>>,
    pub file: Vec<u32>,
    pub line: Vec<u32>,
}

/// Accepted claims rows (CONTRACT.md §2.3), for the zero-claim incentive.
#[derive(Clone, Debug, Default)]
pub struct ClaimRows {
    pub person: Vec<PersonId>,
    pub year: Vec<i32>,
    pub fund_paid: Vec<Fen>,
    pub file: Vec<u32>,
}

impl LedgerRows {
    /// The rows of the people `keep` selects, in the same order.
    pub fn filtered(&self, keep: impl Fn(PersonId) -> bool) -> LedgerRows {
        let mut out = LedgerRows::default();
        for i in (0..self.len()).filter(|&i| keep(self.person[i])) {
            out.person.push(self.person[i]);
            out.period.push(self.period[i]);
            out.scheme.push(self.scheme[i]);
            out.payer.push(self.payer[i]);
            out.amount.push(self.amount[i]);
            out.base.push(self.base[i]);
            out.paid_on.push(self.paid_on[i]);
            out.region.push(self.region[i]);
            out.file.push(self.file[i]);
            out.line.push(self.line[i]);
        }
        out
    }
}

impl RegistryRows {
    /// The rows of the people `keep` selects, in the same order.
    pub fn filtered(&self, keep: impl Fn(PersonId) -> bool) -> RegistryRows {
        let mut out = RegistryRows::default();
        for i in (0..self.person.len()).filter(|&i| keep(self.person[i])) {
            out.person.push(self.person[i]);
            out.group.push(self.group[i]);
            out.valid_from.push(self.valid_from[i]);
            out.valid_to.push(self.valid_to[i]);
            out.file.push(self.file[i]);
            out.line.push(self.line[i]);
        }
        out
    }
}

impl ClaimRows {
    /// The rows of the people `keep` selects, in the same order.
    pub fn filtered(&self, keep: impl Fn(PersonId) -> bool) -> ClaimRows {
        let mut out = ClaimRows::default();
        for i in (0..self.person.len()).filter(|&i| keep(self.person[i])) {
            out.person.push(self.person[i]);
            out.year.push(self.year[i]);
            out.fund_paid.push(self.fund_paid[i]);
            out.file.push(self.file[i]);
        }
        out
    }
}

/// One rejected input row (CONTRACT.md §4 `rejects`).
#[derive(Clone, Debug, PartialEq)]
pub struct Reject {
    pub source_file: String,
    pub line: u64,
    /// The offending column; `None` for whole-row faults (duplicates, parse errors).
    pub column: Option<String>,
    pub error_type: RejectType,
    pub message: String,
    /// The row as read, fields joined with `,` (CSV: the line's text).
    pub raw: String,
}

/// Everything read and validated from a pipeline's inputs, independent of `as_of`.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// Sorted by (kind, path): the deterministic input order.
    pub files: Vec<InputFile>,
    pub ledger: LedgerRows,
    pub registry: RegistryRows,
    pub claims: ClaimRows,
    /// In input order (file, line).
    pub rejects: Vec<Reject>,
}
