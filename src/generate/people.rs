//! The people of `generate`: unique identities and the lives of employees, flexible
//! workers and residents (their contribution rows).

use super::ledger::*;
use super::rng::*;
use super::*;
// ---------------------------------------------------------------------------
// Identities
// ---------------------------------------------------------------------------

/// A fresh valid ID (unique within the run) for someone born on `birth`.
pub(super) fn unique_id(
    rng: &mut Rng,
    city: &[u32],
    birth: Date,
    used: &mut HashSet<u64>,
) -> String {
    loop {
        let region = if rng.chance(0.75) {
            *rng.pick(city)
        } else {
            *rng.pick(&ORIGINS)
        };
        let seq = rng.below(1000) as u32;
        let id = crate::id::compose(region, birth, seq);
        if let Ok(p) = PersonId::parse(&id)
            && used.insert(p.0)
        {
            return id;
        }
    }
}

// ---------------------------------------------------------------------------
// People
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Employee,
    Flexible,
    Resident,
}

pub(super) fn birth_between(rng: &mut Rng, from_year: i32, to_year: i32) -> Date {
    let lo = Date::from_ymd(from_year, 1, 1).0;
    let hi = Date::from_ymd(to_year, 12, 31).0;
    Date(rng.range(lo as i64, hi as i64) as i32)
}

/// Registry entries: ≈3 % of people, more among residents.
pub(super) fn special_groups(
    rng: &mut Rng,
    kind: Kind,
    span: &Span,
    birth: Date,
) -> Vec<(SpecialGroup, Date, Option<Date>)> {
    let p = if kind == Kind::Resident { 0.2 } else { 0.01 };
    if !rng.chance(p) {
        return Vec::new();
    }
    let n = if rng.chance(0.1) { 2 } else { 1 };
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut g = *rng.pick(SpecialGroup::ALL);
        let lo = span.start.plus(-36).first_day().0.max(birth.0);
        let hi = span.end_day().0.max(lo);
        let from = Date(rng.range(lo as i64, hi as i64) as i32);
        let to = if rng.chance(0.3) {
            let t = from.plus_months(rng.range(6, 30) as i32);
            (t <= span.end_day()).then_some(t)
        } else {
            None
        };
        if g == SpecialGroup::Orphan && from.days_since(birth) > 18 * 365 {
            // Orphan status ends at 18: adults get another group.
            g = SpecialGroup::Dibao;
        }
        out.push((g, from, to));
    }
    out
}

