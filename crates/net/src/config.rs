use std::time::Duration;

use crate::Archive;

/// Settings of a [`Client`](crate::Client). Every field has a documented
/// default; build one with `ClientConfig { concurrency: 16, ..Default::default() }`.
#[derive(Clone, PartialEq)]
pub struct ClientConfig {
    /// Requests in flight at once, across all hosts and all sessions.
    /// A request holds its slot until its response body has arrived (or it
    /// failed). While several sessions exist, none may hold more than this
    /// less an eighth (at least one slot).
    /// Default: [`DEFAULT_CONCURRENCY`].
    pub concurrency: usize,
    /// Open connections per host (scheme, host and port), idle ones included.
    /// Default: [`DEFAULT_PER_HOST`].
    pub per_host: usize,
    /// Time to resolve the host and establish TCP (and TLS). A `wasi:http`
    /// guest's `connect-timeout` can only tighten it. Default:
    /// [`DEFAULT_CONNECT_TIMEOUT`].
    pub connect_timeout: Duration,
    /// Time from sending a request to the response headers. Default:
    /// [`DEFAULT_FIRST_BYTE_TIMEOUT`].
    pub first_byte_timeout: Duration,
    /// Time for the whole request, body included, redirects included, and
    /// for [`Session::fetch`](crate::Session::fetch) every retry included:
    /// each redirect hop and each retry gets only what the ones before it
    /// (and the backoff between them) left, and no retry is made once it is
    /// spent. So a server that trickles its body until the deadline costs
    /// one timeout, not one per try. Only time after each request is sent
    /// counts (and the backoff between tries): not waiting for the site's
    /// robots.txt, a politeness turn or a slot under the caps. Default:
    /// [`DEFAULT_REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
    /// How long an idle keep-alive connection is kept for reuse. Default:
    /// [`DEFAULT_IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// Redirects [`Session::fetch`](crate::Session::fetch) follows before it
    /// gives up with `too-many-redirects`. Default: [`DEFAULT_MAX_REDIRECTS`].
    pub max_redirects: u32,
    /// Largest response body accepted, in bytes; a larger one fails with
    /// `too-large` and its connection is dropped. Default:
    /// [`DEFAULT_MAX_RESPONSE_BYTES`].
    pub max_response_bytes: u64,
    /// Host memory one session's buffered responses may hold at once, in
    /// bytes: bodies the host has read and the plugin has not taken yet
    /// (a `fetch-all` batch, `fetch-queue` results, `wasi:http` bodies
    /// read ahead). A response that does not fit fails with `too-large`.
    /// Default: [`DEFAULT_MAX_BUFFERED_BYTES`](crate::DEFAULT_MAX_BUFFERED_BYTES).
    pub max_buffered_bytes: u64,
    /// Largest header section accepted in a response, and sent in a request,
    /// in bytes. Default: [`DEFAULT_MAX_HEADER_BYTES`].
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
    /// `Retry-After`). Default: [`DEFAULT_RETRIES`].
    pub retries: u32,
    /// The first retry's backoff. Default: [`DEFAULT_RETRY_BACKOFF`].
    pub retry_backoff: Duration,
    /// Longest `Retry-After` honoured; a response asking for more is
    /// returned as it is. Default: [`DEFAULT_MAX_RETRY_AFTER`].
    pub max_retry_after: Duration,
    /// Least time between two requests to one host (scheme, host, port),
    /// across every plugin. Default: [`DEFAULT_PER_HOST_DELAY`] (none).
    pub per_host_delay: Duration,
    /// Random extra delay, as a fraction of `per_host_delay` (0.5: up to
    /// 50 % more). Default: [`DEFAULT_DELAY_JITTER`].
    pub delay_jitter: f64,
    /// Adapt each host's delay to the server, as Scrapy's AutoThrottle
    /// does: aim at `latency / autothrottle_target` between requests
    /// (a slower server gets fewer requests; only a 2xx may lower the
    /// delay), and double it (from 100 ms) on 429 and 503. Never below
    /// `per_host_delay` or a robots.txt `Crawl-delay`, never above 60 s.
    /// Default: false.
    pub autothrottle: bool,
    /// AutoThrottle's target: the number of requests it aims to have in
    /// flight to each host. Default: [`DEFAULT_AUTOTHROTTLE_TARGET`] (Scrapy's
    /// default).
    pub autothrottle_target: f64,
    /// Obey each site's robots.txt for `user_agent`'s product token
    /// (fetched once per site; see [`crate::robots`]). Default: true.
    pub robots: bool,
    /// `fetch` asks for gzip, deflate, br and zstd and decodes the body
    /// (the size limit applies to the decoded bytes). Default: true.
    pub decompress: bool,
    /// How long a DNS answer is reused. Default: [`DEFAULT_DNS_TTL`].
    pub dns_ttl: Duration,
    /// `host:port`s to speak HTTP/2 to without TLS, by prior knowledge
    /// ("h2c"), e.g. `127.0.0.1:8081`. Over TLS, HTTP/2 is chosen by ALPN
    /// whenever the server offers it. Default: none.
    pub h2c_hosts: Vec<String>,
    /// Root certificates (PEM) trusted beside the webpki roots, e.g. an
    /// internal CA. Default: none.
    pub extra_root_certs: Vec<u8>,
    /// Proxies to send every request through, as `http://[user:pass@]host:port`
    /// (port 80 if left out; user and password percent-encoded). Each new
    /// connection takes the next one, round robin; a pooled connection keeps
    /// its proxy. `https` targets (and `h2c_hosts`) go through a `CONNECT`
    /// tunnel, TLS end to end; plain `http` ones are forwarded by the proxy
    /// (absolute-form requests). `Proxy-Authorization: Basic` is sent when
    /// the URL has credentials; they never appear in messages or `Debug`.
    /// Only `http://` proxy URLs are supported. Default: none (direct).
    pub proxies: Vec<String>,
    /// `user-agent` sent when a request has none.
    /// Default: [`DEFAULT_USER_AGENT`],
    /// `crawlbox/<version> (+https://github.com/crawlbox/crawlbox)`.
    pub user_agent: String,
    /// Threads that extract from pages (`Request::extract`), beside the
    /// threads that fetch and run plugins; 0 for one per core.
    /// Default: 0.
    pub extract_threads: usize,
    /// What extracting one page may cost, whatever a request asks.
    /// Default: [`crawlbox_extract::Limits::default`].
    pub extract_limits: crawlbox_extract::Limits,
    /// Record every exchange as WARC, or replay them from a recording
    /// (see [`Archive`]). Default: neither.
    pub archive: Option<Archive>,
    /// Keep the client's [traffic](crate::traffic) per host (for a report,
    /// metrics). Off, it costs nothing and
    /// [`Client::traffic`](crate::Client::traffic) is empty. Default: off.
    pub traffic: bool,
}

