//! Small domain types shared by every stage: months, dates, money in fen, and the
//! enums whose string forms are exactly CONTRACT.md's codes.
//!
//! Dates are days since 1970-01-01 (the physical value of a Parquet/polars `Date`),
//! months are months since year 0 (`year * 12 + month - 1`). Both are plain integers
//! so the per-person engine works on contiguous slices with no allocation.

use std::fmt;

/// A calendar month `YYYY-MM`, stored as `year * 12 + (month - 1)` (RULES.md §1).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Month(pub i32);

impl Month {
    pub fn new(year: i32, month: u32) -> Month {
        Month(year * 12 + month as i32 - 1)
    }
    pub fn year(self) -> i32 {
        self.0.div_euclid(12)
    }
    /// 1-based month of the year.
    pub fn month(self) -> u32 {
        (self.0.rem_euclid(12) + 1) as u32
    }
    /// "Month `m + n`" is calendar arithmetic on months (RULES.md §1).
    pub fn plus(self, n: i32) -> Month {
        Month(self.0 + n)
    }
    pub fn first_day(self) -> Date {
        Date::from_ymd(self.year(), self.month(), 1)
    }
    pub fn last_day(self) -> Date {
        Date(self.plus(1).first_day().0 - 1)
    }
    /// The number of days of the month, 28 to 31 (proleptic Gregorian, as
    /// [`Date`]); the same as `last_day().ymd().2`, without the day arithmetic (it is
    /// asked for every date and ID birth date read).
    pub fn days(self) -> u32 {
        match self.month() {
            2 => {
                let y = self.year();
                if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) {
                    29
                } else {
                    28
                }
            }
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }
    /// January of `year`.
    pub fn january(year: i32) -> Month {
        Month::new(year, 1)
    }
    /// Parses `YYYY-MM` strictly (4-digit year, 2-digit month 01..12).
    pub fn parse(s: &str) -> Option<Month> {
        let b = s.as_bytes();
        if b.len() != 7 || b[4] != b'-' {
            return None;
        }
        let year = digits(&b[0..4])? as i32;
        let month = digits(&b[5..7])?;
        if !(1..=12).contains(&month) || year < 1 {
            return None;
        }
        Some(Month::new(year, month))
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year(), self.month())
    }
}

/// A calendar day, stored as days since 1970-01-01.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Date(pub i32);

