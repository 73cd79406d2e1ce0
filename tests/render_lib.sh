# Shared by tests/render_report.sh and tests/render_explain.sh (sourced, not run):
# find Chromium, build this checkout's binary into $tmp/ledgerflow, take a screenshot.
# Expects $root (the repository) and $tmp (a scratch folder) to be set.

# render_find_chromium NAME: sets $chromium or exits 2 with an install hint.
render_find_chromium() {
    chromium="${CHROMIUM:-}"
    if [[ -z "$chromium" ]]; then
        for c in /usr/bin/chromium /usr/bin/chromium-browser /usr/bin/google-chrome; do
            if [[ -x "$c" ]]; then chromium="$c"; break; fi
        done
    fi
    if [[ -z "$chromium" ]]; then
        echo "$1: chromium not found; install it with: apt-get install -y chromium" >&2
        exit 2
    fi
}

# render_build: builds ledgerflow and copies it to $tmp/ledgerflow.
# A target folder shared between worktrees (CARGO_TARGET_DIR) can hold another
# checkout's binary that cargo takes for fresh, and another checkout's build can
# replace ours at any time: touch the crate roots so that this checkout is built,
# and run a copy taken as soon as cargo is done (this is `cargo run`, made safe).
render_build() {
    (cd "$root" && touch src/lib.rs src/main.rs)
    local bin
    bin="$(cd "$root" && cargo build --quiet --message-format=json-render-diagnostics |
        python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "ledgerflow":
        print(m["executable"])')"
    cp "$bin" "$tmp/ledgerflow"
}

# render_screenshot NAME PAGE PNG HEIGHT: headless Chromium, 1280 wide, no network.
render_screenshot() {
    local profile="$tmp/chromium-profile"
    mkdir -p "$profile"
    "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$profile" --window-size=1280,"$4" \
        --screenshot="$3" "file://$2" >"$tmp/chromium.log" 2>&1 || {
        echo "$1: chromium failed, see $tmp/chromium.log" >&2
        exit 1
    }
}

# render_self_contained NAME PAGE: the page refers to no network and runs no script.
render_self_contained() {
    if grep -Eq 'https?://|<script' "$2"; then
        echo "$1: $2 refers to the network or has a script" >&2
        exit 1
    fi
}
