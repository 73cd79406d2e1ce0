#!/usr/bin/env bash
# Renders `ledgerflow explain --format html` in headless Chromium and checks it.
#
#   tests/render_explain.sh           # from the repository root
#
# Builds ledgerflow, explains scenario 01's person as of 2025-06 (tests/scenarios/
# 01_…toml: the bridged gap with deadline 2025-09-30, back-paid 2025-06-15, benefits
# from 2025-06-16), checks the page names those dates and fetches nothing, screenshots
# it and checks the PNG: size, many colours, mostly not background, and the month
# strip's and gap bar's colours drawn. Prints the PNG path. Needs python3 and chromium
# (`apt-get install -y chromium`).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/ledgerflow-explain.XXXXXX")"

# shellcheck source=tests/render_lib.sh
source "$root/tests/render_lib.sh"
render_find_chromium render_explain
render_build

mkdir -p "$tmp/pipeline"
python3 - "$root/tests/scenarios/01_employee_short_gap_employer_backpay.toml" \
    "$tmp/pipeline/ledger.csv" <<'PY'
import sys, tomllib
scenario = tomllib.load(open(sys.argv[1], "rb"))
open(sys.argv[2], "w").write(scenario["inputs"]["ledger"].lstrip())
PY
cat >"$tmp/pipeline/explain.toml" <<TOML
[pipeline]
name  = "render-explain-check"
rules = "$root/pipelines/rules/national.toml"

[inputs]
ledger = "ledger.csv"

[outputs]
dir = "out"
TOML

page="$tmp/explain.html"
"$tmp/ledgerflow" explain "$tmp/pipeline/explain.toml" --person 370202198503120113 \
    --as-of 2025-06 --format html >"$page"
render_self_contained render_explain "$page"
for fact in "deadline 2025-09-30" "back-paid 2025-06-15" "benefits from 2025-06-16"; do
    if ! grep -q "$fact" "$page"; then
        echo "render_explain: $page lacks \"$fact\"" >&2
        exit 1
    fi
done

png="$tmp/explain.png"
render_screenshot render_explain "$page" "$png" 1600
# The strip has active and restored months; the gap bar is an employee gap.
python3 tests/png_check.py "$png" render_explain 3 active=66bb6a restored=4fc3f7 \
    "employee gap=5c6bc0" "deadline=c62828" "back-paid=2e7d32" "benefits from=1565c0"
echo "page: $page"
echo "screenshot: $png"
