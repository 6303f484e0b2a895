//! The guests under `guests/`, built for `wasm32-wasip2` by this crate's
//! build script: paths for tests, and the example crawler's bytes for
//! `crawlbox demo`.
//!
//! Without features only `guests/example-crawler` is built: this crate
//! exposes [`example_crawler()`] and its path, `EXAMPLE_CRAWLER`. Features:
//!
//! * `test-guests`: also every other Rust guest (the spiders, the fetch
//!   guests, the commands and the hostile plugins), each path a `pub const`
//!   (`EXAMPLE_SPIDER`, `HTTP_COMMAND`, `HOSTILE_PROBE`, ...). The tests
//!   enable it through their `[dev-dependencies]`; the release binary does
//!   not need it.
//! * `python`: also the Python guests (`PYTHON_EXAMPLE`, `PYTHON_WASI_HTTP`,
//!   `PYTHON_SPIDER`); implies `test-guests`.
//! * `js`: also the JavaScript guests (`JS_EXAMPLE`, `JS_SPIDER`); implies
//!   `test-guests`.

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));

/// The example crawler component (`guests/example-crawler`), embedded.
pub fn example_crawler() -> &'static [u8] {
    static BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/example_crawler.wasm"));
    BYTES
}
