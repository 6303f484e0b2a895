#!/usr/bin/env bash
# `just bench`: crawlbox beside native hyper and aiohttp (and stock wasmtime when
# installed) in the same runs of the shared kit, at C=8 and C=64, N=20000, on
# /small and /page/{i}; then the ratios that matter for crawlbox.
#
# Environment: N, CONC, REPEATS (default 5), PATHS ("/small /page/{i}"),
#   CLIENTS (kit clients, default aiohttp,native-hyper), BENCH_KIT (../shared/bench).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kit="${BENCH_KIT:-$root/../shared/bench}"
[[ -x "$kit/run.sh" ]] || { echo "bench: no benchmark kit at $kit (set BENCH_KIT)" >&2; exit 2; }

(cd "$root" && cargo build --release -p crawlbox)

client="$root/bench/crawlbox-client"
extra="crawlbox-batch=$client --variant batch -n {n} -c {c} -b {h1} -p {path}"
extra+=";crawlbox-wasi-http=$client --variant wasi-http -n {n} -c {c} -b {h1} -p {path}"
if [[ -n "${EXTRA:-}" ]]; then extra+=";$EXTRA"; fi

for path in ${PATHS:-/small /page/\{i\}}; do
    out="/tmp/bench-c/results/crawlbox-$(date +%Y%m%d-%H%M%S)"
    N="${N:-20000}" CONC="${CONC:-8,64}" REPEATS="${REPEATS:-5}" BENCH_PATH="$path" \
        CLIENTS="${CLIENTS:-aiohttp,native-hyper}" EXTRA="$extra" OUT="$out" \
        "$kit/run.sh"
    python3 "$root/bench/ratios.py" "$out/summary.json"
done
