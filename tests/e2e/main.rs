//! crawlbox end to end: the real `crawlbox` binary, real guests (built from
//! `guests/` by crawlbox-guest-artifacts), and a local site on 127.0.0.1
//! that counts connections and requests in flight. No test touches the
//! internet.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod cli;
mod languages;
mod network;
mod sandbox;
mod spider;
mod support;
