#!/usr/bin/env bash
# Installs stock wasmtime-cli (the same wasmtime version crawlbox uses) once,
# under the bench kit's state directory, for the `wasmtime run -S http` rows.
# Prints the binary's path. It is a long build (~10 minutes on 2 cores) and is
# cached: later runs return at once.
set -euo pipefail
version="${WASMTIME_VERSION:-48.0.8}"
root="${BENCH_STATE:-/tmp/bench-c/state}/wasmtime-$version"
if [[ ! -x "$root/bin/wasmtime" ]]; then
    echo "setup-wasmtime: cargo install wasmtime-cli $version (once, ~10 min)" >&2
    cargo install wasmtime-cli --version "$version" --locked --root "$root" --quiet >&2
fi
echo "$root/bin/wasmtime"
