#!/usr/bin/env python3
"""Writes a small adversarial ledger for the oracle comparison (stdlib only).

    fuzz_ledger.py OUT_DIR PERSONS SEED

`ledgerflow generate` draws mostly ordinary histories; this draws the cases RULES.md
spends its words on: runs of gaps (bridged, pending, break, back-paid after the
deadline), declarations, split and short payments, unemployment-fund and employer
rows, switches employee ↔ flexible ↔ resident, resident years paid in the window, late,
as repairs or never, special groups, newborns, and the regions whose rule blocks
differ (Shanghai, Jiangsu, Wuhan, Guangdong, Fujian, Fuzhou, Nanchang). Every row is
valid, so the comparison covers the rules, not the input checks. Writes
`OUT_DIR/ledger/ledger.csv` and `OUT_DIR/special_groups.csv`.
"""

from __future__ import annotations

import calendar
import datetime as dt
import os
import random
import sys
from decimal import ROUND_HALF_UP, Decimal

REGIONS = ["370200", "310100", "320500", "420100", "440100", "350100", "350200", "360100"]
GROUPS = ["tekun", "orphan", "dibao", "disabled_severe", "rescued_poor", "low_income"]
WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CHECK = "10X98765432"


def person_id(rng, region, birth, used):
    while True:
        seq = rng.randrange(0, 1000)
        body = f"{region}{birth:%Y%m%d}{seq:03d}"
        pid = body + CHECK[sum(int(c) * w for c, w in zip(body, WEIGHTS)) % 11]
        if pid not in used:
            used.add(pid)
            return pid


def last_day(y, m):
    return dt.date(y, m, calendar.monthrange(y, m)[1])


def mi_ym(mi):
    return mi // 12, mi % 12 + 1