impl Date {
    /// Days from civil (Howard Hinnant's algorithm); valid for the proleptic Gregorian calendar.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Date {
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = month as i32;
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i32 - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Date(era * 146_097 + doe - 719_468)
    }
    pub fn ymd(self) -> (i32, u32, u32) {
        let z = self.0 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let y = yoe + era * 400;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        (if m <= 2 { y + 1 } else { y }, m, d)
    }
    pub fn month(self) -> Month {
        let (y, m, _) = self.ymd();
        Month::new(y, m)
    }
    pub fn plus_days(self, n: i32) -> Date {
        Date(self.0 + n)
    }
    /// "Date `d + n months`" keeps the day number and clamps to the month's end
    /// (Jan 31 + 1 month = Feb 28/29), RULES.md §1.
    pub fn plus_months(self, n: i32) -> Date {
        let (y, m, d) = self.ymd();
        let target = Month::new(y, m).plus(n);
        Date::from_ymd(target.year(), target.month(), d.min(target.days()))
    }
    /// Days from `other` to `self` (positive when `self` is later).
    pub fn days_since(self, other: Date) -> i32 {
        self.0 - other.0
    }
    pub fn is_valid_ymd(year: i32, month: u32, day: u32) -> bool {
        if !(1..=12).contains(&month) || day == 0 || year < 1 {
            return false;
        }
        day <= Month::new(year, month).days()
    }
    /// Parses `YYYY-MM-DD` strictly; `None` for a malformed or impossible date.
    pub fn parse(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let y = digits(&b[0..4])? as i32;
        let m = digits(&b[5..7])?;
        let d = digits(&b[8..10])?;
        Date::is_valid_ymd(y, m, d).then(|| Date::from_ymd(y, m, d))
    }
    /// Parses `YYYYMMDD` (the birth date inside an ID number).
    pub fn parse_compact(b: &[u8]) -> Option<Date> {
        if b.len() != 8 {
            return None;
        }
        let y = digits(&b[0..4])? as i32;
        let m = digits(&b[4..6])?;
        let d = digits(&b[6..8])?;
        Date::is_valid_ymd(y, m, d).then(|| Date::from_ymd(y, m, d))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

/// Money in integer fen (1 yuan = 100 fen), RULES.md §7.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Fen(pub i64);

impl Fen {
    pub const ZERO: Fen = Fen(0);

    /// Parses a decimal yuan amount with at most two decimal places (`"800"`,
    /// `"800.5"`, `"800.00"`, `"-5.00"`). No exponent, no thousands separators.
    pub fn parse(s: &str) -> Option<Fen> {
        let s = s.trim();
        let (neg, body) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, f),
            None => (body, ""),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if frac.len() > 2
            || !int.bytes().all(|c| c.is_ascii_digit())
            || !frac.bytes().all(|c| c.is_ascii_digit())
        {
            return None;
        }
        // At most 15 significant integer digits: any such amount, times 100, fits
        // well inside `Fen::MAX`.
        let int = int.trim_start_matches('0');
        if int.len() > 15 {
            return None;
        }
        let mut v: i64 = 0;
        for c in int.bytes() {
            v = v * 10 + (c - b'0') as i64;
        }
        let mut f: i64 = 0;
        for (i, c) in frac.bytes().enumerate() {
            f += (c - b'0') as i64 * if i == 0 { 10 } else { 1 };
        }
        let fen = v * 100 + f;
        Some(Fen(if neg { -fen } else { fen }))
    }

    /// The largest amount a `DECIMAL(18,2)` column holds, 9999999999999999.99 yuan.
    /// Every sum and product of fen saturates at ±`MAX` (with inputs below the
    /// rule file's `max_amount` ceiling no real total comes near it), so no value can
    /// wrap around or fail the output.
    pub const MAX: Fen = Fen(999_999_999_999_999_999);

    /// `v` fen, saturated into `-MAX ..= MAX`.
    pub fn saturating(v: i128) -> Fen {
        Fen(v.clamp(-(Fen::MAX.0 as i128), Fen::MAX.0 as i128) as i64)
    }

    /// `self + other`, saturating at ±[`Fen::MAX`].
    pub fn plus(self, other: Fen) -> Fen {
        Fen::saturating(self.0 as i128 + other.0 as i128)
    }

    /// `self × n`, saturating at ±[`Fen::MAX`].
    pub fn times(self, n: i64) -> Fen {
        Fen::saturating(self.0 as i128 * n as i128)
    }

    /// The sum of `items`, saturating at ±[`Fen::MAX`].
    pub fn sum(items: impl IntoIterator<Item = Fen>) -> Fen {
        Fen::saturating(
            items
                .into_iter()
                .fold(0i128, |acc, f| acc.saturating_add(f.0 as i128)),
        )
    }

    /// `self × rate`, rounded half-up to the fen (RULES.md §3, §7), saturating.
    pub fn times_rate(self, rate: Rate) -> Fen {
        self.times_n_rate(1, rate)
    }

    /// `self × n × rate` computed exactly, rounded half-up to the fen, saturating.
    pub fn times_n_rate(self, n: i64, rate: Rate) -> Fen {
        Fen::saturating(round_half_up(
            self.0 as i128 * n as i128 * rate.0 as i128,
            Rate::SCALE as i128,
        ))
    }
}

impl fmt::Display for Fen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", a / 100, a % 100)
    }
}

/// Integer division of `num / den` rounded half away from zero (den > 0).
pub fn round_half_up(num: i128, den: i128) -> i128 {
    let q = num / den;
    let r = num % den;
    if 2 * r.abs() >= den {
        q + num.signum()
    } else {
        q
    }
}

/// An exact decimal rate or ratio, stored in billionths (0.10 = 100_000_000;
/// 0.0005 = 500_000). Rule files give rates as TOML floats; they are rounded to 9
/// places once, at load time, so the engine never computes with floats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Rate(pub i64);

impl Rate {
    pub const SCALE: i64 = 1_000_000_000;
    pub const ONE: Rate = Rate(Rate::SCALE);
    pub fn from_f64(v: f64) -> Rate {
        Rate((v * Rate::SCALE as f64).round() as i64)
    }
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / Rate::SCALE as f64
    }
}

/// An enum of CONTRACT.md codes: its values in declaration order and their text.
pub trait Code: Copy + 'static {
    const ALL: &'static [Self];
    fn code(self) -> &'static str;
    /// Position in [`Code::ALL`].
    fn index(self) -> usize;
}

