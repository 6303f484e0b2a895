//! crawlbox's outgoing HTTP client.
//!
//! One [`Client`] per process holds one connection pool shared by every
//! plugin and both guest paths (`wasi:http` and `crawlbox:plugin/host`):
//!
//! * HTTP/1.1 keep-alive, and HTTP/2 when a TLS server offers it by ALPN;
//! * a global cap on requests in flight ([`ClientConfig::concurrency`],
//!   default [`DEFAULT_CONCURRENCY`]), held from sending a request until its
//!   body has arrived (the host reads `wasi:http` bodies ahead of the guest),
//!   and shared fairly: round robin, and with several sessions none takes the
//!   last eighth;
//! * a budget of host memory per session for responses it has not taken
//!   ([`ClientConfig::max_buffered_bytes`], [`budget`]);
//! * a hard cap on open connections per host ([`ClientConfig::per_host`],
//!   default [`DEFAULT_PER_HOST`]), enforced where connections are opened, so
//!   the pool can never exceed it;
//! * connect, first-byte and whole-request timeouts
//!   ([`DEFAULT_CONNECT_TIMEOUT`], [`DEFAULT_FIRST_BYTE_TIMEOUT`] and
//!   [`DEFAULT_REQUEST_TIMEOUT`] by default), and a limit on the size of a
//!   response body ([`DEFAULT_MAX_RESPONSE_BYTES`]);
//! * per-run statistics ([`Stats`]): requests, responses by status, bytes,
//!   errors by kind, latency percentiles; and the client's [`traffic`]
//!   per host, for reports and metrics.
//! * optional HTTP proxies ([`ClientConfig::proxies`]), taken round robin
//!   by new connections: a `CONNECT` tunnel for `https` (TLS to the site
//!   inside it), forwarding for plain `http`; credentials added by the host.
//!
//! A run talks to the client through a [`Session`], which owns that run's
//! [egress policy](policy) (allowed hosts, checked on every request and
//! redirect hop; allowed special-purpose networks, checked on the address
//! connected to), request budget and statistics:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use crawlbox_net::{Client, ClientConfig, EgressPolicy, Request, SessionConfig};
//!
//! let client = Client::new(ClientConfig::default())?;
//! let session = client.session(SessionConfig {
//!     egress: EgressPolicy::new(["http://127.0.0.1:8080"], ["127.0.0.1"])?,
//!     ..SessionConfig::default()
//! });
//! let response = session.fetch(Request::get("http://127.0.0.1:8080/")?).await?;
//! println!("{} {} bytes", response.status, response.body.len());
//! println!("{:?}", session.stats().snapshot());
//! # Ok(()) }
//! ```
//!
//! This crate knows nothing of WebAssembly: the runtime adapts guest calls to
//! [`Session::fetch`] (buffered, redirects followed), [`Session::fetch_many`]
//! (a batch), [`FetchQueue`] (results as they complete) and [`Session::send`]
//! (streaming, for `wasi:http`).

mod archive;
mod body;
pub mod budget;
mod client;
mod config;
mod connect;
mod decode;
mod error;
mod fair;
pub mod policy;
mod politeness;
mod pool;
mod proxy;
mod queue;
mod request;
pub mod robots;
mod stats;
pub mod text;
pub mod traffic;
pub mod warc;

#[cfg(feature = "test-support")]
pub mod test_support;

pub use archive::Archive;
pub use body::ResponseBody;
pub use budget::{Charge, DEFAULT_MAX_BUFFERED_BYTES};
pub use client::{Client, HeldBody, ReadBodyError, SendOptions, Session, SessionConfig};
pub use config::{
    ClientConfig, ConfigError, DEFAULT_AUTOTHROTTLE_TARGET, DEFAULT_CONCURRENCY,
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_DELAY_JITTER, DEFAULT_DNS_TTL, DEFAULT_FIRST_BYTE_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_HEADER_BYTES, DEFAULT_MAX_REDIRECTS,
    DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_MAX_RETRY_AFTER, DEFAULT_PER_HOST, DEFAULT_PER_HOST_DELAY,
    DEFAULT_REQUEST_TIMEOUT, DEFAULT_RETRIES, DEFAULT_RETRY_BACKOFF, DEFAULT_USER_AGENT,
};
pub use error::{ErrorKind, FetchError, TimeoutKind};
pub use policy::{EgressPolicy, PolicyError};
pub use queue::FetchQueue;
pub use request::{FORBIDDEN_HEADERS, Request, Response, is_forbidden_header};
pub use stats::{LatencySummary, Stats, StatsSnapshot};
pub use text::{DecodedText, TextDecoding};
pub use traffic::{Traffic, TrafficSnapshot};