/// The default `user-agent`.
pub const DEFAULT_USER_AGENT: &str = concat!(
    "crawlbox/",
    env!("CARGO_PKG_VERSION"),
    " (+https://github.com/crawlbox/crawlbox)"
);

/// Default [`ClientConfig::concurrency`]: requests in flight at once.
pub const DEFAULT_CONCURRENCY: usize = 64;
/// Default [`ClientConfig::per_host`]: open connections per host.
pub const DEFAULT_PER_HOST: usize = 8;
/// Default [`ClientConfig::connect_timeout`]: DNS, TCP and TLS.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`ClientConfig::first_byte_timeout`]: from sending to the headers.
pub const DEFAULT_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(30);
/// Default [`ClientConfig::request_timeout`]: the whole request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Default [`ClientConfig::idle_timeout`]: how long an idle connection is kept.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Default [`ClientConfig::max_redirects`]: redirects `fetch` follows.
pub const DEFAULT_MAX_REDIRECTS: u32 = 10;
/// Default [`ClientConfig::max_response_bytes`]: 16 MiB of response body.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 16 << 20;
/// Default [`ClientConfig::max_header_bytes`]: 64 KiB of headers each way.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 << 10;
/// Default [`ClientConfig::retries`]: tries after the first.
pub const DEFAULT_RETRIES: u32 = 2;
/// Default [`ClientConfig::retry_backoff`]: the first retry's backoff.
pub const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_millis(250);
/// Default [`ClientConfig::max_retry_after`]: longest `Retry-After` honoured.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Default [`ClientConfig::per_host_delay`]: no delay between requests to a host.
pub const DEFAULT_PER_HOST_DELAY: Duration = Duration::ZERO;
/// Default [`ClientConfig::delay_jitter`]: no jitter.
pub const DEFAULT_DELAY_JITTER: f64 = 0.0;
/// Default [`ClientConfig::autothrottle_target`]: one request in flight per
/// host (Scrapy's `AUTOTHROTTLE_TARGET_CONCURRENCY`).
pub const DEFAULT_AUTOTHROTTLE_TARGET: f64 = 1.0;
/// Default [`ClientConfig::dns_ttl`]: how long a DNS answer is reused.
pub const DEFAULT_DNS_TTL: Duration = Duration::from_secs(10);

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            per_host: DEFAULT_PER_HOST,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            first_byte_timeout: DEFAULT_FIRST_BYTE_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_buffered_bytes: crate::DEFAULT_MAX_BUFFERED_BYTES,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            network_thread: false,
            retries: DEFAULT_RETRIES,
            retry_backoff: DEFAULT_RETRY_BACKOFF,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
            per_host_delay: DEFAULT_PER_HOST_DELAY,
            delay_jitter: DEFAULT_DELAY_JITTER,
            autothrottle: false,
            autothrottle_target: DEFAULT_AUTOTHROTTLE_TARGET,
            robots: true,
            decompress: true,
            dns_ttl: DEFAULT_DNS_TTL,
            h2c_hosts: Vec::new(),
            extra_root_certs: Vec::new(),
            proxies: Vec::new(),
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            extract_threads: 0,
            extract_limits: crawlbox_extract::Limits::default(),
            archive: None,
            traffic: false,
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
    /// The extraction threads could not be started.
    #[error("cannot start the HTML extraction threads: {0}")]
    ExtractThreads(String),
    /// The AutoThrottle target is not a positive number.
    #[error("the autothrottle target must be a positive number of requests, not {0}")]
    AutothrottleTarget(f64),
    /// The recording cannot be written or read.
    #[error("{0}")]
    Archive(String),
    /// The user agent is not a valid header value.
    #[error("the user agent {0:?} is not a valid header value")]
    InvalidUserAgent(String),
    /// A proxy URL that cannot be used.
    #[error("invalid proxy {proxy}: {reason}")]
    Proxy {
        /// The entry, its credentials masked as `***`.
        proxy: String,
        /// What is wrong with it.
        reason: String,
    },
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
        crate::proxy::Proxies::new(&self.proxies)?;
        Ok(())
    }
}

