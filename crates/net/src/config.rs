use std::time::Duration;

/// Settings of a [`Client`](crate::Client). Every field has a documented
/// default; build one with `ClientConfig { concurrency: 16, ..Default::default() }`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// Requests in flight at once, across all hosts and all sessions.
    /// A request holds its slot until its response body is read or dropped.
    /// Default: 64.
    pub concurrency: usize,
    /// Open connections per host (scheme, host and port), idle ones included.
    /// Default: 8.
    pub per_host: usize,
    /// Time to resolve the host and establish TCP (and TLS). Default: 10 s.
    pub connect_timeout: Duration,
    /// Time from sending a request to the response headers. Default: 30 s.
    pub first_byte_timeout: Duration,
    /// Time for the whole request, body included, redirects included.
    /// Default: 60 s.
    pub request_timeout: Duration,
    /// How long an idle keep-alive connection is kept for reuse. Default: 90 s.
    pub idle_timeout: Duration,
    /// Redirects [`Session::fetch`](crate::Session::fetch) follows before it
    /// gives up with `too-many-redirects`. Default: 10.
    pub max_redirects: u32,
    /// Largest response body accepted, in bytes; a larger one fails with
    /// `too-large` and its connection is dropped. Default: 16 MiB.
    pub max_response_bytes: u64,
    /// Largest header section accepted in a response, and sent in a request,
    /// in bytes. Default: 64 KiB.
    pub max_header_bytes: usize,
    /// Open and drive connections, and run `fetch` and `fetch_many`, on a
    /// thread of the client's own, leaving the caller's thread to run
    /// plugins. Measured on 2 cores beside the server: it helps a plugin
    /// that makes many small `wasi:http` calls a little and costs the batch
    /// path more (results cross threads), so it is off by default.
    pub network_thread: bool,
    /// Times `fetch` sends a request again after a connect error, a
    /// timeout or a 408/429/500/502/503/504 response, for idempotent methods
    /// only, waiting `retry_backoff * 2^n` with full jitter (or the response's
    /// `Retry-After`). Default: 2.
    pub retries: u32,
    /// The first retry's backoff. Default: 250 ms.
    pub retry_backoff: Duration,
    /// Longest `Retry-After` honoured; a response asking for more is
    /// returned as it is. Default: 30 s.
    pub max_retry_after: Duration,
    /// Least time between two requests to one host (scheme, host, port),
    /// across every plugin. Default: none.
    pub per_host_delay: Duration,
    /// Random extra delay, as a fraction of `per_host_delay` (0.5: up to
    /// 50 % more). Default: 0.
    pub delay_jitter: f64,
    /// Adapt each host's delay to the server, as Scrapy's AutoThrottle
    /// does: aim at `latency / autothrottle_target` between requests
    /// (a slower server gets fewer requests; only a 2xx may lower the
    /// delay), and double it (from 100 ms) on 429 and 503. Never below
    /// `per_host_delay` or a robots.txt `Crawl-delay`, never above 60 s.
    /// Default: false.
    pub autothrottle: bool,
    /// AutoThrottle's target: the number of requests it aims to have in
    /// flight to each host. Default: 1.0 (Scrapy's default).
    pub autothrottle_target: f64,
    /// Obey each site's robots.txt for `user_agent`'s product token
    /// (fetched once per site; see [`crate::robots`]). Default: true.
    pub robots: bool,
    /// `fetch` asks for gzip, deflate, br and zstd and decodes the body
    /// (the size limit applies to the decoded bytes). Default: true.
    pub decompress: bool,
    /// How long a DNS answer is reused. Default: 10 s.
    pub dns_ttl: Duration,
    /// `host:port`s to speak HTTP/2 to without TLS, by prior knowledge
    /// ("h2c"), e.g. `127.0.0.1:8081`. Over TLS, HTTP/2 is chosen by ALPN
    /// whenever the server offers it. Default: none.
    pub h2c_hosts: Vec<String>,
    /// Root certificates (PEM) trusted beside the webpki roots, e.g. an
    /// internal CA. Default: none.
    pub extra_root_certs: Vec<u8>,
    /// `user-agent` sent when a request has none.
    /// Default: `crawlbox/<version> (+https://github.com/crawlbox/crawlbox)`.
    pub user_agent: String,
}

/// The default `user-agent`.
pub const DEFAULT_USER_AGENT: &str = concat!(
    "crawlbox/",
    env!("CARGO_PKG_VERSION"),
    " (+https://github.com/crawlbox/crawlbox)"
);

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            concurrency: 64,
            per_host: 8,
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(90),
            max_redirects: 10,
            max_response_bytes: 16 * 1024 * 1024,
            max_header_bytes: 64 * 1024,
            network_thread: false,
            retries: 2,
            retry_backoff: Duration::from_millis(250),
            max_retry_after: Duration::from_secs(30),
            per_host_delay: Duration::ZERO,
            delay_jitter: 0.0,
            autothrottle: false,
            autothrottle_target: 1.0,
            robots: true,
            decompress: true,
            dns_ttl: Duration::from_secs(10),
            h2c_hosts: Vec::new(),
            extra_root_certs: Vec::new(),
            user_agent: DEFAULT_USER_AGENT.to_owned(),
        }
    }
}

/// A [`ClientConfig`] that cannot work.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    /// `concurrency` is 0.
    #[error("concurrency must be at least 1")]
    ZeroConcurrency,
    /// `per_host` is 0.
    #[error("per-host connections must be at least 1")]
    ZeroPerHost,
    /// A timeout is zero.
    #[error("the {0} timeout must be longer than zero")]
    ZeroTimeout(&'static str),
    /// The jitter is negative or absurd.
    #[error("the delay jitter must be between 0 and 10 (a fraction of the delay), not {0}")]
    Jitter(f64),
    /// An extra root certificate is not a valid PEM certificate.
    #[error("invalid root certificate: {0}")]
    Certificate(String),
    /// The network thread could not be started.
    #[error("cannot start the network thread: {0}")]
    NetworkThread(String),
    /// The AutoThrottle target is not a positive number.
    #[error("the autothrottle target must be a positive number of requests, not {0}")]
    AutothrottleTarget(f64),
    /// The user agent is not a valid header value.
    #[error("the user agent {0:?} is not a valid header value")]
    InvalidUserAgent(String),
}

impl ClientConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.concurrency == 0 {
            return Err(ConfigError::ZeroConcurrency);
        }
        if self.per_host == 0 {
            return Err(ConfigError::ZeroPerHost);
        }
        for (name, value) in [
            ("connect", self.connect_timeout),
            ("first-byte", self.first_byte_timeout),
            ("request", self.request_timeout),
        ] {
            if value.is_zero() {
                return Err(ConfigError::ZeroTimeout(name));
            }
        }
        if !(0.0..=10.0).contains(&self.delay_jitter) {
            return Err(ConfigError::Jitter(self.delay_jitter));
        }
        if !(self.autothrottle_target.is_finite() && self.autothrottle_target > 0.0) {
            return Err(ConfigError::AutothrottleTarget(self.autothrottle_target));
        }
        if http::HeaderValue::from_str(&self.user_agent).is_err() {
            return Err(ConfigError::InvalidUserAgent(self.user_agent.clone()));
        }
        Ok(())
    }
}
