#!/usr/bin/env python3
"""An independent reading of /work/shared/RULES.md (§1–§5, §7, §9; §6 as far as it
changes resident waits), written from the rulebook and the contract only.

Plain Python 3.11, standard library only. Money is `decimal.Decimal` (never float).

    oracle.py LEDGER_DIR RULES_TOML AS_OF [--groups CSV] [--rejected FILE]

prints the three tables (person_status, person_month, gaps) as JSON lines, one object
per row with a "table" key. `--rejected` names a file of `basename<TAB>line` pairs: the
input lines ledgerflow rejected (its `rejects` table), which the oracle skips, so both
evaluate the same accepted rows. `compare.py` runs this module in-process.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import json
import os
import sys
import tomllib
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
STATUS_ORDER = {"suspended": 0, "waiting": 1, "reduced": 2, "restored": 3, "active": 4}
GROUP_PRIORITY = ["tekun", "orphan", "dibao", "disabled_severe", "rescued_poor", "low_income"]


def q(x: Decimal) -> Decimal:
    """Round half-up to the fen (RULES §7)."""
    return x.quantize(CENT, rounding=ROUND_HALF_UP)


# ---- months and dates (RULES §1) ---------------------------------------------------


def month_of(text: str) -> int:
    y, m = text.split("-")[:2]
    return int(y) * 12 + int(m) - 1


def month_text(mi: int) -> str:
    return f"{mi // 12:04d}-{mi % 12 + 1:02d}"


def first_day(mi: int) -> dt.date:
    return dt.date(mi // 12, mi % 12 + 1, 1)


def last_day(mi: int) -> dt.date:
    y, m = mi // 12, mi % 12 + 1
    return dt.date(y, m, calendar.monthrange(y, m)[1])


def month_idx(d: dt.date) -> int:
    return d.year * 12 + d.month - 1


def add_months(d: dt.date, n: int) -> dt.date:
    """Date + n months: keeps the day, clamps to the month's end (RULES §1)."""
    mi = month_idx(d) + n
    y, m = mi // 12, mi % 12 + 1
    return dt.date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


# ---- rule parameters (CONTRACT §3: most specific region, latest block ≤ month) -----


class Rules:
    def __init__(self, path: str):
        with open(path, "rb") as f:
            self.blocks = tomllib.load(f)["params"]

    def get(self, key: str, region: str, mi: int):
        """A parameter; `table.key` reads a key of a sub-table (`subsidy_ratio.dibao`)."""
        path = key.split(".")

        def lookup(b):
            for part in path:
                if not isinstance(b, dict) or part not in b:
                    return None
                b = b[part]
            return b

        levels = [region[:6], region[:4], region[:2], "*"]
        for level in levels:
            blocks = [b for b in self.blocks if b["region"] == level and lookup(b) is not None]
            if not blocks:
                continue
            fitting = [b for b in blocks if month_of(b["effective_from"]) <= mi]
            if fitting:
                return lookup(max(fitting, key=lambda b: month_of(b["effective_from"])))
            if level == "*":
                # the earliest national block also holds before its effective_from
                return lookup(min(blocks, key=lambda b: month_of(b["effective_from"])))
        raise KeyError(key)

    def dec(self, key: str, region: str, mi: int) -> Decimal:
        return Decimal(str(self.get(key, region, mi)))


# ---- inputs -------------------------------------------------------------------------


class Row:
    __slots__ = ("period", "scheme", "payer", "amount", "base", "paid_on", "region", "order")

    def __init__(self, period, scheme, payer, amount, base, paid_on, region, order):
        self.period = period
        self.scheme = scheme
        self.payer = payer
        self.amount = amount
        self.base = base
        self.paid_on = paid_on
        self.region = region
        self.order = order


def read_rejected(path: str | None) -> set[tuple[str, int]]:
    out: set[tuple[str, int]] = set()
    if path:
        with open(path, encoding="utf-8") as f:
            for line in f:
                name, _, num = line.rstrip("\n").rpartition("\t")
                out.add((os.path.basename(name), int(num)))
    return out


# ---- input checks (CONTRACT §2.1, §4 rejects; RULES §8), independently --------------

LEDGER_COLUMNS = ["person_id", "period", "scheme", "payer", "amount", "base", "paid_on", "region"]
REQUIRED = ["person_id", "period", "scheme", "payer", "amount", "region"]
ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def id_ok(pid: str) -> bool:
    """GB 11643-1999: 18 characters, a real birth date, the check character (RULES §8)."""
    if len(pid) != 18 or not pid[:17].isdigit():
        return False
    try:
        dt.date(int(pid[6:10]), int(pid[10:12]), int(pid[12:14]))
    except ValueError:
        return False
    check = "10X98765432"[sum(int(c) * w for c, w in zip(pid[:17], ID_WEIGHTS)) % 11]
    return pid[17].upper() == check


def month_ok(text: str) -> bool:
    if len(text) != 7 or text[4] != "-" or not (text[:4] + text[5:]).isdigit():
        return False
    return 1 <= int(text[5:]) <= 12


