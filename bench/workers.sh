#!/usr/bin/env bash
# Spider crawls over Redis: pages/s of one worker vs three on this machine,
# against the kit's nginx (/page/N: 16 KiB, links to six other pages), beside
# the single-process `crawlbox crawl` (in-memory frontier). The spider is the
# example spider, seeded with PAGES distinct start URLs.
#
# Environment: PAGES (20000), CONC (64, per worker), REPEATS (3).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kit="${BENCH_KIT:-$root/../shared/bench}"
pages="${PAGES:-20000}"
conc="${CONC:-64}"
repeats="${REPEATS:-3}"
command -v redis-server >/dev/null || {
    echo "bench/workers.sh: installing redis-server" >&2
    apt-get install -y -qq redis-server >/dev/null
}
"$kit/server.sh" start >/dev/null
(cd "$root" && cargo build --release -p crawlbox -p crawlbox-guest-artifacts --features crawlbox-guest-artifacts/test-guests >/dev/null 2>&1)
crawlbox="$root/target/release/crawlbox"
spider="$root/target/wasm-guests/wasm32-wasip2/release/example_spider.wasm"
[[ -f "$spider" ]] || { echo "build the guests first: cargo build --release -p crawlbox -p crawlbox-guest-artifacts --features crawlbox-guest-artifacts/test-guests" >&2; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no >/dev/null &
redis=$!
trap 'kill $redis 2>/dev/null' EXIT
sleep 0.3
url="redis://127.0.0.1:$port/"
input=$(mktemp)
python3 -c "import json,sys; print(json.dumps({'start': ['http://127.0.0.1:18080/page/%d' % i for i in range($pages)]}))" >"$input"
grant=(--allow-host http://127.0.0.1:18080 --allow-network 127.0.0.1 -c "$conc" -q --ignore-robots)

now() { date +%s.%N; }
rate() { python3 -c "print(f'{$1 / ($3 - $2):.0f}')"; }

for r in $(seq 1 "$repeats"); do
    out=$(mktemp)
    t0=$(now)
    "$crawlbox" crawl "$spider" --input-file "$input" "${grant[@]}" -o "$out"
    t1=$(now)
    rm -f "$out"
    echo "single process (in-memory frontier): $(rate "$pages" "$t0" "$t1") pages/s"
    for workers in 1 3; do
        name="bench-$r-$workers"
        "$crawlbox" crawl "$spider" --input-file "$input" --redis "$url" --crawl "$name" \
            --seed-only "${grant[@]}"
        t0=$(now)
        pids=()
        for _ in $(seq 1 "$workers"); do
            "$crawlbox" worker --redis "$url" --crawl "$name" "${grant[@]}" &
            pids+=($!)
        done
        wait "${pids[@]}"
        t1=$(now)
        items=$("$crawlbox" export --redis "$url" --crawl "$name" 2>/dev/null | wc -l)
        echo "$workers worker(s) over Redis: $(rate "$items" "$t0" "$t1") pages/s ($items pages)"
    done
done
rm -f "$input"
