# crawlbox tasks. `just --list` shows them all.

# Arguments reach the commands as they were given ("$@"), so JSON input
# with spaces and quotes survives: `{{args}}` would be split again by the
# shell.
set positional-arguments

# Run a plugin: just run guest.wasm --input '{"start": ["https://example.com/"]}'
run plugin *args:
    cargo run --release -- run "$@"

# Crawl the built-in demo site with the example plugin (no internet needed).
demo *args:
    cargo run --release -- demo "$@"

# Build the example and test guests (wasm32-wasip2) into target/wasm-guests.
build-guests:
    cargo build --release --target wasm32-wasip2 --manifest-path guests/Cargo.toml --target-dir target/wasm-guests

# The whole test suite (what CI runs).
test:
    cargo test --release --workspace

# Formatting and lints, host and guests.
check:
    cargo fmt --all -- --check
    cargo fmt --manifest-path guests/Cargo.toml --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    cargo clippy --manifest-path guests/Cargo.toml --target wasm32-wasip2 --target-dir target/wasm-guests -- -D warnings

# Throughput against native hyper, aiohttp and stock wasmtime (the shared kit), then ratios.
bench:
    bench/run.sh

# Latency mode: every client against a slow local server at C=64 and C=512.
bench-latency:
    bench/latency.sh

# Spider crawls over Redis: one worker vs three vs one process (the shared kit's nginx).
bench-workers:
    bench/workers.sh

# Real-site crawl: every example, Scrapy and a native baseline over rustdoc pages (bench/site).
bench-site:
    bench/site/run.sh
