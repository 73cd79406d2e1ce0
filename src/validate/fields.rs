//! One field of a row: its text, the faults it can have and their messages.

use super::MAX_SHOWN_CHARS;
use crate::domain::{Date, Fen, Month, RejectType};
use crate::id::PersonId;

/// One field of a row: the column is absent from the file, its trimmed text (empty
/// for an empty or null value), or a typed Parquet value decoded without text
/// ([`super::typed`]). A typed value is always one the check of its text accepts, with
/// the same result; a row that fails with a typed value is checked again as text, so
/// every reject message quotes the text (see [`super::file`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Field<'a> {
    Absent,
    Value(&'a str),
    Date(Date),
    Month(Month),
    Fen(Fen),
    /// A fixed-width digit code (`region`, `year`).
    Code(u32),
}

impl<'a> Field<'a> {
    /// The text of a text field (`""` for an absent or typed one).
    pub(super) fn text(self) -> &'a str {
        match self {
            Field::Value(s) => s,
            _ => "",
        }
    }
}

/// Why a row is rejected.
#[derive(Debug, PartialEq)]
pub(super) struct Fault {
    pub(super) column: &'static str,
    pub(super) kind: RejectType,
    pub(super) message: String,
}

pub(super) fn fault(column: &'static str, kind: RejectType, message: String) -> Fault {
    Fault {
        column,
        kind,
        message,
    }
}

/// A reject before its file name is attached.
#[derive(Debug)]
pub(super) struct Rej {
    pub(super) file: u32,
    pub(super) line: u32,
    pub(super) column: Option<&'static str>,
    pub(super) kind: RejectType,
    pub(super) message: String,
    pub(super) raw: String,
}

/// A value for a message: quoted and escaped, long values cut.
pub(super) fn show(s: &str) -> String {
    match s.char_indices().nth(MAX_SHOWN_CHARS) {
        Some((cut, _)) => format!("{:?}…", &s[..cut]),
        None => format!("{s:?}"),
    }
}

pub(super) fn missing_column(column: &'static str) -> Fault {
    fault(
        column,
        RejectType::MissingValue,
        format!("column {column} is missing from the file"),
    )
}

/// `MISSING_VALUE` when a required field is absent or empty.
pub(super) fn missing(column: &'static str, f: Field) -> Option<Fault> {
    match f {
        Field::Absent => Some(missing_column(column)),
        Field::Value("") => Some(fault(
            column,
            RejectType::MissingValue,
            format!("{column} is empty"),
        )),
        _ => None,
    }
}

pub(super) fn first_missing(fields: &[(&'static str, Field)]) -> Result<(), Fault> {
    match fields.iter().find_map(|&(c, f)| missing(c, f)) {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

pub(super) fn person(s: &str) -> Result<PersonId, Fault> {
    PersonId::parse(s).map_err(|e| {
        fault(
            "person_id",
            RejectType::BadPersonId,
            format!("person_id {}: {}", show(s), e.message()),
        )
    })
}

pub(super) fn date(column: &'static str, s: &str) -> Result<Date, Fault> {
    Date::parse(s).ok_or_else(|| {
        fault(
            column,
            RejectType::BadDate,
            format!("{column} {} is not a valid YYYY-MM-DD date", show(s)),
        )
    })
}

pub(super) fn optional_date(column: &'static str, s: &str) -> Result<Option<Date>, Fault> {
    if s.is_empty() {
        Ok(None)
    } else {
        date(column, s).map(Some)
    }
}

/// [`money`] of a field.
pub(super) fn money_of(column: &'static str, f: Field, positive: bool) -> Result<Fen, Fault> {
    match f {
        Field::Fen(v) => Ok(v),
        f => money(column, f.text(), positive),
    }
}

/// [`date`] of a field.
pub(super) fn date_of(column: &'static str, f: Field) -> Result<Date, Fault> {
    match f {
        Field::Date(d) => Ok(d),
        f => date(column, f.text()),
    }
}

/// [`optional_date`] of a field.
pub(super) fn optional_date_of(column: &'static str, f: Field) -> Result<Option<Date>, Fault> {
    match f {
        Field::Date(d) => Ok(Some(d)),
        f => optional_date(column, f.text()),
    }
}

/// [`all_digits`] of a field.
pub(super) fn digits_of(f: Field, len: usize) -> Option<u32> {
    match f {
        Field::Code(v) => Some(v),
        f => all_digits(f.text(), len),
    }
}

/// A decimal with at most 2 places, greater than 0 (`positive`) or at least 0.
pub(super) fn money(column: &'static str, s: &str, positive: bool) -> Result<Fen, Fault> {
    let bad = |what: &str| {
        fault(
            column,
            RejectType::BadAmount,
            format!("{column} {} {what}", show(s)),
        )
    };
    let v = Fen::parse(s).ok_or_else(|| bad(&money_problem(s)))?;
    if positive && v.0 <= 0 {
        Err(bad("must be greater than 0"))
    } else if v.0 < 0 {
        Err(bad("must not be negative"))
    } else {
        Ok(v)
    }
}

/// What is wrong with a text that [`Fen::parse`] refused.
pub(super) fn money_problem(s: &str) -> String {
    let body = s.trim().trim_start_matches(['-', '+']);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits = |t: &str| t.bytes().all(|c| c.is_ascii_digit());
    if body.is_empty() || body == "." || !digits(int) || !digits(frac) {
        "is not a decimal number".to_string()
    } else if frac.len() > 2 {
        format!("has {} decimal places, at most 2 are allowed", frac.len())
    } else {
        let int = int.trim_start_matches('0');
        format!(
            "has {} integer digits: too many digits, above the ceiling max_amount of the rule file",
            int.len()
        )
    }
}

pub(super) fn codes<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> String {
    all.iter().map(|&v| name(v)).collect::<Vec<_>>().join(", ")
}

pub(super) fn bad_enum(column: &'static str, s: &str, allowed: String) -> Fault {
    fault(
        column,
        RejectType::BadEnum,
        format!("{column} {} is not one of {allowed}", show(s)),
    )
}

pub(super) fn all_digits(s: &str, len: usize) -> Option<u32> {
    let b = s.as_bytes();
    if b.len() != len || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |v, &c| v * 10 + (c - b'0') as u32))
}