def money_ok(text: str, positive: bool) -> bool:
    try:
        v = Decimal(text)
    except ArithmeticError:
        return False
    if not v.is_finite() or v.as_tuple().exponent < -2:
        return False
    return v > 0 if positive else v >= 0


def date_ok(text: str) -> bool:
    try:
        return dt.date.fromisoformat(text) is not None and len(text) == 10
    except ValueError:
        return False


def row_fault(rec: list[str], col: dict[str, int], width: int) -> str | None:
    """The reject type of a ledger record, or None (the duplicate check comes after)."""
    if len(rec) != width:
        return "PARSE_ERROR"
    get = lambda c: rec[col[c]].strip() if c in col else ""
    if any(get(c) == "" for c in REQUIRED):
        return "MISSING_VALUE"
    if get("scheme") in ("employee", "flexible") and get("base") == "":
        return "MISSING_VALUE"
    if not id_ok(get("person_id")):
        return "BAD_PERSON_ID"
    if not month_ok(get("period")):
        return "BAD_PERIOD"
    if get("scheme") not in ("employee", "flexible", "resident"):
        return "BAD_ENUM"
    if get("payer") not in ("employer", "individual", "government", "unemployment_fund"):
        return "BAD_ENUM"
    if not money_ok(get("amount"), True):
        return "BAD_AMOUNT"
    if get("base") and not money_ok(get("base"), False):
        return "BAD_AMOUNT"
    if get("paid_on") and not date_ok(get("paid_on")):
        return "BAD_DATE"
    if not (len(get("region")) == 6 and get("region").isdigit()):
        return "BAD_REGION"
    if get("scheme") == "resident" and not get("period").endswith("-01"):
        return "BAD_RESIDENT_PERIOD"
    return None


