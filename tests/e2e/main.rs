//! crawlbox end to end: the real `crawlbox` binary, real guests (built from
//! `guests/` by crawlbox-guest-artifacts), and a local site on 127.0.0.1
//! that counts connections and requests in flight. No test touches the
//! internet.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod archive;
mod budgets;
mod cli;
mod distributed;
mod hostile_output;
mod hostile_sites;
mod kit;
mod languages;
mod metrics;
mod network;
mod report;
mod sandbox;
mod spider;
mod support;
mod wasip3;

/// A throwaway `redis-server`, shared with crawlbox-frontier-redis's tests.
#[path = "../../crates/frontier-redis/tests/support/mod.rs"]
#[allow(dead_code)]
mod redis_support;
