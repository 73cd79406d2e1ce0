#!/usr/bin/env bash
# Renders a run report in headless Chromium and checks the screenshot is not blank.
#
#   tests/render_report.sh            # from the repository root
#
# Builds ledgerflow, runs `run pipelines/sample.toml --out <tmp>` (or, while
# sample_data/ does not exist, a small generated pipeline under <tmp>), screenshots
# <tmp>/_reports/<as_of>.html and checks the PNG: size, many colours, mostly not
# background, and the chart palette present. Prints the PNG path. Needs python3 and
# chromium (`apt-get install -y chromium`).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/ledgerflow-report.XXXXXX")"
out="$tmp/out"

# shellcheck source=tests/render_lib.sh
source "$root/tests/render_lib.sh"
render_find_chromium render_report
render_build

if [[ -d sample_data ]]; then
    pipeline="pipelines/sample.toml"
else
    # A small deterministic ledger: employees with gaps of many lengths, late and
    # future payments, residents, several regions and a few bad rows.
    pipeline="$tmp/pipeline/small.toml"
    mkdir -p "$tmp/pipeline/ledger"
    cp pipelines/rules/national.toml "$tmp/pipeline/national.toml"
    cat >"$pipeline" <<'EOF'
[pipeline]
name  = "render-report-check"
rules = "national.toml"

[inputs]
ledger   = "ledger"
encoding = "utf-8"

[outputs]
dir    = "out"
tables = ["person_status", "person_month", "gaps", "findings", "rejects"]
EOF
    python3 - "$tmp/pipeline/ledger/ledger.csv" <<'EOF'
import random, sys
W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
C = "10X98765432"
def pid(region, birth, seq):
    body = f"{region}{birth}{seq:03d}"
    return body + C[sum(int(d) * w for d, w in zip(body, W)) % 11]
rnd = random.Random(7)
regions = ["370202", "370203", "370211", "110105", "110108", "440305", "440306",
           "310104", "310115", "320102", "330106", "420102", "510104", "610113",
           "210102", "350203", "500103"]
months = [(y, m) for y in range(2019, 2026) for m in range(1, 13)][: 6 * 12 + 6]
rows = ["person_id,period,scheme,payer,amount,base,paid_on,region,employer_id,txn_id"]
txn = 0
def row(p, y, m, scheme, payer, amount, base, paid, region):
    global txn
    txn += 1
    rows.append(f"{p},{y:04d}-{m:02d},{scheme},{payer},{amount},{base},{paid},{region},E{txn % 17},T{txn}")
for i in range(160):
    region = regions[i % len(regions)] if i % 3 else regions[i % 4]
    birth = f"{1960 + i % 40}{1 + i % 12:02d}{1 + i % 28:02d}"
    p = pid(region, birth, i)
    if i % 9 == 0:  # resident: January rows paid in the December window before
        for y in range(2019, 2026):
            if rnd.random() < 0.8:
                row(p, y, 1, "resident", "individual", "380.00", "", f"{y - 1}-12-10", region)
        continue
    scheme, payer = ("flexible", "individual") if i % 5 == 0 else ("employee", "employer")
    start = rnd.randrange(0, 30)
    gaps = set()
    for _ in range(rnd.randrange(0, 4)):
        a = rnd.randrange(start, len(months))
        gaps.update(range(a, a + rnd.choice([1, 1, 2, 3, 5, 8, 14, 30])))
    base = 4000 + 100 * (i % 50)
    for k in range(start, len(months)):
        if k in gaps:
            continue
        y, m = months[k]
        late = rnd.random() < 0.05
        py, pm = (y, m + 2) if late else (y, m)
        if pm > 12:
            py, pm = py + 1, pm - 12
        row(p, y, m, scheme, payer, f"{base / 10:.2f}", f"{base}.00", f"{py:04d}-{pm:02d}-15", region)
# A few bad rows (rejects) and one paid after as_of (future).
good = pid("370202", "19850312", 11)
row(good, 2025, 6, "employee", "employer", "500.00", "5000.00", "2025-07-20", "370202")
row("370202198513120113", 2024, 3, "employee", "employer", "500.00", "5000.00", "2024-03-15", "370202")
row(good, 2024, 13, "employee", "employer", "500.00", "5000.00", "2024-03-15", "370202")
row(good, 2024, 3, "employee", "employer", "5x0.00", "5000.00", "2024-03-15", "370202")
row(good, 2024, 3, "employee", "employer", "500.00", "5000.00", "2024-02-30", "370202")
row(good, 2024, 3, "employee", "boss", "500.00", "5000.00", "2024-03-15", "370202")
row(good, 2024, 3, "employee", "employer", "500.00", "5000.00", "2024-03-15", "37020")
with open(sys.argv[1], "w") as f:
    f.write("\n".join(rows) + "\n")
EOF
fi

"$tmp/ledgerflow" run "$pipeline" --out "$out" --quiet || status=$?
status="${status:-0}"
if [[ "$status" != 0 && "$status" != 3 ]]; then
    echo "render_report: ledgerflow run exited with $status" >&2
    exit 1
fi
shopt -s nullglob
reports=("$out"/_reports/*.html)
if [[ ${#reports[@]} -ne 1 ]]; then
    echo "render_report: expected one report under $out/_reports, found ${#reports[@]}" >&2
    echo "  (was the binary built from this checkout? a shared CARGO_TARGET_DIR can swap it)" >&2
    exit 1
fi
report="${reports[0]}"
render_self_contained render_report "$report"

png="$tmp/report.png"
render_screenshot render_report "$report" "$png" 2400

# Which series have bars depends on the data; two palette colours at least must show.
python3 tests/png_check.py "$png" render_report 2 active=66bb6a suspended=e57373 \
    "employee gaps=5c6bc0" "resident gaps=ab47bc" "one-series bars=5c7cfa"
echo "report: $report"
echo "screenshot: $png"