/// Every field, proxies with their credentials masked.
impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Destructured without `..`: a new field cannot be forgotten here.
        let Self {
            concurrency,
            per_host,
            connect_timeout,
            first_byte_timeout,
            request_timeout,
            idle_timeout,
            max_redirects,
            max_response_bytes,
            max_buffered_bytes,
            max_header_bytes,
            network_thread,
            retries,
            retry_backoff,
            max_retry_after,
            per_host_delay,
            delay_jitter,
            autothrottle,
            autothrottle_target,
            robots,
            decompress,
            dns_ttl,
            h2c_hosts,
            extra_root_certs,
            proxies,
            user_agent,
            extract_threads,
            extract_limits,
            archive,
            traffic,
        } = self;
        let proxies: Vec<String> = proxies.iter().map(|p| crate::proxy::mask(p)).collect();
        f.debug_struct("ClientConfig")
            .field("concurrency", concurrency)
            .field("per_host", per_host)
            .field("connect_timeout", connect_timeout)
            .field("first_byte_timeout", first_byte_timeout)
            .field("request_timeout", request_timeout)
            .field("idle_timeout", idle_timeout)
            .field("max_redirects", max_redirects)
            .field("max_response_bytes", max_response_bytes)
            .field("max_buffered_bytes", max_buffered_bytes)
            .field("max_header_bytes", max_header_bytes)
            .field("network_thread", network_thread)
            .field("retries", retries)
            .field("retry_backoff", retry_backoff)
            .field("max_retry_after", max_retry_after)
            .field("per_host_delay", per_host_delay)
            .field("delay_jitter", delay_jitter)
            .field("autothrottle", autothrottle)
            .field("autothrottle_target", autothrottle_target)
            .field("archive", archive)
            .field("traffic", traffic)
            .field("robots", robots)
            .field("decompress", decompress)
            .field("dns_ttl", dns_ttl)
            .field("h2c_hosts", h2c_hosts)
            .field("extract_threads", extract_threads)
            .field("extract_limits", extract_limits)
            .field("extra_root_certs", extra_root_certs)
            .field("proxies", &proxies)
            .field("user_agent", user_agent)
            .finish()
    }
}