/// Employee or flexible history (RULES.md §3–4 situations).
pub(super) fn employee_family(rng: &mut Rng, p: &mut Person, span: &Span, flexible_first: bool) {
    let n = span.n();
    let first = if rng.chance(0.8) {
        0
    } else {
        rng.range(1, (n - 1).max(1) as i64) as i32
    };
    let last = if rng.chance(0.1) {
        rng.range(first as i64, (n - 1) as i64) as i32
    } else {
        n - 1
    };
    let mut flexible = flexible_first;
    let mut employer = employer_id(rng, p.region);
    let mut base = if flexible {
        random_base(rng, 4000, 15000)
    } else {
        random_base(rng, 3000, 30000)
    };
    let mut k = first;
    while k <= last {
        let m = span.start.plus(k);
        if m.month() == 1 && k > first {
            // Yearly base adjustment.
            base = Fen(base.0 + base.0 * rng.range(0, 8) / 100);
        }
        let scheme = if flexible {
            Scheme::Flexible
        } else {
            Scheme::Employee
        };
        let mut amount = base.times_rate(contribution_rate(scheme, m));
        if anomaly_roll(p.rows.len() as u64, m.0 as u64 * 7 + base.0 as u64) == 0
            && anomaly_roll(base.0 as u64, m.0 as u64) < 10
            && k > first
        {
            // A month paid one yuan short and never topped up (UNDERPAID, RULES.md §3).
            amount = Fen(amount.0 - 100);
        }
        if !flexible {
            if rng.chance(0.01) {
                // Job change: leave, maybe a gap (or unemployment-fund months), new job.
                let gap = match rng.below(10) {
                    0..=4 => 0,
                    5..=7 => rng.range(1, 2) as i32,
                    _ => rng.range(3, 6) as i32,
                };
                if gap > 0 && rng.chance(0.15) {
                    for j in 0..gap {
                        let mm = m.plus(j);
                        let d = day_in(rng, mm, 10, 20);
                        p.push(
                            span,
                            mm,
                            Scheme::Employee,
                            Payer::UnemploymentFund,
                            amount,
                            Some(base),
                            Some(d),
                            "",
                        );
                    }
                }
                k += gap;
                if rng.chance(0.1) {
                    flexible = true;
                    base = random_base(rng, 4000, 15000);
                } else {
                    employer = employer_id(rng, p.region);
                    base = random_base(rng, 3000, 30000);
                }
                if gap > 0 {
                    continue;
                }
                let scheme = if flexible {
                    Scheme::Flexible
                } else {
                    Scheme::Employee
                };
                let amount = base.times_rate(contribution_rate(scheme, m));
                let (payer, emp) = if flexible {
                    (Payer::Individual, "")
                } else {
                    (Payer::Employer, employer.as_str())
                };
                let d = day_in(rng, m, 5, 25);
                p.push(span, m, scheme, payer, amount, Some(base), Some(d), emp);
                k += 1;
                continue;
            }
            if rng.chance(0.006) {
                // Employer arrears: declared, unpaid, back-paid 1–8 months after the
                // episode (a tenth never), as one lump payment.
                let len = rng.range(1, 4) as i32;
                let len = len.min(last - k + 1);
                let back = if rng.chance(0.1) {
                    None
                } else {
                    Some(rng.range(1, 8) as i32)
                };
                let pay_day = back.map(|b| day_in(rng, m.plus(len - 1 + b), 3, 25));
                for j in 0..len {
                    let mm = m.plus(j);
                    p.push(
                        span,
                        mm,
                        Scheme::Employee,
                        Payer::Employer,
                        amount,
                        Some(base),
                        None,
                        &employer,
                    );
                    if let Some(d) = pay_day {
                        p.push(
                            span,
                            mm,
                            Scheme::Employee,
                            Payer::Employer,
                            amount,
                            Some(base),
                            Some(d),
                            &employer,
                        );
                    }
                }
                k += len;
                continue;
            }
            let d = if rng.chance(0.02) {
                day_in(rng, m.plus(1), 1, 10)
            } else {
                day_in(rng, m, 5, 25)
            };
            p.push(
                span,
                m,
                scheme,
                Payer::Employer,
                amount,
                Some(base),
                Some(d),
                &employer,
            );
            k += 1;
        } else {
            if rng.chance(0.01) {
                // Short gap (1–3 months), back-paid: mostly in time, some too late, some never.
                let len = (rng.range(1, 3) as i32).min(last - k + 1);
                let g2 = m.plus(len - 1);
                let pay = match rng.below(20) {
                    0..=14 => Some(rng.range(1, 3) as i32),
                    15..=17 => Some(rng.range(4, 6) as i32),
                    _ => None,
                };
                let pay = pay.map(|after| day_in(rng, g2.plus(after), 1, 28));
                if let Some(d) = pay {
                    for j in 0..len {
                        p.push(
                            span,
                            m.plus(j),
                            scheme,
                            Payer::Individual,
                            amount,
                            Some(base),
                            Some(d),
                            "",
                        );
                    }
                }
                k += len;
                continue;
            }
            if rng.chance(0.005) {
                // Long gap: never paid.
                k += rng.range(4, 12) as i32;
                continue;
            }
            let d = if rng.chance(0.04) {
                day_in(rng, m.plus(1), 1, 7)
            } else {
                day_in(rng, m, 1, 28)
            };
            p.push(
                span,
                m,
                scheme,
                Payer::Individual,
                amount,
                Some(base),
                Some(d),
                "",
            );
            k += 1;
        }
    }
}

/// A number in 0..100 from two values (for rare, rng-independent variations).
pub(super) fn anomaly_roll(a: u64, b: u64) -> u64 {
    crate::partition::fnv1a64(&[a.to_le_bytes(), b.to_le_bytes()].concat()) % 100
}

/// Pays resident year `year` on `day` (with the government share for a special group).
pub(super) fn pay_resident(rng: &mut Rng, p: &mut Person, span: &Span, year: i32, day: Date) {
    let start = span.start.first_day();
    let day = if day < start {
        start.plus_days(rng.range(0, 13) as i32)
    } else {
        day
    };
    let standard = resident_standard(year);
    let period = Month::january(year);
    // A few administrative slips for the findings of RULES.md §6, decided by a hash of
    // the payment (not by `rng`, so the rest of the data does not move): a group
    // member without the government row, a subsidy 10 yuan off, a subsidy for someone
    // in no group.
    let slip = anomaly_roll(day.0 as u64, year as u64);
    let payments: Vec<(Payer, Fen, Date)> = match p.group_on(day) {
        Some(_) if slip < 6 => vec![(Payer::Individual, standard, day)],
        None if slip < 5 => {
            let gov = standard.times_rate(Rate(Rate::SCALE / 2));
            vec![
                (Payer::Individual, Fen(standard.0 - gov.0), day),
                (Payer::Government, gov, day),
            ]
        }
        Some(g) => {
            let mut gov = standard.times_rate(subsidy_ratio(g, year));
            if slip < 10 {
                gov = Fen((gov.0 - 1_000).max(1));
            }
            let own = Fen(standard.0 - gov.0);
            let mut v = Vec::with_capacity(2);
            if own.0 > 0 {
                v.push((Payer::Individual, own, day));
            }
            v.push((
                Payer::Government,
                gov,
                day.plus_days(rng.range(0, 10) as i32),
            ));
            v
        }
        None => vec![(Payer::Individual, standard, day)],
    };
    for (payer, amount, paid_on) in payments {
        p.push(
            span,
            period,
            Scheme::Resident,
            payer,
            amount,
            None,
            Some(paid_on),
            "",
        );
    }
}

