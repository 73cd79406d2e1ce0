//! The checks of one row of each input kind (CONTRACT.md §2.1–§2.3, §4).

use super::dedup::{TEXT_SEED, hash_bytes};
use super::fields::*;
use crate::domain::{Date, Fen, Month, Payer, RejectType, Scheme, SpecialGroup};
use crate::id::PersonId;

/// A ledger row that passed the field checks.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct LedgerValue {
    pub(super) person: PersonId,
    pub(super) period: Month,
    pub(super) scheme: Scheme,
    pub(super) payer: Payer,
    pub(super) amount: Fen,
    pub(super) base: Option<Fen>,
    pub(super) paid_on: Option<Date>,
    pub(super) region: u32,
    /// Hash of `employer_id` and `txn_id`, for the duplicate check.
    pub(super) text: u64,
}

/// CONTRACT.md §2.1 and §4: one fault per row, `MISSING_VALUE` first.
pub(super) fn check_ledger(f: &[Field]) -> Result<LedgerValue, Fault> {
    let [
        person_id,
        period,
        scheme,
        payer,
        amount,
        base,
        paid_on,
        region,
        employer_id,
        txn_id,
    ] = ledger_fields(f);
    first_missing(&[
        ("person_id", person_id),
        ("period", period),
        ("scheme", scheme),
        ("payer", payer),
        ("amount", amount),
    ])?;
    let scheme_value = Scheme::parse(scheme.text());
    if scheme_value.is_some_and(Scheme::is_employee_family) {
        match base {
            Field::Absent => return Err(missing_column("base")),
            Field::Value("") => {
                return Err(fault(
                    "base",
                    RejectType::MissingValue,
                    format!(
                        "base is empty but required for scheme {}",
                        show(scheme.text())
                    ),
                ));
            }
            _ => {}
        }
    }
    if paid_on == Field::Absent {
        return Err(missing_column("paid_on"));
    }
    first_missing(&[("region", region)])?;

    let person = person(person_id.text())?;
    let period_text = period.text();
    let period = match period {
        Field::Month(m) => Some(m),
        f => Month::parse(f.text()),
    };
    let period = period.ok_or_else(|| {
        fault(
            "period",
            RejectType::BadPeriod,
            format!("period {} is not a valid YYYY-MM month", show(period_text)),
        )
    })?;
    if scheme_value == Some(Scheme::Resident) && period.month() != 1 {
        return Err(fault(
            "period",
            RejectType::BadResidentPeriod,
            format!(
                "period {} of a resident row must be January (YYYY-01)",
                show(period_text)
            ),
        ));
    }
    let scheme = scheme_value
        .ok_or_else(|| bad_enum("scheme", scheme.text(), codes(Scheme::ALL, Scheme::as_str)))?;
    let payer = Payer::parse(payer.text())
        .ok_or_else(|| bad_enum("payer", payer.text(), codes(Payer::ALL, Payer::as_str)))?;
    let amount = money_of("amount", amount, true)?;
    // A resident row's base is checked when given but not kept (LedgerRows::base).
    let base = match base {
        Field::Absent | Field::Value("") => None,
        f => Some(money_of("base", f, false)?).filter(|_| scheme.is_employee_family()),
    };
    let paid_on = optional_date_of("paid_on", paid_on)?;
    let region_text = region.text();
    let region = digits_of(region, 6).ok_or_else(|| {
        fault(
            "region",
            RejectType::BadRegion,
            format!(
                "region {} is not a 6-digit division code",
                show(region_text)
            ),
        )
    })?;
    // Province codes (the first two digits, GB/T 2260) start at 11: `000000` or
    // `001234` would silently take the national rules.
    if region < 10_000 {
        return Err(fault(
            "region",
            RejectType::BadRegion,
            format!(
                "region {} starts with 00, which names no province (GB/T 2260)",
                show(region_text)
            ),
        ));
    }
    let text = hash_bytes(
        hash_bytes(TEXT_SEED, employer_id.text().as_bytes()),
        txn_id.text().as_bytes(),
    );
    Ok(LedgerValue {
        person,
        period,
        scheme,
        payer,
        amount,
        base,
        paid_on,
        region,
        text,
    })
}

pub(super) fn ledger_fields<'a>(f: &[Field<'a>]) -> [Field<'a>; 10] {
    std::array::from_fn(|i| f.get(i).copied().unwrap_or(Field::Absent))
}

/// A registry row that passed the field checks (CONTRACT.md §2.2).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct RegistryValue {
    pub(super) person: PersonId,
    pub(super) group: SpecialGroup,
    pub(super) valid_from: Date,
    pub(super) valid_to: Option<Date>,
}

pub(super) fn check_registry(f: &[Field]) -> Result<RegistryValue, Fault> {
    let get = |i: usize| f.get(i).copied().unwrap_or(Field::Absent);
    let (person_id, group, valid_from, valid_to) = (get(0), get(1), get(2), get(3));
    first_missing(&[
        ("person_id", person_id),
        ("group", group),
        ("valid_from", valid_from),
    ])?;
    let person = person(person_id.text())?;
    let group = SpecialGroup::parse(group.text()).ok_or_else(|| {
        bad_enum(
            "group",
            group.text(),
            codes(SpecialGroup::ALL, SpecialGroup::as_str),
        )
    })?;
    let from = date_of("valid_from", valid_from)?;
    let to = optional_date_of("valid_to", valid_to)?;
    if let Some(to) = to
        && to < from
    {
        return Err(fault(
            "valid_to",
            RejectType::BadDate,
            format!(
                "valid_to {} is before valid_from {}",
                show(valid_to.text()),
                show(valid_from.text())
            ),
        ));
    }
    Ok(RegistryValue {
        person,
        group,
        valid_from: from,
        valid_to: to,
    })
}

/// A claims row that passed the field checks (CONTRACT.md §2.3).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct ClaimValue {
    pub(super) person: PersonId,
    pub(super) year: i32,
    pub(super) fund_paid: Fen,
}

pub(super) fn check_claim(f: &[Field]) -> Result<ClaimValue, Fault> {
    let get = |i: usize| f.get(i).copied().unwrap_or(Field::Absent);
    let (person_id, year, fund_paid) = (get(0), get(1), get(2));
    first_missing(&[
        ("person_id", person_id),
        ("year", year),
        ("fund_paid", fund_paid),
    ])?;
    let person = person(person_id.text())?;
    let year = digits_of(year, 4).filter(|&y| y > 0).ok_or_else(|| {
        fault(
            "year",
            RejectType::BadPeriod,
            format!("year {} is not a 4-digit year", show(year.text())),
        )
    })? as i32;
    let fund_paid = money_of("fund_paid", fund_paid, false)?;
    Ok(ClaimValue {
        person,
        year,
        fund_paid,
    })
}
