//! Person ID numbers (居民身份证号码, GB 11643-1999), RULES.md §8.
//!
//! A valid ID becomes a [`PersonId`]: the 17 leading digits times 11 plus the check
//! value (`X` = 10) in one `u64`. Integer order equals the order of the normalised
//! 18-character strings, so sorting keys sorts `person_key` for non-pseudonymised runs.

use crate::domain::{Date, Gender};
use std::fmt;

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check value for `sum mod 11`; 10 stands for `X`.
const CHECK: [u8; 11] = [1, 0, 10, 9, 8, 7, 6, 5, 4, 3, 2];

/// (`Default`, 0, is no valid ID: it only stands in for the person of a stored row
/// of the carry-forward state until its record fills it in.)
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
pub struct PersonId(pub u64);

/// Why an ID was rejected (the message of a `BAD_PERSON_ID` reject).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdError {
    Length,
    NotDigits,
    BirthDate,
    CheckCharacter,
    /// The region code (first 6 digits) starts with `00`: no province has that code.
    Region,
}

impl IdError {
    pub fn message(self) -> &'static str {
        match self {
            IdError::Length => "ID number must have 18 characters",
            IdError::NotDigits => "ID number must be 17 digits followed by a digit or X",
            IdError::BirthDate => "ID number holds an impossible birth date",
            IdError::CheckCharacter => "ID number check character does not match (GB 11643)",
            IdError::Region => {
                "ID number's region code starts with 00, which names no province (GB/T 2260)"
            }
        }
    }
}

/// The 18-character ID of division `id_region`, born on `birth`, with sequence number
/// `seq` (0–999) and its check character: how `generate` and the tests make IDs.
pub fn compose(id_region: u32, birth: Date, seq: u32) -> String {
    let (y, m, d) = birth.ymd();
    let mut s = format!("{id_region:06}{y:04}{m:02}{d:02}{seq:03}");
    let sum: u32 = s
        .bytes()
        .zip(WEIGHTS)
        .map(|(c, w)| (c - b'0') as u32 * w)
        .sum();
    s.push(match CHECK[(sum % 11) as usize] {
        10 => 'X',
        v => char::from(b'0' + v),
    });
    s
}

impl PersonId {
    /// Parses and checks an ID (lower-case `x` accepted and normalised).
    pub fn parse(s: &str) -> Result<PersonId, IdError> {
        let b = s.as_bytes();
        if b.len() != 18 {
            return Err(IdError::Length);
        }
        let mut body: u64 = 0;
        let mut sum: u32 = 0;
        for (i, &c) in b[..17].iter().enumerate() {
            if !c.is_ascii_digit() {
                return Err(IdError::NotDigits);
            }
            let d = (c - b'0') as u32;
            body = body * 10 + d as u64;
            sum += d * WEIGHTS[i];
        }
        let check = match b[17] {
            c @ b'0'..=b'9' => c - b'0',
            b'X' | b'x' => 10,
            _ => return Err(IdError::NotDigits),
        };
        if Date::parse_compact(&b[6..14]).is_none() {
            return Err(IdError::BirthDate);
        }
        if CHECK[(sum % 11) as usize] != check {
            return Err(IdError::CheckCharacter);
        }
        if b.starts_with(b"00") {
            return Err(IdError::Region);
        }
        Ok(PersonId(body * 11 + check as u64))
    }

    pub(crate) fn body(self) -> u64 {
        self.0 / 11
    }

    /// The 6-digit region of the ID (issuing place, not necessarily the insuring region).
    pub fn id_region(self) -> u32 {
        (self.body() / 100_000_000_000) as u32
    }

    pub fn birth_date(self) -> Date {
        let ymd = (self.body() / 1000) % 100_000_000;
        let (y, m, d) = (
            (ymd / 10_000) as i32,
            ((ymd / 100) % 100) as u32,
            (ymd % 100) as u32,
        );
        Date::from_ymd(y, m, d)
    }

    /// Odd sequence number = male, even = female.
    pub fn gender(self) -> Gender {
        if (self.body() % 1000) % 2 == 1 {
            Gender::Male
        } else {
            Gender::Female
        }
    }
}

impl fmt::Display for PersonId {
    /// The normalised 18-character ID (upper-case `X`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let check = (self.0 % 11) as u8;
        let c = if check == 10 {
            'X'
        } else {
            (b'0' + check) as char
        };
        write!(f, "{:017}{c}", self.body())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ids_from_the_scenarios() {
        let p = PersonId::parse("370202198503120113").unwrap();
        assert_eq!(p.to_string(), "370202198503120113");
        assert_eq!(p.birth_date().to_string(), "1985-03-12");
        assert_eq!(p.gender(), Gender::Male);
        assert_eq!(p.id_region(), 370202);
        let q = PersonId::parse("370202199007010227").unwrap();
        assert_eq!(q.gender(), Gender::Female);
        assert_eq!(q.birth_date().to_string(), "1990-07-01");
    }

    #[test]
    fn check_character_x_and_lower_case() {
        // 11010519491231002X is the standard's own example.
        let p = PersonId::parse("11010519491231002x").unwrap();
        assert_eq!(p.to_string(), "11010519491231002X");
        assert_eq!(p.gender(), Gender::Female);
        assert!(PersonId::parse("110105194912310021").is_err());
    }

    #[test]
    fn rejects_bad_ids() {
        assert_eq!(
            PersonId::parse("370202198503120114"),
            Err(IdError::CheckCharacter)
        );
        assert_eq!(
            PersonId::parse("37020219850312011x"),
            Err(IdError::CheckCharacter)
        );
        assert_eq!(PersonId::parse("37020219850312011"), Err(IdError::Length));
        assert_eq!(
            PersonId::parse("3702021985031201a3"),
            Err(IdError::NotDigits)
        );
        assert_eq!(
            PersonId::parse("370202198502300113"),
            Err(IdError::BirthDate)
        );
        assert_eq!(PersonId::parse("37020219850312011３"), Err(IdError::Length));
        // A correct check character does not make region 000000 a place.
        assert_eq!(
            compose(0, Date::from_ymd(1985, 3, 12), 11),
            "000000198503120116"
        );
        assert_eq!(PersonId::parse("000000198503120116"), Err(IdError::Region));
        assert!(PersonId::parse(&compose(110_000, Date::from_ymd(1985, 3, 12), 11)).is_ok());
    }

    #[test]
    fn key_order_is_string_order() {
        let a = PersonId::parse("11010519491231002X").unwrap();
        let b = PersonId::parse("370202198503120113").unwrap();
        assert!(a < b);
        assert!(a.to_string() < b.to_string());
    }
}