/// Resident history (RULES.md §5 situations).
pub(super) fn resident(rng: &mut Rng, p: &mut Person, span: &Span, newborn: bool) {
    let first_year = span.start.year();
    let last_year = span.end.year() + 1;
    let mut from_year = first_year;
    if newborn {
        // First payment within 90 days of birth (a fifth later), for the birth year,
        // or for the next year when born in the last quarter.
        let y = if p.birth.month().month() >= 10 {
            p.birth.ymd().0 + 1
        } else {
            p.birth.ymd().0
        };
        let days = if rng.chance(0.8) {
            rng.range(5, 90)
        } else {
            rng.range(91, 200)
        };
        pay_resident(rng, p, span, y, p.birth.plus_days(days as i32));
        from_year = y + 1;
    }
    let mut skipped: Vec<i32> = Vec::new();
    for y in from_year..=last_year {
        if y > from_year && rng.chance(0.12) {
            skipped.push(y);
            continue;
        }
        let day = match rng.below(100) {
            0..=79 => {
                let lo = Date::from_ymd(y - 1, 9, 1).0;
                let hi = Date::from_ymd(y - 1, 12, 31).0;
                Date(rng.range(lo as i64, hi as i64) as i32)
            }
            80..=91 => {
                let m = Month::new(y, rng.range(1, 6) as u32);
                day_in(rng, m, 1, 28)
            }
            _ => {
                let m = Month::new(y, rng.range(7, 11) as u32);
                day_in(rng, m, 1, 28)
            }
        };
        // Nobody pays before being born (a newborn's next-year window can open first).
        let day = day.max(p.birth.plus_days(1));
        // Repairs for skipped years, paid with (before) this year's payment.
        for s in skipped.drain(..) {
            if rng.chance(0.35) {
                let repair_day = day.plus_days(-(rng.range(1, 20) as i32));
                if repair_day > Date::from_ymd(s, 12, 31) {
                    pay_resident(rng, p, span, s, repair_day);
                }
            }
        }
        pay_resident(rng, p, span, y, day);
    }
}

/// Generates person `index`.
pub(super) fn person(
    seed: u64,
    index: u64,
    span: &Span,
    used: &mut HashSet<u64>,
) -> (Kind, Person) {
    let mut rng = Rng::new(seed, STREAM_PERSON, index);
    let kind = match rng.below(100) {
        0..=69 => Kind::Employee,
        70..=89 => Kind::Flexible,
        _ => Kind::Resident,
    };
    let (region, city) = *rng.pick(&CITIES);
    let newborn = kind == Kind::Resident && rng.chance(0.15);
    let birth = match kind {
        _ if newborn => {
            let lo = span.start.first_day().0;
            let hi = span.end_day().0 - 30;
            Date(rng.range(lo as i64, hi.max(lo) as i64) as i32)
        }
        Kind::Employee | Kind::Flexible => birth_between(&mut rng, 1962, 2004),
        Kind::Resident => birth_between(&mut rng, 1940, 2020),
    };
    let id = unique_id(&mut rng, city, birth, used);
    let groups = special_groups(&mut rng, kind, span, birth);
    let mut p = Person {
        id,
        birth,
        region,
        groups,
        rows: Vec::new(),
    };
    match kind {
        Kind::Employee => employee_family(&mut rng, &mut p, span, false),
        Kind::Flexible => employee_family(&mut rng, &mut p, span, true),
        Kind::Resident => resident(&mut rng, &mut p, span, newborn),
    }
    if p.rows.is_empty() {
        // Everyone has at least one row: a late-joining worker paying the last month.
        let m = span.end;
        let base = random_base(&mut rng, 4000, 15000);
        let d = day_in(&mut rng, m, 1, 20);
        p.push(
            span,
            m,
            Scheme::Flexible,
            Payer::Individual,
            base.times_rate(contribution_rate(Scheme::Flexible, m)),
            Some(base),
            Some(d),
            "",
        );
    }
    (kind, p)
}
