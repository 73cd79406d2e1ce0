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

chromium="${CHROMIUM:-}"
if [[ -z "$chromium" ]]; then
    for c in /usr/bin/chromium /usr/bin/chromium-browser /usr/bin/google-chrome; do
        if [[ -x "$c" ]]; then chromium="$c"; break; fi
    done
fi
if [[ -z "$chromium" ]]; then
    echo "render_report: chromium not found; install it with: apt-get install -y chromium" >&2
    exit 2
fi

# A target folder shared between worktrees (CARGO_TARGET_DIR) can hold another
# checkout's binary that cargo takes for fresh, and another checkout's build can
# replace ours at any time: touch the crate roots so that this checkout is built,
# and run a copy taken as soon as cargo is done (this is `cargo run`, made safe).
touch src/lib.rs src/main.rs
bin="$(cargo build --quiet --message-format=json-render-diagnostics |
    python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "ledgerflow":
        print(m["executable"])')"
cp "$bin" "$tmp/ledgerflow"

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
if grep -Eq 'https?://|<script' "$report"; then
    echo "render_report: $report refers to the network or has a script" >&2
    exit 1
fi

png="$tmp/report.png"
profile="$tmp/chromium-profile"
mkdir -p "$profile"
"$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --window-size=1280,2400 \
    --screenshot="$png" "file://$report" >"$tmp/chromium.log" 2>&1 || {
    echo "render_report: chromium failed, see $tmp/chromium.log" >&2
    exit 1
}

python3 - "$png" <<'EOF'
# A small PNG reader (8-bit RGB/RGBA, non-interlaced: what Chromium writes).
import struct, sys, zlib
path = sys.argv[1]
data = open(path, "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat = 8, b""
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
bpp = 3 if ctype == 2 else 4
raw = zlib.decompress(idat)
stride = w * bpp
prev = bytearray(stride)
colours = {}
for y in range(h):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    if f == 1:
        for i in range(bpp, stride):
            line[i] = (line[i] + line[i - bpp]) & 255
    elif f == 2:
        line = bytearray((a + b) & 255 for a, b in zip(line, prev))
    elif f == 3:
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
    elif f == 4:
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp):
        px = bytes(line[x:x + 3])
        colours[px] = colours.get(px, 0) + 1
    prev = line
total = w * h
background = max(colours.values())
ink = total - background
palette = {"active": "66bb6a", "suspended": "e57373", "employee gaps": "5c6bc0",
           "resident gaps": "ab47bc", "one-series bars": "5c7cfa"}
drawn = [name for name, hexc in palette.items() if colours.get(bytes.fromhex(hexc), 0) >= 50]
print(f"{path}: {w}x{h}, {len(data)} bytes, {len(colours)} colours, "
      f"{100 * ink / total:.1f} % not background, bars drawn: {', '.join(drawn) or 'none'}")
problems = []
if len(data) < 20_000:
    problems.append("file smaller than 20 kB")
if len(colours) < 16:
    problems.append("fewer than 16 colours")
if ink < total // 50:
    problems.append("less than 2 % of pixels differ from the background")
# Which series have bars depends on the data; two palette colours at least must show.
if len(drawn) < 2:
    problems.append("chart colours not drawn (bars missing)")
if problems:
    sys.exit("render_report: blank or broken screenshot: " + "; ".join(problems))
EOF
echo "report: $report"
echo "screenshot: $png"
