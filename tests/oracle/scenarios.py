#!/usr/bin/env python3
"""Checks the oracle itself against the worked scenarios (stdlib only).

    scenarios.py SCENARIO_DIR RULES_TOML

Each `SCENARIO_DIR/*.toml` (format in its README) is fed to oracle.py — ledgerflow
is not involved — and every expected cell is compared. Prints each mismatch and
`scenario mismatches: N` last; exit 0 when N is 0. This keeps the oracle honest: it
agrees with the rulebook's own examples before it is used to judge ledgerflow.
"""

from __future__ import annotations

import csv
import io
import os
import sys
import tempfile
import tomllib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402


def text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def same(got, expected) -> bool:
    """The oracle's value equals the expected cell (numbers by value: 1 = 1.0)."""
    if text(got) == text(expected):
        return True
    if isinstance(got, float):
        try:
            return got == float(text(expected))
        except ValueError:
            return False
    return False


def rows_of(csv_text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(csv_text.strip() + "\n")))


def check_scenario(path: str, rules: str) -> list[str]:
    with open(path, "rb") as f:
        sc = tomllib.load(f)
    name = os.path.basename(path)
    bad: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "ledger"))
        with open(os.path.join(tmp, "ledger", "ledger.csv"), "w", encoding="utf-8") as f:
            f.write(sc["inputs"]["ledger"].lstrip())
        groups = None
        if "special_groups" in sc["inputs"]:
            groups = os.path.join(tmp, "special_groups.csv")
            with open(groups, "w", encoding="utf-8") as f:
                f.write(sc["inputs"]["special_groups"].lstrip())
        for chk in sc["check"]:
            as_of = chk["as_of"]
            own = oracle.check_ledger(os.path.join(tmp, "ledger"), as_of)
            tables: dict[str, dict] = {"person_status": {}, "person_month": {}, "gaps": {}, "findings": {}}
            for table, key, row in oracle.run(os.path.join(tmp, "ledger"), rules, as_of, groups, set(own)):
                tables[table].setdefault(key[0], []).append(row | {"_key": key})
            people = sorted(set(tables["person_status"]) | set(tables["findings"]))
            only = people[0] if len(people) == 1 else None
            where = f"{name} as of {as_of}"
            if "rejects" in chk:
                exp = sorted((int(r["line"]), r["error_type"]) for r in rows_of(chk["rejects"]))
                got = sorted((line, t) for (_, line), t in own.items())
                if exp != got:
                    bad.append(f"{where} rejects: expected {exp}, oracle {got}")
            for table in ("person_month", "gaps"):
                if table not in chk:
                    continue
                expected = rows_of(chk[table])
                by_person: dict[str, list] = {}
                for r in expected:
                    by_person.setdefault(r.get("person_id", only), []).append(r)
                for pid, exp_rows in by_person.items():
                    got_rows = tables[table].get(pid, [])
                    if table == "person_month" and chk.get("person_month_is_sample"):
                        got_by_period = {text(g["period"]): g for g in got_rows}
                        pairs = [(e, got_by_period.get(e["period"])) for e in exp_rows]
                    else:
                        if len(got_rows) != len(exp_rows):
                            bad.append(f"{where} {table} {pid}: {len(exp_rows)} rows expected, oracle {len(got_rows)}")
                        pairs = list(zip(exp_rows, got_rows))
                    for e, g in pairs:
                        if g is None:
                            bad.append(f"{where} {table} {pid} {e}: no such oracle row")
                            continue
                        for c, v in e.items():
                            if c != "person_id" and not same(g.get(c), v):
                                bad.append(f"{where} {table} {pid} {e.get('period', e.get('gap_start'))} {c}: expected {v!r}, oracle {text(g.get(c))!r}")
            if "person_month_first" in chk:
                for r in rows_of(chk["person_month_first"]):
                    got = tables["person_month"].get(r["person_id"], [])
                    if not got or text(got[0]["period"]) != r["period"]:
                        bad.append(f"{where} first month of {r['person_id']}: expected {r['period']}")
            if "person_status" in chk:
                ps = chk["person_status"]
                # a table of key = value for the one person, or CSV text with person_id
                expected = rows_of(ps) if isinstance(ps, str) else [ps]
                for e in expected:
                    pid = e.get("person_id", only)
                    got = tables["person_status"].get(pid, [{}])[0]
                    for c, v in e.items():
                        if c != "person_id" and not same(got.get(c), v):
                            bad.append(f"{where} person_status {pid} {c}: expected {text(v)!r}, oracle {text(got.get(c))!r}")
            if "findings" in chk:
                exp = sorted((r.get("person_id", only), r["period"], r["code"]) for r in rows_of(chk["findings"]))
                got = sorted(
                    (pid, text(r["_key"][1]), r["_key"][2])
                    for pid, rs in tables["findings"].items()
                    for r in rs
                    if "_known" not in r  # a row of the other reading only
                )
                if exp != got:
                    bad.append(f"{where} findings: expected {exp}, oracle {got}")
    return bad


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    bad = []
    names = sorted(n for n in os.listdir(argv[1]) if n.endswith(".toml"))
    for n in names:
        bad += check_scenario(os.path.join(argv[1], n), argv[2])
    for b in bad:
        print(b)
    print(f"scenarios: {len(names)}")
    print(f"scenario mismatches: {len(bad)}")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
