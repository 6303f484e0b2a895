//! The guests under `guests/`, built for `wasm32-wasip2` by this crate's
//! build script: paths for tests, and the example crawler's bytes for
//! `crawlbox demo`.

include!(concat!(env!("OUT_DIR"), "/artifacts.rs"));

/// The example crawler component (`guests/example-crawler`), embedded.
pub fn example_crawler() -> &'static [u8] {
    static BYTES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/example_crawler.wasm"));
    BYTES
}