def ledger_records(ledger_dir: str):
    """Every record of the ledger's CSV files, files by name: (file name, line, record,
    column index by header name, header width)."""
    for name in sorted(os.listdir(ledger_dir)):
        if not name.endswith(".csv"):
            continue
        with open(os.path.join(ledger_dir, name), encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            header = next(reader)
            col = {h: i for i, h in enumerate(header)}
            for rec in reader:
                yield name, reader.line_num, rec, col, len(header)


def check_ledger(ledger_dir: str, as_of: str) -> dict[tuple[str, int], str]:
    """The oracle's own rejects: (file name, line) -> error_type. Field checks per row,
    then the plausibility bounds of docs/decisions.md "Input hardening" (min_period
    1990-01, birth date, max_amount, max_months_ahead 24 from the reference month),
    then exact duplicates in file order."""
    out: dict[tuple[str, int], str] = {}
    passed = []  # (key, get) of rows that pass the field checks, in file order
    for name, line, rec, col, width in ledger_records(ledger_dir):
        fault = row_fault(rec, col, width)
        if fault is not None:
            out[(name, line)] = fault
        else:
            vals = {c: rec[col[c]].strip() if c in col else "" for c in LEDGER_COLUMNS + ["employer_id", "txn_id"]}
            passed.append(((name, line), vals))
    ceiling = Decimal("99999999.99")
    plausible = []
    for key, v in passed:
        period = month_of(v["period"])
        paid = dt.date.fromisoformat(v["paid_on"]) if v["paid_on"] else None
        pid = v["person_id"]
        birth = dt.date(int(pid[6:10]), int(pid[10:12]), int(pid[12:14]))
        if period < month_of("1990-01"):
            out[key] = "BAD_PERIOD"
        elif paid is not None and paid < dt.date(1990, 1, 1):
            out[key] = "BAD_DATE"
        elif birth > (paid if paid is not None else last_day(period)):
            out[key] = "BAD_PERSON_ID"
        elif Decimal(v["amount"]) > ceiling or (v["base"] and Decimal(v["base"]) > ceiling):
            out[key] = "BAD_AMOUNT"
        else:
            plausible.append((key, v, period, paid))
    refs = [month_idx(paid) for _, _, period, paid in plausible if paid is not None and abs(month_idx(paid) - period) <= 24]
    ref = max(refs) if refs else month_of(as_of)
    seen: set[tuple] = set()
    for key, v, period, paid in plausible:
        if period > ref + 24:
            out[key] = "BAD_PERIOD"
            continue
        if paid is not None and month_idx(paid) > ref + 24:
            out[key] = "BAD_DATE"
            continue
        dup = (
            v["person_id"].upper(),
            v["period"],
            v["scheme"],
            v["payer"],
            Decimal(v["amount"]),
            Decimal(v["base"]) if v["base"] else None,
            v["paid_on"],
            v["region"],
            v["employer_id"],
            v["txn_id"],
        )
        if dup in seen:
            out[key] = "DUPLICATE_ROW"
        seen.add(dup)
    return out


def read_ledger(ledger_dir: str, rejected: set[tuple[str, int]]) -> dict[str, list[Row]]:
    """Accepted rows per person, in input order (files by name, then line)."""
    people: dict[str, list[Row]] = {}
    order = 0
    for name, line, rec, col, _ in ledger_records(ledger_dir):
        if (name, line) in rejected:
            continue
        get = lambda c: rec[col[c]].strip() if c in col and col[c] < len(rec) else ""
        pid = get("person_id").upper()
        base = get("base")
        paid = get("paid_on")
        people.setdefault(pid, []).append(
            Row(
                month_of(get("period")),
                get("scheme"),
                get("payer"),
                Decimal(get("amount")),
                Decimal(base) if base else None,
                dt.date.fromisoformat(paid) if paid else None,
                get("region"),
                order,
            )
        )
        order += 1
    return people


def read_groups(path: str | None, rejected: set[tuple[str, int]]):
    groups: dict[str, list[tuple[str, dt.date, dt.date | None]]] = {}
    if not path or not os.path.exists(path):
        return groups
    name = os.path.basename(path)
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        col = {h: i for i, h in enumerate(header)}
        for rec in reader:
            if (name, reader.line_num) in rejected:
                continue
            to = rec[col["valid_to"]].strip()
            groups.setdefault(rec[col["person_id"]].strip().upper(), []).append(
                (
                    rec[col["group"]].strip(),
                    dt.date.fromisoformat(rec[col["valid_from"]].strip()),
                    dt.date.fromisoformat(to) if to else None,
                )
            )
    return groups


def group_in_month(groups, mi: int) -> str | None:
    """Highest-priority group whose interval touches month mi (RULES §6)."""
    lo, hi = first_day(mi), last_day(mi)
    act = [g for g, f, t in groups if f <= hi and (t is None or t >= lo)]
    return min(act, key=GROUP_PRIORITY.index) if act else None


def group_on_day(groups, d: dt.date) -> str | None:
    act = [g for g, f, t in groups if f <= d and (t is None or t >= d)]
    return min(act, key=GROUP_PRIORITY.index) if act else None


# ---- one person -----------------------------------------------------------------------


def worse(a, b):
    """The worse of two readings; on a tie the first (the later gap's own) holds."""
    return b if STATUS_ORDER[b[0]] < STATUS_ORDER[a[0]] else a


class Month:
    """The employee-family facts of one month with rows (RULES §3)."""

    def __init__(self, mi, rows, rules):
        self.rows = rows
        self.scheme = "employee" if any(r.scheme == "employee" for r in rows) else "flexible"
        self.region = rows[0].region
        bases = [r.base for r in rows if r.base is not None]
        self.base = max(bases) if bases else None
        rate = rules.dec(f"{self.scheme}_rate", self.region, mi)
        self.required = q((self.base or Decimal(0)) * rate)
        paid_rows = sorted((r for r in rows if r.paid_on is not None), key=lambda r: (r.paid_on, r.order))
        self.paid_sum = Decimal(0)
        self.paid_date = None
        for r in paid_rows:
            self.paid_sum += r.amount
            if self.paid_date is None and self.paid_sum >= self.required:
                self.paid_date = r.paid_on
        self.paid = self.paid_date is not None


def evaluate(pid: str, rows: list[Row], groups, rules: Rules, A: int):
    K = last_day(A)
    rows = [r for r in rows if r.paid_on is None or r.paid_on <= K]  # §1 knowledge cut-off
    birth = dt.date(int(pid[6:10]), int(pid[10:12]), int(pid[12:14]))
    gender = "M" if int(pid[16]) % 2 == 1 else "F"

    # ---- employee family (§3, §4) ----
    emp_by_month: dict[int, list[Row]] = {}
    for r in rows:
        if r.scheme in ("employee", "flexible"):
            emp_by_month.setdefault(r.period, []).append(r)
    months = {mi: Month(mi, rs, rules) for mi, rs in emp_by_month.items()}
    paid_months = sorted(mi for mi, m in months.items() if m.paid and mi <= A)
    F = paid_months[0] if paid_months else None

    def carried(mi):
        """The nearest month ≤ mi with employee-family rows."""
        prev = [x for x in months if x <= mi]
        return months[max(prev)] if prev else None

    def due(mi):
        reg = carried(mi).region if carried(mi) else "*"
        return last_day(mi + int(rules.get("due_lag_months", reg, mi)))

    emp_status: dict[int, tuple] = {}
    gaps = []
    if F is not None:
        on_time = {mi: mi in months and months[mi].paid and months[mi].paid_date <= due(mi) for mi in range(F, A + 1)}
        runs = []
        mi = F
        while mi <= A:
            if not on_time[mi]:
                g1 = mi
                while mi <= A and not on_time[mi]:
                    mi += 1
                runs.append((g1, mi - 1))
            else:
                mi += 1
        for g1, g2 in runs:
            gap = {"g1": g1, "g2": g2, "L": g2 - g1 + 1, "open": g2 == A}
            gm = [months[x] for x in range(g1, g2 + 1) if x in months]
            gap["payer"] = (
                "employer"
                if any(r.payer in ("employer", "unemployment_fund") for m in gm for r in m.rows)
                else "individual"
            )
            if any(r.scheme == "employee" for m in gm for r in m.rows):
                scheme = "employee"
            elif gm:
                scheme = "flexible"
            else:
                scheme = carried(g1 - 1).scheme
            region = gm[0].region if gm else carried(g1 - 1).region
            gap["scheme"] = scheme
            backpaid = all(x in months and months[x].paid for x in range(g1, g2 + 1))
            B = max(months[x].paid_date for x in range(g1, g2 + 1)) if backpaid else None
            gap["B"] = B
            if gap["payer"] == "employer":
                deadline = last_day(g1 + int(rules.get("employer_arrears_window_months", region, g1)) - 1)
            elif gap["L"] <= int(rules.get("short_gap_max_months", region, g1)):
                deadline = last_day(g2 + int(rules.get("backpay_deadline_months", region, g1)))
            else:
                deadline = None
            gap["deadline"] = deadline
            if backpaid and deadline is not None and B <= deadline:
                state = "bridged"
            elif deadline is None or K > deadline:
                state = "break"
            else:
                state = "pending"
            gap["state"] = state
            gap["retro"] = bool(rules.get(f"retroactive_{scheme}", region, g1))
            if state == "bridged":
                how = rules.get(f"resume_{scheme}", region, g1)
                gap["R"] = {
                    "payment_day": B,
                    "day_after_payment": B + dt.timedelta(days=1),
                    "next_month": first_day(month_idx(B) + 1),
                }[how]
            if state == "break":
                r = g2 + 1
                c = carried(r)
                rs, rreg = (c.scheme, c.region) if c else (scheme, region)
                if r in months:
                    rs, rreg = months[r].scheme, months[r].region
                gap["r"] = r
                gap["W"] = int(rules.get(f"break_wait_months_{rs}", rreg, r))
                gap["reduced"] = int(rules.get("post_break_reduced_months", rreg, r))
            gaps.append(gap)

        # ---- month statuses: readings in time order (§4, §9) ----
        f_reg = months[F].region
        w0 = int(rules.get(f"first_enrolment_wait_months_{months[F].scheme}", f_reg, F))

        def wratio(mi):
            c = carried(mi)
            return float(rules.get("waiting_benefit_ratio", c.region if c else f_reg, mi))

        def normal(mi):
            if mi < F + w0:
                return ("waiting", wratio(mi), "FIRST_WAIT", None)
            return ("active", 1.0, "PAID", None)

        reading = {mi: normal(mi) for mi in range(F, A + 1)}
        for k, gap in enumerate(gaps):
            g1, g2, state = gap["g1"], gap["g2"], gap["state"]
            for mi in range(g1, A + 1):
                paid_late = mi in months and months[mi].paid
                if mi <= g2:
                    reason = "GAP_BACKPAID" if paid_late else "GAP_UNPAID"
                    if state == "bridged" and gap["retro"]:
                        own = ("restored", 1.0, reason, k)
                    else:
                        own = ("suspended", 0.0, reason, k)
                elif state == "bridged":
                    if gap["R"] <= last_day(mi):
                        own = ("active", 1.0, "PAID", None)
                    elif gap["retro"]:
                        own = ("restored", 1.0, "AWAITING_RESUME", k)
                    else:
                        own = ("suspended", 0.0, "AWAITING_RESUME", k)
                elif state == "pending":
                    own = ("suspended", 0.0, "ARREARS_DUE", k)
                else:
                    r, W = gap["r"], gap["W"]
                    if mi < r + W:
                        own = ("waiting", wratio(mi), "BREAK_WAIT", k)
                    elif mi < r + W + gap["reduced"]:
                        c = carried(mi)
                        ratio = float(rules.get("post_break_benefit_ratio", c.region, mi))
                        own = ("reduced", ratio, "POST_BREAK_REDUCED", k)
                    else:
                        own = ("active", 1.0, "PAID", None)
                reading[mi] = worse(own, reading[mi]) if state == "bridged" else own
        emp_status = reading

    # ---- money of gaps (§7) ----
    rate_fee = None
    arrears_months = 0
    arrears = Decimal(0)
    for gap in gaps:
        fee_total = Decimal(0)
        backpay = Decimal(0)
        for mi in range(gap["g1"], gap["g2"] + 1):
            m = months.get(mi)
            c = carried(mi)
            reg = c.region
            if rate_fee is None:
                pass
            daily = rules.dec("late_fee_daily_rate", reg, mi)
            cap = bool(rules.get("late_fee_cap_at_principal", reg, mi))
            if m is not None:
                backpay += m.paid_sum
                fee_payer = any(r.payer in ("employer", "individual") for r in m.rows)
                base = m.base if m.base is not None else None
            else:
                fee_payer = True  # a month without rows takes its gap's payer
                base = None
            if base is None:
                prev = carried(mi - 1) if m is None else carried(mi - 1)
                base = prev.base if prev and prev.base is not None else Decimal(0)
            scheme = c.scheme
            required = q(base * rules.dec(f"{scheme}_rate", reg, mi)) if m is None or m.base is None else m.required
            paid = m is not None and m.paid
            days = 0
            if paid:
                days = (m.paid_date - due(mi)).days
            elif gap["state"] == "pending":
                days = (K - due(mi)).days
                arrears_months += 1
                arrears += required - (m.paid_sum if m else Decimal(0))
            fee = Decimal(0)
            if fee_payer and days > 0:
                fee = q(required * daily * days)
                if cap:
                    fee = min(fee, required)
            fee_total += fee
        gap["fee"] = fee_total
        gap["backpay"] = backpay

    # ---- resident scheme (§5) ----
    res_by_year: dict[int, list[Row]] = {}
    for r in rows:
        if r.scheme == "resident" and r.period <= A:
            res_by_year.setdefault(r.period // 12, []).append(r)
    emp_paid_months = set(paid_months)
    emp_years = {mi // 12 for mi in emp_paid_months}
    P = {Y: resident_paid_date(rs, rules, Y) for Y, rs in res_by_year.items()}

    def res_covered(Y):
        return P.get(Y) is not None and P[Y] <= dt.date(Y, 12, 31)

    def covered_any(Y):
        return res_covered(Y) or Y in emp_years

    def is_repair(Y):
        return P.get(Y) is not None and P[Y] > dt.date(Y, 12, 31)

    res_years = {}  # Y -> dict(start, W, reason, wait_start)
    for Y in sorted(res_by_year):
        if not res_covered(Y):
            continue
        reg = res_by_year[Y][0].region
        jan = Y * 12
        p = P[Y]
        wopen, wclose = rules.get("resident_window", reg, jan)
        close_year = Y - 1 if wclose >= wopen else Y
        close = dt.date.fromisoformat(f"{close_year:04d}-{wclose}")
        in_window = p <= close
        cont = res_covered(Y - 1) or any(
            mi in emp_paid_months
            for mi in range(Y * 12 - int(rules.get("switch_gap_max_months", reg, jan)), Y * 12)
        )
        if not any(covered_any(y) for y in range(min([Y] + list(res_by_year) + list(emp_years)), Y)):
            cont = True  # first enrolment
        grace = rules.get("resident_grace_until", reg, jan)
        y_from = int(rules.get("break_years_count_from", reg, jan))
        N = 0
        y = Y - 1
        while y >= y_from and y >= birth.year and not covered_any(y):
            N += 1
            y -= 1
        break_years = range(Y - N, Y)
        info = {"P": p, "in_window": in_window, "N": N, "W": 0}
        if p <= birth + dt.timedelta(days=int(rules.get("newborn_window_days", reg, jan))) and birth.year >= Y - 1:
            info.update(start=max(birth, dt.date(Y, 1, 1)), reason="NEWBORN", wait_start=None)
        elif Y < int(rules.get("resident_wait_from", reg, jan)):
            info.update(start=dt.date(Y, 1, 1) if in_window else p + dt.timedelta(days=1), reason="RESIDENT_COVERED", wait_start=None)
        elif (g := group_on_day(groups, p)) is not None and g in rules.get("exempt_groups", reg, jan):
            info.update(start=dt.date(Y, 1, 1) if in_window else p + dt.timedelta(days=1), reason="SPECIAL_GROUP_EXEMPT", wait_start=None)
        elif in_window and cont:
            info.update(start=dt.date(Y, 1, 1), reason="RESIDENT_COVERED", wait_start=None)
        elif cont and grace != "none" and p <= dt.date.fromisoformat(f"{Y:04d}-{grace}"):
            info.update(start=p, reason="RESIDENT_COVERED", wait_start=None)
        else:
            fixed = int(rules.get("resident_fixed_wait_months", reg, jan))
            free = int(rules.get("variable_free_break_years", reg, jan))
            repairs = sum(1 for y in break_years if is_repair(y) and P[y] <= K)
            unrep = fixed + max(0, N - free)
            W = fixed + max(0, N - free - repairs)
            if N >= int(rules.get("repair_floor_break_years", reg, jan)):
                W = min(max(W, int(rules.get("repair_floor_months", reg, jan))), unrep)
            ws = dt.date(Y, 1, 1) if in_window else p
            info.update(start=add_months(ws, W), reason="RESIDENT_COVERED", wait_start=ws, W=W)
        res_years[Y] = info
    H_res = None
    for Y in sorted(res_years):
        info = res_years[Y]
        # the month the first wait or cover starts; a newborn born in Y-1 is covered
        # from Jan 1 of Y (§9), so the history opens then, not in the birth month
        H_res = month_idx(info["wait_start"] or info["start"])
        break
    if H_res is not None and H_res > A:
        H_res = None

    H_candidates = [x for x in (F, H_res) if x is not None]
    if not H_candidates:
        return None
    H = min(H_candidates)

    res_status = {}
    if H_res is not None:
        for mi in range(H_res, A + 1):
            Y = mi // 12
            info = res_years.get(Y)
            reg_c = res_by_year[Y][0].region if Y in res_by_year else None
            if info is not None and info["start"] <= last_day(mi):
                res_status[mi] = ("active", 1.0, info["reason"], None)
            elif info is not None and info["P"] <= last_day(mi):
                c_reg = reg_c or "*"
                res_status[mi] = ("waiting", float(rules.get("waiting_benefit_ratio", c_reg, mi)), "RESIDENT_WAIT", None)
            else:
                res_status[mi] = ("suspended", 0.0, "NOT_ENROLLED", None)

    # resident break runs (gaps table, kind resident)
    def res_region(Y):
        prev = [y for y in res_by_year if y <= Y]
        return res_by_year[max(prev)][0].region if prev else None

    # person-level values are read at A in the region of the row shown for A
    eA, rA = emp_status.get(A), res_status.get(A)
    if eA is not None and (rA is None or STATUS_ORDER[eA[0]] >= STATUS_ORDER[rA[0]]):
        region_A = carried(A).region
    else:
        region_A = res_region(A // 12)
    y_from_A = int(rules.get("break_years_count_from", region_A, A))
    res_gaps = []
    if H_res is not None:
        y = max(H // 12, y_from_A, birth.year)
        while y <= A // 12:
            if not covered_any(y):
                y1 = y
                while y <= A // 12 and not covered_any(y):
                    y += 1
                y2 = y - 1
                # every run ends before a year covered by some scheme (or is open):
                # wait and benefits_from only where that year is a resident year
                nxt = res_years.get(y2 + 1)
                openrun = y2 == A // 12
                res_gaps.append(
                    {
                        "y1": y1,
                        "y2": y2,
                        "open": openrun,
                        # repair payments only: a partial payment repairs nothing (§5)
                        "backpay": sum(
                            (
                                r.amount
                                for yy in range(y1, y2 + 1)
                                if is_repair(yy)
                                for r in res_by_year.get(yy, [])
                                if r.paid_on is not None
                            ),
                            Decimal(0),
                        ),
                        "W": None if openrun or nxt is None else nxt["W"],
                        "benefits_from": None if openrun or nxt is None else nxt["start"],
                    }
                )
            else:
                y += 1

    # gap ids: both kinds by gap_start, employee first on a tie
    keyed = [(first_day(g["g1"]), 0, i, "e") for i, g in enumerate(gaps)] + [
        (dt.date(g["y1"], 1, 1), 1, i, "r") for i, g in enumerate(res_gaps)
    ]
    keyed.sort()
    emp_id, res_id = {}, {}
    for n, (_, _, i, kind) in enumerate(keyed, start=1):
        (emp_id if kind == "e" else res_id)[i] = n

    # ---- rows of all schemes: scheme / region carried (CONTRACT person_month) ----

    # scheme and region: those of the family whose status the row shows, from that
    # family's rows of the month, else of its nearest earlier month with rows
    # (CONTRACT person_month; see docs/decisions.md "Independent oracle")
    out_months = []
    for mi in range(H, A + 1):
        e = emp_status.get(mi)
        rr = res_status.get(mi)
        if e is not None and (rr is None or STATUS_ORDER[e[0]] >= STATUS_ORDER[rr[0]]):
            st, fam = e, "emp"
            gid = emp_id[st[3]] if st[3] is not None else None
            m = months.get(mi)
            paid = bool(m and m.paid)
            paid_on = m.paid_date if paid else None
            ontime = bool(paid and m.paid_date <= due(mi))
            cur_scheme, cur_region = carried(mi).scheme, carried(mi).region
        else:
            st, fam = rr, "res"
            Y = mi // 12
            gid = None
            for i, g in enumerate(res_gaps):
                if g["y1"] <= Y <= g["y2"]:
                    gid = res_id[i]
            paid = P.get(Y) is not None
            paid_on = P.get(Y)
            ontime = bool(Y in res_years and res_years[Y]["in_window"])
            cur_scheme, cur_region = "resident", res_region(Y)
        out_months.append(
            {
                "period": first_day(mi),
                "scheme": cur_scheme,
                "region": cur_region,
                "paid": paid,
                "paid_on": paid_on,
                "on_time": ontime,
                "special_group": group_in_month(groups, mi),
                "benefit": st[0],
                "benefit_ratio": st[1],
                "reason": st[2],
                "gap_id": gid,
                "_fam": fam,
                "_k": st[3],
            }
        )

    last = out_months[-1]
    assert region_A == last["region"]
    cumulative = len(paid_months)
    latest_break = max((g for g in gaps if g["state"] == "break"), key=lambda g: g["g1"], default=None)
    start = latest_break["r"] if latest_break else F
    continuous = sum(1 for mi in paid_months if start is not None and mi >= start)
    pending = [g for g in gaps if g["state"] == "pending"]
    open_gap = next((g for g in gaps if g["open"]), None)
    # benefits_from of the as_of month
    bf = None
    if last["_fam"] == "emp":
        reason = last["reason"]
        k = last["_k"]
        if reason == "FIRST_WAIT":
            bf = first_day(F + w0)
        elif k is not None and gaps[k]["state"] == "bridged":
            bf = gaps[k]["R"]
        elif reason in ("BREAK_WAIT",):
            g = gaps[k]
            bf = first_day(g["r"] + g["W"])
    elif last["reason"] == "RESIDENT_WAIT":
        bf = res_years[A // 12]["start"]
    male = gender == "M"
    ret_min = int(rules.get("retirement_min_months_male" if male else "retirement_min_months_female", region_A, A))
    short = max(0, ret_min - cumulative)
    last_base = None
    for mi in sorted(months, reverse=True):
        if mi <= A and months[mi].base is not None:
            last_base = months[mi].base
            break
    lump = q(short * last_base * rules.dec("lump_sum_rate", region_A, A)) if last_base is not None else None
    y_from = int(rules.get("break_years_count_from", region_A, A))
    cy = 0
    y = A // 12
    while y >= y_from and covered_any(y):
        cy += 1
        y -= 1
    step = rules.dec("incentive_step", region_A, A)
    capv = rules.dec("incentive_cap_ratio", region_A, A) * rules.dec("catastrophic_cap", region_A, A)
    raise_ = q(min(step * max(0, cy - int(rules.get("incentive_after_years", region_A, A))), capv))
    status = {
        "gender": gender,
        "birth_date": birth,
        "region": region_A,
        "scheme": last["scheme"],
        "special_group": last["special_group"],
        "benefit": last["benefit"],
        "benefit_ratio": last["benefit_ratio"],
        "benefits_from": bf,
        "first_period": first_day(H),
        "last_paid_period": max((m["period"] for m in out_months if m["paid"]), default=None),
        "cumulative_months": cumulative,
        "continuous_months": continuous,
        "continuity_at_risk": bool(pending),
        "gap_count": len(gaps),
        "open_gap_months": open_gap["L"] if open_gap else 0,
        "longest_gap_months": max((g["L"] for g in gaps), default=0),
        "arrears_months": arrears_months,
        "arrears_amount": q(arrears),
        "late_fee_amount": q(sum((g["fee"] for g in gaps), Decimal(0))),
        "retirement_min_months": ret_min,
        "months_short": short,
        "lump_sum_estimate": lump,
        "resident_continuous_years": cy,
        "incentive_raise": raise_,
    }
    gap_rows = []
    for i, g in enumerate(gaps):
        st = g["state"]
        gap_rows.append(
            {
                "gap_id": emp_id[i],
                "kind": "employee",
                "gap_start": first_day(g["g1"]),
                "gap_end": last_day(g["g2"]),
                "months": g["L"],
                "open": g["open"],
                "payer": g["payer"],
                "state": st,
                "backpaid_on": g["B"],
                "deadline": g["deadline"],
                "backpay_amount": q(g["backpay"]),
                "late_fee_amount": q(g["fee"]),
                "wait_months": None if st == "pending" or g["open"] else (0 if st == "bridged" else g["W"]),
                "benefits_from": None
                if st == "pending" or g["open"]
                else (g["R"] if st == "bridged" else first_day(g["r"] + g["W"])),
            }
        )
    for i, g in enumerate(res_gaps):
        gap_rows.append(
            {
                "gap_id": res_id[i],
                "kind": "resident",
                "gap_start": dt.date(g["y1"], 1, 1),
                "gap_end": dt.date(g["y2"], 12, 31),
                "months": 12 * (g["y2"] - g["y1"] + 1),
                "open": g["open"],
                "payer": None,
                "state": "break",
                "backpaid_on": None,
                "deadline": None,
                "backpay_amount": q(g["backpay"]),
                "late_fee_amount": Decimal("0.00"),
                "wait_months": g["W"],
                "benefits_from": g["benefits_from"],
            }
        )
    for m in out_months:
        del m["_fam"], m["_k"]
    return status, out_months, gap_rows


# Rows that only the other reading of a silent clause produces (docs/decisions.md,
# "Independent oracle"); compare.py accepts them present or absent and counts them.
KNOWN_PREPAID = "status_gap_prepaid_month_after_as_of"


def resident_paid_date(rs: list[Row], rules: Rules, Y: int) -> dt.date | None:
    """§5: the day a resident year's paid rows (by paid_on, then input order) first
    add up to the year's contribution (region of the year's first row); None if never."""
    required = rules.dec("resident_contribution", rs[0].region, Y * 12)
    s = Decimal(0)
    for r in sorted((r for r in rs if r.paid_on is not None), key=lambda r: (r.paid_on, r.order)):
        s += r.amount
        if s >= required:
            return r.paid_on
    return None


def findings(pid: str, rows: list[Row], groups, rules: Rules, A: int, region_A: str):
    """The findings of §6 as (period, code) pairs, one per person, code and period;
    (period, code, known) for a row that only the other reading of a clause gives."""
    K = last_day(A)
    rows = [r for r in rows if r.paid_on is None or r.paid_on <= K]
    out: set[tuple] = set()
    emp: dict[int, list[Row]] = {}
    res: dict[int, list[Row]] = {}
    for r in rows:
        if r.scheme == "resident":
            res.setdefault(r.period // 12, []).append(r)
        else:
            emp.setdefault(r.period, []).append(r)
    months = {mi: Month(mi, rs, rules) for mi, rs in emp.items()}
    for mi, m in months.items():
        # a government row (paid, not a declaration) for a month with no active group
        if any(r.payer == "government" and r.paid_on is not None for r in m.rows):
            if group_in_month(groups, mi) is None:
                out.add((first_day(mi), "SUBSIDY_WITHOUT_STATUS"))
        if mi <= A and not m.paid and m.paid_sum > 0:
            out.add((first_day(mi), "UNDERPAID"))
    P: dict[int, dt.date | None] = {}
    for Y, rs in res.items():
        reg, jan = rs[0].region, Y * 12
        std = rules.dec("resident_contribution", reg, jan)
        P[Y] = resident_paid_date(rs, rules, Y)
        gov = [r for r in rs if r.payer == "government" and r.paid_on is not None]
        if gov and all(group_in_month(groups, jan + k) is None for k in range(12)):
            out.add((first_day(jan), "SUBSIDY_WITHOUT_STATUS"))
        if gov:
            g = group_on_day(groups, P[Y]) if P[Y] is not None else None
            if g is None:
                g = group_on_day(groups, max(r.paid_on for r in gov))
            if g is not None:
                expect = rules.dec(f"subsidy_ratio.{g}", reg, jan) * std
                if abs(sum((r.amount for r in gov), Decimal(0)) - expect) > CENT:
                    out.add((first_day(jan), "SUBSIDY_MISMATCH"))
        if P[Y] is not None and jan <= A and not gov:
            g = group_on_day(groups, P[Y])
            if g is not None and rules.dec(f"subsidy_ratio.{g}", reg, jan) > 0:
                out.add((first_day(jan), "STATUS_WITHOUT_SUBSIDY"))
    # STATUS_GAP (2026-12-01 text): an exempt group active in a month <= A of Y, and Y
    # not covered: no resident payment reaching the contribution, no paid employee month
    exempt = rules.get("exempt_groups", region_A, A)
    y_from = int(rules.get("break_years_count_from", region_A, A))
    paid_years = {mi // 12 for mi, m in months.items() if m.paid}
    paid_years_to_a = {mi // 12 for mi, m in months.items() if m.paid and mi <= A}
    for g, f, t in groups:
        if g not in exempt:
            continue
        for Y in range(max(y_from, f.year), A // 12 + 1):
            lo, hi = Y * 12, min(Y * 12 + 11, A)
            touches = any(f <= last_day(mi) and (t is None or t >= first_day(mi)) for mi in range(lo, hi + 1))
            if touches and P.get(Y) is None and Y not in paid_years:
                out.add((first_day(Y * 12), "STATUS_GAP"))
            elif touches and P.get(Y) is None and Y not in paid_years_to_a:
                # §6 says "no paid employee-family month in Y"; a month of Y after A
                # prepaid by K covers Y in this reading, not in the history-only one
                out.add((first_day(Y * 12), "STATUS_GAP", KNOWN_PREPAID))
    return out


def run(ledger_dir, rules_path, as_of, groups_path=None, rejected=frozenset()):
    """Yields (table, key, row) for every row of the four tables."""
    rules = Rules(rules_path)
    A = month_of(as_of)
    people = read_ledger(ledger_dir, rejected)
    groups = read_groups(groups_path, rejected)
    for pid in sorted(set(people) | set(groups)):
        res = evaluate(pid, people.get(pid, []), groups.get(pid, []), rules, A)
        # a person without a history has no row for A: person-level values come from
        # the region of their first row (future ones too), else of the ID number
        own = people.get(pid, [])
        first = min(own, key=lambda r: (r.period, r.paid_on is None, r.paid_on or dt.date.max, r.order), default=None)
        region_A = first.region if first else pid[:6]
        if res is not None:
            status, out_months, gap_rows = res
            region_A = status["region"]
            yield "person_status", (pid,), status
            for m in out_months:
                yield "person_month", (pid, m["period"]), m
            for g in gap_rows:
                yield "gaps", (pid, g["kind"], g["gap_start"]), g
        for period, code, *known in sorted(findings(pid, people.get(pid, []), groups.get(pid, []), rules, A, region_A)):
            yield "findings", (pid, period, code), {"_known": known[0]} if known else {}


def _json(v):
    if isinstance(v, (dt.date, Decimal)):
        return str(v)
    raise TypeError(type(v))


def take_option(args: list[str], name: str) -> str | None:
    """Removes `name VALUE` from args and returns VALUE (None when absent)."""
    if name not in args:
        return None
    i = args.index(name)
    value = args[i + 1]
    del args[i : i + 2]
    return value


def main(argv):
    args = argv[1:]
    groups = take_option(args, "--groups")
    rejected = take_option(args, "--rejected")
    if len(args) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    for table, key, row in run(args[0], args[1], args[2], groups, read_rejected(rejected)):
        print(json.dumps({"table": table, "key": key, **row}, default=_json, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
