#!/usr/bin/env python3
"""Compares ledgerflow's Parquet outputs with the oracle (oracle.py) for one as_of.

    compare.py OUT LEDGER_DIR RULES_TOML AS_OF [--groups CSV] [--limit N]

Needs the `duckdb` module (the test venv). Compares the reject type of every ledger
line (the oracle's own input checks) and the four tables. Prints every difference as
`table key column: ours=… oracle=…`, then a count per table and column, and
`differences: N` last. Exit 0 when N is 0, 1 otherwise.

Differences listed in KNOWN (each with its reason, see docs/decisions.md) are counted
apart and do not fail the comparison.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections import Counter
from decimal import Decimal

import duckdb

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402

KEYS = {
    "person_status": ["person_key"],
    "person_month": ["person_key", "period"],
    "gaps": ["person_key", "kind", "gap_start"],
    "findings": ["person_key", "period", "code"],  # detail is prose: not compared
}

# Known differences where RULES.md is silent or reads two ways (docs/decisions.md,
# "Independent oracle"): (name, table, column, predicate(ours_row, oracle_row), reason).
KNOWN: list[tuple[str, str, str, object, str]] = []

# Whole rows that only the other reading gives: the oracle marks them `_known` with one
# of these names; ours may have them or not (counted apart either way).
KNOWN_ROWS = {
    oracle.KNOWN_PREPAID: "STATUS_GAP (§6) for a year whose only paid employee-family "
    "month lies after as_of (prepaid by K): §6 says 'no paid employee-family month in "
    "Y' without '≤ A'; ledgerflow looks at the history (months ≤ A, §9) only",
}


def norm(v):
    if isinstance(v, float):
        return round(v, 9)
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, Decimal):
        return v.quantize(Decimal("0.01"))
    return v


def read_table(con, out, table, as_of):
    path = os.path.join(out, table, f"as_of={as_of}", "*.parquet")
    rel = con.sql(f"SELECT * FROM read_parquet('{path}')")
    cols = rel.columns
    rows = {}
    for rec in rel.fetchall():
        row = dict(zip(cols, rec))
        key = tuple(norm(row[k]) for k in KEYS[table])
        rows[key] = row
    return rows


def main(argv):
    args = argv[1:]
    groups = oracle.take_option(args, "--groups")
    limit = oracle.take_option(args, "--limit")
    limit = None if limit is None else int(limit)
    if len(args) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    out, ledger, rules, as_of = args
    con = duckdb.connect()
    rej_path = os.path.join(out, "rejects", f"as_of={as_of}", "*.parquet")
    ledger_rejects = {
        (os.path.basename(f), int(line)): error_type
        for f, line, error_type in con.sql(
            f"SELECT source_file, line, error_type FROM read_parquet('{rej_path}')"
        ).fetchall()
    }
    rejected = set(ledger_rejects)
    ours = {t: read_table(con, out, t, as_of) for t in KEYS}
    theirs = {t: {} for t in KEYS}
    for table, key, row in oracle.run(ledger, rules, as_of, groups, rejected):
        theirs[table][tuple(norm(k) for k in key)] = row
    counts: Counter = Counter()
    known: Counter = Counter()
    printed = 0

    def report(line):
        nonlocal printed
        if limit is None or printed < limit:
            print(line)
        printed += 1

    # the input checks: every ledger line's reject type (None = accepted), both ways;
    # the rules below are compared on the rows *we* accepted, so one input difference
    # is reported once, here, not again in every table
    own = oracle.check_ledger(ledger, as_of)
    ledger_names = set(n for n, _ in own) | set(os.listdir(ledger))
    for key in sorted(set(own) | {k for k in ledger_rejects if k[0] in ledger_names}):
        va, vb = ledger_rejects.get(key), own.get(key)
        if va != vb:
            counts[("rejects", "error_type")] += 1
            report(f"rejects {key} error_type: ours={va} oracle={vb}")
    for table in KEYS:
        a, b = ours[table], theirs[table]
        for key in sorted(set(a) | set(b), key=str):
            name = b.get(key, {}).get("_known")
            if name is not None:
                if key in a:
                    known[(table, "(row)", name)] += 1
                continue
            if key not in b:
                counts[(table, "(row only in ours)")] += 1
                report(f"{table} {key} row only in ours")
                continue
            if key not in a:
                counts[(table, "(row only in oracle)")] += 1
                report(f"{table} {key} row only in oracle")
                continue
            ra, rb = a[key], b[key]
            for col, vb in rb.items():
                if col in KEYS[table] or col.startswith("_"):
                    continue
                va = norm(ra.get(col))
                vb = norm(vb)
                if va == vb:
                    continue
                hit = next((n for n, t, c, pred, _ in KNOWN if t == table and c == col and pred(ra, rb)), None)
                if hit:
                    known[(table, col, hit)] += 1
                    continue
                counts[(table, col)] += 1
                report(f"{table} {key} {col}: ours={va} oracle={vb}")
    print("summary:")
    for (table, col), n in sorted(counts.items()):
        print(f"  {table}.{col}: {n}")
    for (table, col, name), n in sorted(known.items()):
        print(f"  known {name} ({table}.{col}): {n} — {KNOWN_ROWS.get(name, '')}")
    total = sum(counts.values())
    print("rows compared: " + ", ".join(f"{t} {len(theirs[t])}" for t in KEYS) + f", rejects {len(own)}")
    print(f"differences: {total}")
    return 0 if total == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