macro_rules! code_enum {
    ($(#[$m:meta])* $name:ident { $($var:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[derive(serde::Serialize, serde::Deserialize)]
        pub enum $name { $($var),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$var),+];
            /// The exact code of CONTRACT.md.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$var => $s),+ }
            }
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($s => Some($name::$var),)+ _ => None }
            }
        }
        impl Code for $name {
            const ALL: &'static [$name] = $name::ALL;
            fn code(self) -> &'static str {
                self.as_str()
            }
            fn index(self) -> usize {
                self as usize
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

code_enum!(
    /// RULES.md §2.
    Scheme { Employee = "employee", Flexible = "flexible", Resident = "resident" }
);
code_enum!(
    /// CONTRACT.md §2.1.
    Payer { Employer = "employer", Individual = "individual", Government = "government", UnemploymentFund = "unemployment_fund" }
);
code_enum!(
    /// Benefit status of a month; declared from worst to best (RULES.md §2 ranking).
    Benefit { Suspended = "suspended", Waiting = "waiting", Reduced = "reduced", Restored = "restored", Active = "active" }
);
code_enum!(
    /// The reason of a month (CONTRACT.md §4, person_month).
    Reason {
        Paid = "PAID",
        FirstWait = "FIRST_WAIT",
        GapUnpaid = "GAP_UNPAID",
        GapBackpaid = "GAP_BACKPAID",
        ArrearsDue = "ARREARS_DUE",
        AwaitingResume = "AWAITING_RESUME",
        BreakWait = "BREAK_WAIT",
        PostBreakReduced = "POST_BREAK_REDUCED",
        ResidentCovered = "RESIDENT_COVERED",
        ResidentWait = "RESIDENT_WAIT",
        Newborn = "NEWBORN",
        SpecialGroupExempt = "SPECIAL_GROUP_EXEMPT",
        NotEnrolled = "NOT_ENROLLED",
    }
);
code_enum!(
    /// State of a gap (RULES.md §4).
    GapState { Bridged = "bridged", Pending = "pending", Break = "break" }
);
code_enum!(
    /// Kind of a gap row (CONTRACT.md §4, gaps).
    GapKind { Employee = "employee", Resident = "resident" }
);
code_enum!(
    /// Special groups in priority order (RULES.md §6).
    SpecialGroup {
        Tekun = "tekun",
        Orphan = "orphan",
        Dibao = "dibao",
        DisabledSevere = "disabled_severe",
        RescuedPoor = "rescued_poor",
        LowIncome = "low_income",
    }
);
code_enum!(
    /// Finding codes (RULES.md §6, CONTRACT.md §4).
    FindingCode {
        SubsidyWithoutStatus = "SUBSIDY_WITHOUT_STATUS",
        StatusWithoutSubsidy = "STATUS_WITHOUT_SUBSIDY",
        SubsidyMismatch = "SUBSIDY_MISMATCH",
        Underpaid = "UNDERPAID",
        StatusGap = "STATUS_GAP",
    }
);
code_enum!(
    /// Reject error types (CONTRACT.md §4).
    RejectType {
        BadPersonId = "BAD_PERSON_ID",
        BadPeriod = "BAD_PERIOD",
        BadDate = "BAD_DATE",
        BadAmount = "BAD_AMOUNT",
        BadEnum = "BAD_ENUM",
        MissingValue = "MISSING_VALUE",
        DuplicateRow = "DUPLICATE_ROW",
        BadRegion = "BAD_REGION",
        BadResidentPeriod = "BAD_RESIDENT_PERIOD",
        ParseError = "PARSE_ERROR",
    }
);
code_enum!(
    /// Gender from the ID sequence number (RULES.md §8).
    Gender { Male = "M", Female = "F" }
);

/// Text encoding of CSV inputs (CONTRACT.md §2.1, `[inputs].encoding`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Encoding {
    #[default]
    Utf8,
    Gbk,
    Gb18030,
}

impl Encoding {
    pub fn parse(s: &str) -> Option<Encoding> {
        match s.to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Some(Encoding::Utf8),
            "gbk" => Some(Encoding::Gbk),
            "gb18030" => Some(Encoding::Gb18030),
            _ => None,
        }
    }
}

