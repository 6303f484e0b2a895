#!/usr/bin/env bash
# Latency mode: real crawls live at 50-300 ms round trips, where concurrency
# decides throughput. Every client fetches /slow/{ms} from the demo site
# (which answers after that delay; this kernel has no netem) at C=64 and
# C=512; the ideal is C / delay requests per second. Each client's CPU time
# and peak RSS are measured too (bench/measure).
#
# Environment: DELAYS ("50 200"), CONC ("64 512"), REPEATS (3), SECONDS_PER_RUN (2).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kit="${BENCH_KIT:-$root/../shared/bench}"
state="${BENCH_STATE:-/tmp/bench-c/state}"
port="${PORT:-18090}"
"$kit/setup.sh" >/dev/null
(cd "$root" && cargo build --release -p crawlbox -p crawlbox-guest-artifacts --features crawlbox-guest-artifacts/test-guests && cargo build --release -p crawlbox-demo-site --example serve)
"$root/target/release/examples/serve" "$port" 1000 >/dev/null &
server=$!
trap 'kill $server' EXIT
sleep 0.5

m="$root/bench/measure"
c="$root/bench/crawlbox-client"
extras=(
    --extra "aiohttp=$m $state/venv/bin/python $kit/clients/aiohttp_client.py -n {n} -c {c} -b {h1} -p {path}"
    --extra "native-hyper=$m $state/native-target/release/native-client --client hyper -n {n} -c {c} -b {h1} -p {path}"
    --extra "crawlbox-batch=$m $c --variant batch -n {n} -c {c} -b {h1} -p {path}"
    --extra "crawlbox-queue=$m $c --variant queue -n {n} -c {c} -b {h1} -p {path}"
    --extra "crawlbox-wasi-http=$m $c --variant wasi-http -n {n} -c {c} -b {h1} -p {path}"
)
for delay in ${DELAYS:-50 200}; do
    for conc in ${CONC:-64 512}; do
        n=$((conc * 1000 * ${SECONDS_PER_RUN:-2} / delay))
        out="/tmp/bench-c/results/latency-$delay-$conc-$(date +%H%M%S)"
        python3 "$kit/run.py" --clients "" "${extras[@]}" --n "$n" --conc "$conc" \
            --repeats "${REPEATS:-3}" --path "/slow/$delay" --h1 "http://127.0.0.1:$port" \
            --out "$out" >/dev/null 2>&1
        python3 "$root/bench/ratios.py" --latency "$delay" "$out/summary.json"
    done
done
