//! crawlbox's WebAssembly runtime: runs untrusted scraping plugins.
//!
//! A [`Runtime`] holds one wasmtime [`Engine`](wasmtime::Engine) (async,
//! epoch interruption), one component linker and the process's
//! [`crawlbox_net::Client`]. [`Runtime::load`] compiles a plugin once and
//! pre-instantiates it; [`Runtime::run`] gives each run a fresh instance
//! with its own store, limits, network [`Session`](crawlbox_net::Session)
//! and record sink, all given as one [`RunSpec`]. [`Runtime::spider`]
//! instantiates a spider for a crawl loop to drive (the `crawlbox-crawl`
//! crate: this one knows nothing of frontiers).
//!
//! A plugin is a component of the `crawlbox:plugin/scraper` world, or a
//! plain `wasi:cli/command` (what `wasmtime run` runs; its stdout lines are
//! its records). What a plugin gets:
//! * `crawlbox:plugin/host` (fetch, fetch-all, emit, log), see `wit/plugin.wit`;
//! * `wasi:http/outgoing-handler`, served by the same pooled client;
//! * WASI 0.2 CLI basics: clocks, random, an empty stdin, stdout and stderr
//!   that go to the log (never into the records), exit.
//!
//! What it does not get: preopened directories, environment variables,
//! arguments, sockets (`wasi:sockets` calls are refused), the host's stdin.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use std::sync::Arc;
//! use crawlbox_net::{Client, ClientConfig, EgressPolicy, SessionConfig};
//! use tokio_util::sync::CancellationToken;
//! use crawlbox_runtime::{Input, Limits, Runtime, RecordSink, RunSpec};
//!
//! struct Stdout;
//! impl RecordSink for Stdout {
//!     fn write(&self, _plugin: &str, record: &str) -> std::io::Result<()> {
//!         println!("{record}");
//!         Ok(())
//!     }
//! }
//!
//! let runtime = Runtime::new(Client::new(ClientConfig::default())?)?;
//! let plugin = runtime.load("crawler", &std::fs::read("crawler.wasm")?)?;
//! let session = runtime.client().session(SessionConfig {
//!     egress: EgressPolicy::new(["https://example.com"], [] as [&str; 0])?,
//!     ..SessionConfig::default()
//! });
//! let report = runtime
//!     .run(RunSpec {
//!         plugin,
//!         input: Input::json("{}"),
//!         limits: Limits::default(),
//!         session,
//!         sink: Arc::new(Stdout),
//!         cancel: CancellationToken::new(),
//!     })
//!     .await;
//! println!("{:?} after {} records", report.outcome, report.records);
//! # Ok(()) }
//! ```

mod engine;
mod host;
mod host_async;
mod http_hooks;
mod output;
mod run;
mod shared;
mod spider;
mod state;

pub use engine::{LoadError, MAX_COMPONENT_BYTES, Plugin, Runtime, read_component};
pub use output::{MAX_RECORD_LINE, RecordSink, escape_untrusted, has_control_characters};
pub use run::{Input, Limits, Outcome, RunReport, RunSpec, wall_limit};
pub use spider::{Follow, ItemBudget, Parsed, Spider, Yielded};
