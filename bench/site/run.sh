#!/usr/bin/env bash
# `just bench-site`: a real-site crawl benchmark (issue 14, item 4).
#
# The site is the rustdoc output of reqwest 0.12.28 and its dependencies
# (bench/site/gen, cached in target/bench-site/doc), served by nginx on
# 127.0.0.1:18090. One run crawls it from /reqwest/index.html with
#   native-hyper-lol_html  bench/site/native (tokio multi-thread, hyper, lol_html)
#   spider-rs              bench/site/spider (the `spider` crate), when built
#   example-crawler        guests/example-crawler under `crawlbox run` (host extraction)
#   example-crawler-guest-parse  the same, parsing inside the guest (scraper in wasm)
#   example-spider         guests/example-spider under `crawlbox crawl`
#   python-example         guests/python-example under `crawlbox run`
#   js-example             guests/js-example under `crawlbox run`
#   p3-crawler             guests/p3-crawler (async Rust, WASI 0.3) under `crawlbox run --wasip3`
#   python-async           guests/python-async (asyncio, WASI 0.3) under `crawlbox run --wasip3`
#   scrapy                 a Scrapy 2.19 CrawlSpider (bench/site/scrapy_crawl.py)
# and checks every crawl against the page set bench/site/expected.py finds.
# Then one table: pages found, missing, duplicates, pages/s, CPU s, peak RSS.
#
# Environment:
#   REPEATS (1), CONC (64: requests in flight for every crawler)
#   CRAWLBOX  crawlbox binary (default target/release/crawlbox), or several
#             as `label=path,label=path` to compare builds in one run
#   EXTRA     `name=COMMAND;...` more crawlers ({url} {base} {port} {out} {conc})
#   CRAWLERS  comma list: run only these
#   BUILD=0   do not run the crawlbox/guests cargo build (use what is in target/)
#   SPIDER=0  do not build spider-rs
#   SITE_PORT (18090), NGINX_WORKERS (1)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
site="$root/bench/site"
out="$root/target/bench-site"
mkdir -p "$out"

need() { # command, Debian package
    command -v "$1" >/dev/null 2>&1 || [[ -x "$1" ]] || {
        echo "bench-site: installing $2" >&2
        apt-get install -y -qq "$2" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }
    }
}
need /usr/sbin/nginx nginx
need /usr/bin/time time

# crawlbox and the guests' wasm (one cargo build at a time, shared target/).
if [[ "${BUILD:-1}" != 0 ]]; then
    echo "bench-site: building crawlbox and the guests" >&2
    (cd "$root" && cargo build --release -q -p crawlbox -p crawlbox-guest-artifacts \
        --features crawlbox-guest-artifacts/test-guests,crawlbox-guest-artifacts/python,crawlbox-guest-artifacts/js)
fi
for w in wasm32-wasip2/release/example_crawler.wasm wasm32-wasip2/release/example_spider.wasm \
         wasm32-wasip2/release/p3_crawler.wasm components/python_example.wasm \
         components/js_example.wasm components/python_async.wasm; do
    [[ -f "$root/target/wasm-guests/$w" ]] || {
        echo "bench-site: no target/wasm-guests/$w: build the guests (drop BUILD=0)" >&2; exit 1; }
done

# The site and its expected page set (cached).
"$site/gen.sh"

# The native crawlers.
echo "bench-site: building the native baseline" >&2
cargo build --release --locked -q --manifest-path "$site/native/Cargo.toml" \
    --target-dir "$out/native-target"
if [[ "${SPIDER:-1}" != 0 && -f "$site/spider/Cargo.toml" ]]; then
    echo "bench-site: building spider-rs" >&2
    cargo build --release --locked -q --manifest-path "$site/spider/Cargo.toml" \
        --target-dir "$out/spider-target"
fi

# Scrapy, pinned.
req_key=$(sha256sum "$site/requirements.txt" | cut -d' ' -f1)
if [[ ! -x "$out/venv/bin/python" || "$(cat "$out/venv/.requirements" 2>/dev/null)" != "$req_key" ]]; then
    echo "bench-site: installing Scrapy into $out/venv" >&2
    rm -rf "$out/venv"
    python3 -m venv "$out/venv"
    "$out/venv/bin/pip" install -q -r "$site/requirements.txt"
    echo "$req_key" >"$out/venv/.requirements"
fi

exec python3 "$site/run.py"
