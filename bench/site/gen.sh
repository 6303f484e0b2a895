#!/usr/bin/env bash
# Generates the bench site: `cargo doc` of bench/site/gen (reqwest 0.12.28 and
# its dependencies, pinned by bench/site/gen/Cargo.lock, toolchain pinned by
# rust-toolchain.toml) into target/bench-site/doc, then the expected page set
# (bench/site/expected.py) into target/bench-site/expected.json, and checks
# the site's figures: >= 1,500 reachable pages, >= 40 KB and >= 100 links per
# page on average.
#
# Cached: nothing is rebuilt while target/bench-site/doc.stamp matches the
# generator's Cargo.toml, Cargo.lock and the toolchain. FORCE=1 rebuilds.
# (openssl-sys, under reqwest's default native-tls, runs a build script that
# wants pkg-config and libssl-dev: installed with apt when missing.)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
site="$root/bench/site"
out="$root/target/bench-site"
start="/reqwest/index.html"
mkdir -p "$out"

key=$(cd "$site/gen" && cat Cargo.toml Cargo.lock src/lib.rs "$root/rust-toolchain.toml" | sha256sum | cut -d' ' -f1)
if [[ "${FORCE:-0}" != 1 && -f "$out/doc.stamp" && "$(cat "$out/doc.stamp")" == "$key" \
      && -f "$out/doc$start" && -f "$out/expected.json" ]]; then
    echo "bench-site: site cached in $out/doc" >&2
else
    echo "bench-site: cargo doc of bench/site/gen into $out/doc (a few minutes)" >&2
    rm -rf "$out/doc" "$out/doc.stamp" "$out/expected.json"
    if ! pkg-config --exists openssl 2>/dev/null; then
        echo "bench-site: installing pkg-config and libssl-dev (openssl-sys's build script)" >&2
        apt-get install -y -qq pkg-config libssl-dev >/dev/null \
            || { apt-get update -qq && apt-get install -y -qq pkg-config libssl-dev >/dev/null; }
    fi
    (cd "$site/gen" && cargo doc --locked -q --target-dir "$out")
    python3 "$site/expected.py" "$out/doc" --start "$start" --json "$out/expected.json" --quiet
    echo "$key" >"$out/doc.stamp"
fi

python3 - "$out/expected.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))["stats"]
print(f"bench-site: {s['pages']} pages reachable from /reqwest/index.html "
      f"(of {s['html_files']} HTML files), {s['avg_kb']} KB and {s['avg_links']} "
      f"<a href> per page on average ({s['avg_site_links']} to the site), "
      f"{s['total_mb']} MB, {s['dangling']} dangling links (404s)", file=sys.stderr)
bad = [m for m, ok in [("pages >= 1500", s["pages"] >= 1500), ("avg KB >= 40", s["avg_kb"] >= 40),
                       ("avg links >= 100", s["avg_links"] >= 100)] if not ok]
if bad:
    sys.exit(f"bench-site: the site misses {', '.join(bad)}")
EOF
