#!/usr/bin/env bash
# `just bench`: crawlbox beside native hyper, aiohttp and stock
# `wasmtime run -S http` in the same runs of the shared kit, at C=8 and C=64,
# N=20000, on /small and /page/{i}; then the ratios that matter for crawlbox.
#
# Clients added to the kit's (EXTRA):
#   crawlbox-batch       guests/batch-fetch over host fetch-all          (target >= 0.9x native-hyper)
#   crawlbox-queue       the same guest over a host fetch-queue: results as they complete
#   crawlbox-wasi-http   guests/wasi-http-fetch over standard wasi:http  (target >= 0.6x native-hyper)
#   crawlbox-wasi-http-raw  the same guest, raw wasi:http calls (no wstd)
#   crawlbox-async-p3    guests/async-fetch, crawlbox:plugin/host-async fetch (an async func), under --wasip3
#   crawlbox-wasi-http-p3   guests/p3-fetch, WASI 0.3 under --wasip3 (issue 18 target >= 0.8x native-hyper)
#   crawlbox-queue-report   crawlbox-queue with --report: the cost of the report's bookkeeping
#   crawlbox-wasi-http-report  crawlbox-wasi-http with --report
#   crawlbox-batch-h2c   batch over HTTP/2 prior knowledge (:18081)      (target >= 0.8x native-hyper-h2)
#   crawlbox-queue-h2c   queue over HTTP/2 prior knowledge
#   crawlbox-command     guests/http-command, a plain wasi:cli command, under crawlbox
#   wasmtime-stock       the same command under `wasmtime run -S http` (bench/setup-wasmtime.sh, cached)
#
# Environment: N, CONC, REPEATS (default 5), PATHS ("/small /page/{i}"),
#   CLIENTS (kit clients, default aiohttp,native-hyper,native-hyper-h2), BENCH_KIT.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kit="${BENCH_KIT:-$root/../shared/bench}"
[[ -x "$kit/run.sh" ]] || { echo "bench: no benchmark kit at $kit (set BENCH_KIT)" >&2; exit 2; }

# The guests it runs are test guests (not built for the binary alone).
(cd "$root" && cargo build --release -p crawlbox -p crawlbox-guest-artifacts --features crawlbox-guest-artifacts/test-guests)
"$root/bench/setup-wasmtime.sh" >/dev/null

c="$root/bench/crawlbox-client"
w="$root/bench/wasmtime-client"
extra="crawlbox-batch=$c --variant batch -n {n} -c {c} -b {h1} -p {path}"
extra+=";crawlbox-queue=$c --variant queue -n {n} -c {c} -b {h1} -p {path}"
extra+=";crawlbox-queue-report=$c --variant queue-report -n {n} -c {c} -b {h1} -p {path}"
extra+=";crawlbox-wasi-http=$c --variant wasi-http -n {n} -c {c} -b {h1} -p {path}"
extra+=";crawlbox-wasi-http-report=$c --variant wasi-http-report -n {n} -c {c} -b {h1} -p {path}"
extra+=";crawlbox-wasi-http-raw=$c --variant wasi-http-raw -n {n} -c {c} -b {h1} -p {path}"
extra+=";crawlbox-async-p3=$c --variant async-p3 -n {n} -c {c} -b {h1} -p {path}"
extra+=";crawlbox-wasi-http-p3=$c --variant wasi-http-p3 -n {n} -c {c} -b {h1} -p {path}"
extra+=";crawlbox-batch-h2c=$c --variant batch-h2c -n {n} -c {c} -b {h2} -p {path}"
extra+=";crawlbox-queue-h2c=$c --variant queue-h2c -n {n} -c {c} -b {h2} -p {path}"
extra+=";crawlbox-command=$w crawlbox -n {n} -c {c} -b {h1} -p {path}"
extra+=";wasmtime-stock=$w stock -n {n} -c {c} -b {h1} -p {path}"
if [[ -n "${EXTRA:-}" ]]; then extra+=";$EXTRA"; fi

for path in ${PATHS:-/small /page/\{i\}}; do
    out="/tmp/bench-c/results/crawlbox-$(date +%Y%m%d-%H%M%S)"
    N="${N:-20000}" CONC="${CONC:-8,64}" REPEATS="${REPEATS:-5}" BENCH_PATH="$path" \
        CLIENTS="${CLIENTS:-aiohttp,native-hyper,native-hyper-h2}" EXTRA="$extra" OUT="$out" \
        "$kit/run.sh"
    python3 "$root/bench/ratios.py" "$out/summary.json"
done