impl Scheme {
    pub fn is_employee_family(self) -> bool {
        !matches!(self, Scheme::Resident)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_arithmetic_and_format() {
        let m = Month::parse("2025-11").unwrap();
        assert_eq!(m.plus(2).to_string(), "2026-01");
        assert_eq!(m.plus(-11).to_string(), "2024-12");
        assert_eq!(Month::parse("2025-13"), None);
        assert_eq!(Month::parse("2025-00"), None);
        assert_eq!(Month::parse("2025-1"), None);
        assert_eq!(Month::new(2024, 2).last_day().to_string(), "2024-02-29");
        assert_eq!(Month::new(2025, 2).last_day().to_string(), "2025-02-28");
        assert_eq!(Month::new(2025, 12).last_day().to_string(), "2025-12-31");
    }

    #[test]
    fn days_of_a_month_are_its_last_day() {
        for m in Month::new(-401, 1).0..=Month::new(10_000, 12).0 {
            let m = Month(m);
            assert_eq!(m.days(), m.last_day().ymd().2, "{m:?}");
        }
        assert_eq!(Month::new(2000, 2).days(), 29);
        assert_eq!(Month::new(1900, 2).days(), 28);
        assert_eq!(Month::new(2024, 2).days(), 29);
        assert_eq!(Month::new(2025, 4).days(), 30);
        assert!(Date::is_valid_ymd(2024, 2, 29) && !Date::is_valid_ymd(2023, 2, 29));
        assert!(!Date::is_valid_ymd(1900, 2, 29) && Date::is_valid_ymd(2000, 2, 29));
        assert!(!Date::is_valid_ymd(2025, 4, 31) && Date::is_valid_ymd(2025, 12, 31));
    }

    #[test]
    fn date_round_trip_and_epoch() {
        assert_eq!(Date::from_ymd(1970, 1, 1).0, 0);
        assert_eq!(Date::from_ymd(2025, 6, 16).to_string(), "2025-06-16");
        for d in -800_000..80_000 {
            let (y, m, dd) = Date(d).ymd();
            assert_eq!(Date::from_ymd(y, m, dd), Date(d));
        }
        assert_eq!(Date::parse("2025-02-30"), None);
        assert_eq!(Date::parse("2024-02-29").unwrap().to_string(), "2024-02-29");
        assert_eq!(Date::parse("2025-2-03"), None);
    }

    #[test]
    fn date_plus_months_clamps_to_month_end() {
        let d = Date::parse("2025-01-31").unwrap();
        assert_eq!(d.plus_months(1).to_string(), "2025-02-28");
        assert_eq!(
            Date::parse("2024-01-31")
                .unwrap()
                .plus_months(1)
                .to_string(),
            "2024-02-29"
        );
        assert_eq!(
            Date::parse("2026-03-10")
                .unwrap()
                .plus_months(3)
                .to_string(),
            "2026-06-10"
        );
        assert_eq!(
            Date::parse("2025-11-30")
                .unwrap()
                .plus_months(3)
                .to_string(),
            "2026-02-28"
        );
    }

    #[test]
    fn fen_parse_and_rounding() {
        assert_eq!(Fen::parse("800.00"), Some(Fen(80_000)));
        assert_eq!(Fen::parse("800.5"), Some(Fen(80_050)));
        assert_eq!(Fen::parse("800"), Some(Fen(80_000)));
        assert_eq!(Fen::parse(".5"), Some(Fen(50)));
        assert_eq!(Fen::parse("-5.00"), Some(Fen(-500)));
        assert_eq!(Fen::parse("1.234"), None);
        assert_eq!(Fen::parse("1e3"), None);
        assert_eq!(Fen::parse(""), None);
        assert_eq!(Fen::parse("."), None);
        assert_eq!(Fen(13_171_200).to_string(), "131712.00");
        assert_eq!(Fen(-5).to_string(), "-0.05");
        // 8000.00 × 0.10 = 800.00; 333.35 × 0.10 = 33.335 → 33.34 (half-up)
        assert_eq!(Fen(800_000).times_rate(Rate::from_f64(0.10)), Fen(80_000));
        assert_eq!(Fen(33_335).times_rate(Rate::from_f64(0.10)), Fen(3_334));
        // Sums and products saturate at the DECIMAL(18,2) maximum instead of wrapping.
        let big = Fen::parse("999999999999999.99").unwrap();
        assert_eq!(big.times(300), Fen::MAX);
        assert_eq!(big.times(-300), Fen(-Fen::MAX.0));
        assert_eq!(Fen::sum(vec![big; 100]), Fen::MAX);
        assert_eq!(Fen::MAX.plus(Fen(1)), Fen::MAX);
        assert_eq!(Fen(i64::MAX).times_rate(Rate::ONE), Fen::MAX);
        assert_eq!(big.times_n_rate(2, Rate::from_f64(0.5)), big);
        assert_eq!(Fen::sum([Fen(5), Fen(-2)]), Fen(3));
        assert_eq!(Fen::MAX.to_string(), "9999999999999999.99");
        assert_eq!(round_half_up(-25, 10), -3);
    }

    #[test]
    fn codes_round_trip() {
        for r in Reason::ALL {
            assert_eq!(Reason::parse(r.as_str()), Some(*r));
        }
        assert_eq!(
            Payer::parse("unemployment_fund"),
            Some(Payer::UnemploymentFund)
        );
        assert_eq!(Scheme::parse("worker"), None);
        assert!(Benefit::Active > Benefit::Restored && Benefit::Waiting > Benefit::Suspended);
    }
}