def money(x):
    return Decimal(x).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def main(argv):
    out, persons, seed = argv[1], int(argv[2]), int(argv[3])
    rng = random.Random(seed)
    os.makedirs(os.path.join(out, "ledger"), exist_ok=True)
    rows = []
    groups = []
    used = set()
    start, end = 2023 * 12, 2026 * 12 + 11
    cutoff = dt.date(2032, 6, 30)
    for _ in range(persons):
        region = rng.choice(REGIONS)
        newborn = rng.random() < 0.12
        if newborn:
            birth = dt.date(rng.choice([2024, 2025, 2026]), rng.randint(1, 12), rng.randint(1, 28))
        else:
            birth = dt.date(rng.randint(1960, 2005), rng.randint(1, 12), rng.randint(1, 28))
        pid = person_id(rng, region, birth, used)
        kind = "resident" if newborn else rng.choice(["employee", "flexible", "switch", "resident", "mixed", "mixed"])
        txn = 0

        cur_region = [region]

        def add(period, scheme, payer, amount, base, paid_on, reg=None):
            nonlocal txn
            txn += 1
            reg = reg or cur_region[0]
            if paid_on is not None and paid_on > cutoff:
                return
            rows.append(
                [pid, period, scheme, payer, f"{amount}", "" if base is None else f"{base}",
                 "" if paid_on is None else paid_on.isoformat(), reg, f"T{pid}-{txn}"]
            )

        emp_end = start - 1
        if kind in ("employee", "flexible", "switch", "mixed"):
            s = rng.randint(start, start + 20)
            e = rng.randint(s + 3, end) if kind != "mixed" else rng.randint(s + 3, min(end, s + 30))
            emp_end = e
            base = money(rng.randint(300000, 3000000) / 100)
            scheme = "flexible" if kind == "flexible" else "employee"
            mi = s
            while mi <= e:
                if kind == "switch" and rng.random() < 0.05:
                    scheme = "flexible" if scheme == "employee" else "employee"
                if rng.random() < 0.04:
                    base = money(rng.randint(300000, 3000000) / 100)
                payer = "individual" if scheme == "flexible" else "employer"
                req = money(base * Decimal("0.10"))
                if rng.random() < 0.22:  # a gap run
                    L = rng.choice([1, 1, 2, 3, 3, 4, 5, 7])
                    fate = rng.choice(["backpaid_fast", "backpaid_slow", "never", "partial", "declared"])
                    gpayer = payer if rng.random() < 0.8 else rng.choice(["employer", "individual", "unemployment_fund"])
                    y2, m2 = mi_ym(min(mi + L - 1, e))
                    pay_day = last_day(y2, m2) + dt.timedelta(days=rng.choice([1, 5, 20, 45, 80, 100, 150, 200, 320]))
                    if rng.random() < 0.25:  # exactly on a deadline, or the day after
                        y3, m3 = mi_ym(rng.choice([min(mi + L - 1, e) + 3, mi + 5, mi + 3]))
                        pay_day = last_day(y3, m3) + dt.timedelta(days=rng.choice([0, 0, 1]))
                    for g in range(mi, min(mi + L, e + 1)):
                        y, m = mi_ym(g)
                        period = f"{y:04d}-{m:02d}"
                        if fate in ("backpaid_fast", "backpaid_slow"):
                            d = pay_day if fate == "backpaid_slow" else last_day(y, m) + dt.timedelta(days=rng.randint(1, 40))
                            if rng.random() < 0.2:  # split: part on time, the rest late
                                half = money(req / 2)
                                add(period, scheme, gpayer, half, base, dt.date(y, m, rng.randint(1, 28)))
                                add(period, scheme, gpayer, req - half, base, d)
                            else:
                                add(period, scheme, gpayer, req, base, d)
                        elif fate == "partial":
                            add(period, scheme, gpayer, req - Decimal("1.00"), base, dt.date(y, m, rng.randint(1, 28)))
                        elif fate == "declared":
                            add(period, scheme, gpayer, req, base, None)
                        # never: no rows at all
                    mi += L
                    continue
                y, m = mi_ym(mi)
                period = f"{y:04d}-{m:02d}"
                day = dt.date(y, m, rng.randint(1, 28))
                if rng.random() < 0.05:
                    day = last_day(y, m)  # on the due date itself
                v = rng.random()
                if rng.random() < 0.02:  # the person moves to another region
                    cur_region[0] = rng.choice(REGIONS)
                if v < 0.03:  # prepaid in the month before
                    add(period, scheme, payer, req, base, day - dt.timedelta(days=31))
                elif v < 0.06:  # a declaration with a higher base: the paid row falls short
                    add(period, scheme, payer, money(base * Decimal("1.2") * Decimal("0.10")), money(base * Decimal("1.2")), None)
                    add(period, scheme, payer, req, base, day)
                elif v < 0.09:  # two instalments on the same day (input order decides)
                    half = money(req / 2)
                    add(period, scheme, payer, half, base, day)
                    add(period, scheme, payer, req - half, base, day)
                elif v < 0.11:  # employee and flexible rows in one month
                    half = money(req / 2)
                    add(period, "employee", "employer", half, base, day)
                    add(period, "flexible", "individual", req - half, base, day + dt.timedelta(days=rng.choice([0, 40])))
                elif v < 0.13:
                    add(period, scheme, "government", req, base, day)
                elif v < 0.15:
                    add(period, scheme, payer, req + Decimal("5.00"), base, day)
                elif v < 0.20:
                    add(period, scheme, "unemployment_fund", req, base, day)
                else:
                    add(period, scheme, payer, req, base, dt.date(y, m, rng.randint(1, 28)))
                mi += 1
        if kind in ("resident", "mixed"):
            y0 = max(2023, birth.year, (emp_end + 1) // 12)
            for Y in range(y0, 2032 if rng.random() < 0.3 else 2028):
                std = Decimal("380.00") if Y <= 2023 else Decimal("400.00")
                fate = rng.choice(["window", "window", "window", "late", "repair", "never", "early_year", "very_early", "window_edge"])
                if fate == "window":
                    d = dt.date(Y - 1, rng.choice([9, 10, 11, 12]), rng.randint(1, 28))
                elif fate == "early_year":
                    d = dt.date(Y, rng.choice([1, 2]), rng.randint(1, 28))
                elif fate == "late":
                    d = dt.date(Y, rng.randint(1, 12), rng.randint(1, 28))
                elif fate == "very_early":
                    d = dt.date(Y - 1, rng.randint(1, 8), rng.randint(1, 28))
                elif fate == "window_edge":
                    d = rng.choice([dt.date(Y - 1, 12, 31), dt.date(Y, 1, 1), dt.date(Y - 1, 9, 1), dt.date(Y, 2, 28), dt.date(Y, 3, 1)])
                elif fate == "repair":
                    d = dt.date(Y + rng.choice([1, 2]), rng.randint(1, 12), rng.randint(1, 28))
                else:
                    continue
                if newborn and Y == birth.year:
                    d = birth + dt.timedelta(days=rng.choice([10, 60, 89, 90, 91, 150]))
                if rng.random() < 0.25:
                    gov = money(std * Decimal(rng.choice(["0.5", "0.9", "1.0"])))
                    add(f"{Y:04d}-01", "resident", "government", gov, None, d)
                    if gov < std:
                        add(f"{Y:04d}-01", "resident", "individual", std - gov, None, d + dt.timedelta(days=rng.choice([0, 0, 30])))
                elif rng.random() < 0.1:  # two payers, the second one completes it later
                    add(f"{Y:04d}-01", "resident", rng.choice(["employer", "unemployment_fund"]), Decimal("100.00"), None, d)
                    add(f"{Y:04d}-01", "resident", "individual", std - Decimal("100.00"), None, d + dt.timedelta(days=rng.choice([0, 20, 120])))
                else:
                    add(f"{Y:04d}-01", "resident", "individual", std if rng.random() < 0.95 else std - 10, None, d)
        if rng.random() < 0.15:
            f = dt.date(rng.randint(2022, 2026), rng.randint(1, 12), rng.randint(1, 28))
            t = None if rng.random() < 0.5 else f + dt.timedelta(days=rng.randint(30, 700))
            groups.append([pid, rng.choice(GROUPS), f.isoformat(), "" if t is None else t.isoformat()])
    with open(os.path.join(out, "ledger", "ledger.csv"), "w", encoding="utf-8") as fh:
        fh.write("person_id,period,scheme,payer,amount,base,paid_on,region,txn_id\n")
        for r in rows:
            fh.write(",".join(r) + "\n")
    with open(os.path.join(out, "special_groups.csv"), "w", encoding="utf-8") as fh:
        fh.write("person_id,group,valid_from,valid_to\n")
        for g in groups:
            fh.write(",".join(g) + "\n")
    print(f"{persons} people, {len(rows)} rows, {len(groups)} special-group rows")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
