use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use tokio::time::timeout_at;
use url::Url;

use crate::archive::{Archiving, Tape};
use crate::body::{BodyParts, H1Return, ResponseBody, WireBody};
use crate::budget::{ByteBudget, Charge, over_budget, requests_over_budget};
use crate::connect::Connector;
use crate::decode::{ACCEPT_ENCODING, decode};
use crate::fair::FairLimiter;
use crate::politeness::Politeness;
use crate::politeness::later;
use crate::pool::{Conn, ConnCounters, HostKey, Pool, Tenant};
use crate::request::{check_headers, parse_url};
use crate::robots::{MAX_ROBOTS_REDIRECTS, RobotsCache, RobotsFailure};
use crate::text::decode_text;
use crate::traffic::{HostTraffic, RobotsDecision, Traffic};
use crate::{
    ClientConfig, ConfigError, EgressPolicy, ErrorKind, FetchError, Request, Response, Stats,
    TimeoutKind,
};
use cookie_store::CookieStore;

/// The process-wide HTTP client: one pool, one global cap. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ClientConfig,
    pool: Pool,
    in_flight: Arc<FairLimiter>,
    counters: Arc<ConnCounters>,
    user_agent: HeaderValue,
    next_session: std::sync::atomic::AtomicU64,
    network: Option<NetworkThread>,
    politeness: Politeness,
    robots: Option<RobotsCache>,
    extractor: crawlbox_extract::Extractor,
    /// Recording every exchange, or replaying them.
    archive: Option<Archiving>,
}

/// A thread with a runtime of its own that does all network work: connects,
/// connection tasks, requests and bodies. The caller's thread (running
/// WebAssembly) only hands requests over and takes results back.
#[derive(Debug)]
struct NetworkThread {
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl NetworkThread {
    fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("crawlbox-net".into())
            .spawn(move || {
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })?;
        Ok(Self {
            handle,
            stop: Some(stop),
        })
    }
}

impl Drop for NetworkThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// What one session (one plugin run) may do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionConfig {
    /// The URLs and addresses the session may reach. Default: nothing.
    pub egress: EgressPolicy,
    /// Requests the session may send, each redirect hop counted; past it,
    /// requests fail with `denied`. Default: no limit.
    pub max_requests: Option<u64>,
    /// A response body limit for this session instead of the client's.
    pub max_response_bytes: Option<u64>,
    /// A limit on host memory held by this session's buffered responses
    /// (read and not yet taken by the plugin) instead of the client's
    /// [`ClientConfig::max_buffered_bytes`].
    pub max_buffered_bytes: Option<u64>,
    /// A redirect limit for this session instead of the client's.
    pub max_redirects: Option<u32>,
    /// A retry count for this session instead of the client's.
    pub retries: Option<u32>,
    /// Keep a cookie jar for this session: `Set-Cookie` answers are stored
    /// and sent back (by domain, path, expiry and `Secure`) on later
    /// requests and redirect hops that carry no `cookie` header of their
    /// own. Default: false (no cookies kept).
    pub cookies: bool,
}

impl SessionConfig {
    /// Everything allowed, private addresses included: for trusted code and
    /// tests only.
    pub fn unrestricted() -> Self {
        Self {
            egress: EgressPolicy::unrestricted(),
            ..Self::default()
        }
    }
}

/// Per-request options of [`Session::send`], as a guest may set them through
/// `wasi:http` request options. Each can only tighten the client's limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendOptions {
    /// Time to resolve the host and establish TCP (and TLS), when this
    /// request opens a connection. A pooled connection is reused whatever
    /// this says: it is already made.
    pub connect_timeout: Option<Duration>,
    /// Time to the response headers.
    pub first_byte_timeout: Option<Duration>,
    /// Longest pause between two pieces of the body.
    pub between_bytes_timeout: Option<Duration>,
    /// Time for the whole request.
    pub timeout: Option<Duration>,
}

impl Client {
    /// A client with its own pool (and, by default, its own network thread).
    /// Without a network thread, call it inside a tokio runtime: idle
    /// connections are reaped by a task on that runtime.
    pub fn new(config: ClientConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let network = if config.network_thread {
            Some(NetworkThread::start().map_err(|e| ConfigError::NetworkThread(e.to_string()))?)
        } else {
            None
        };
        let counters = Arc::new(ConnCounters {
            traffic: config.traffic.then(Traffic::default),
            ..ConnCounters::default()
        });
        let pool = Pool::new(
            network.as_ref().map(|n| n.handle.clone()),
            Connector::new(
                config.connect_timeout,
                &config.extra_root_certs,
                config.h2c_hosts.clone(),
                config.dns_ttl,
                &config.proxies,
            )?,
            config.per_host,
            config.idle_timeout,
            config.max_header_bytes,
            counters.clone(),
        );
        let user_agent = HeaderValue::from_str(&config.user_agent)
            .map_err(|_| ConfigError::InvalidUserAgent(config.user_agent.clone()))?;
        let politeness = Politeness::new(
            config.per_host_delay,
            config.delay_jitter,
            config.autothrottle.then_some(config.autothrottle_target),
        );
        let robots = config.robots.then(|| RobotsCache::new(&config.user_agent));
        let extractor = match config.extract_threads {
            0 => crawlbox_extract::Extractor::per_core(),
            n => crawlbox_extract::Extractor::new(n),
        }
        .map_err(|e| ConfigError::ExtractThreads(e.to_string()))?;
        let archive = config
            .archive
            .as_ref()
            .map(Archiving::open)
            .transpose()
            .map_err(ConfigError::Archive)?;
        Ok(Self {
            inner: Arc::new(Inner {
                in_flight: FairLimiter::new(config.concurrency),
                config,
                pool,
                counters,
                user_agent,
                next_session: std::sync::atomic::AtomicU64::new(1),
                network,
                politeness,
                robots,
                extractor,
                archive,
            }),
        })
    }

    /// The configuration this client was made with.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Connections opened since the client was made.
    pub fn connections_opened(&self) -> u64 {
        self.inner.counters.opened.load(Ordering::Relaxed)
    }

    /// Connections open now, idle ones included.
    pub fn connections_open(&self) -> u64 {
        self.inner.counters.open.load(Ordering::Relaxed)
    }

    /// The traffic of every session so far, per host (see
    /// [`crate::traffic`]); empty unless [`ClientConfig::traffic`] is on.
    pub fn traffic(&self) -> crate::TrafficSnapshot {
        self.inner
            .counters
            .traffic
            .as_ref()
            .map(Traffic::snapshot)
            .unwrap_or_default()
    }

    /// `key`'s figures in the client's traffic, if it is kept.
    fn traffic_of(&self, key: &HostKey) -> Option<Arc<HostTraffic>> {
        self.inner.counters.traffic.as_ref().map(|t| t.host(key))
    }

    /// A new session with its own policy and [`Stats`], sharing this
    /// client's pool and caps. Sessions share the global cap fairly: when
    /// it is full, freed slots go to waiting sessions in turn.
    pub fn session(&self, config: SessionConfig) -> Session {
        // Responses not taken, and (apart) requests not sent, each this much.
        let max_buffered = config
            .max_buffered_bytes
            .unwrap_or(self.inner.config.max_buffered_bytes);
        Session {
            client: self.clone(),
            id: self.inner.next_session.fetch_add(1, Ordering::Relaxed),
            jar: config
                .cookies
                .then(|| Arc::new(std::sync::Mutex::new(CookieStore::default()))),
            _member: Arc::new(self.inner.in_flight.join()),
            buffered: ByteBudget::new(max_buffered),
            held_requests: ByteBudget::new(max_buffered),
            config: Arc::new(config),
            stats: Arc::new(Stats::default()),
            extract_tenant: self.inner.extractor.tenant(),
        }
    }
}

/// One run's view of the [`Client`]: the shared pool and caps, its own
/// policy and stats. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Session {
    client: Client,
    id: u64,
    config: Arc<SessionConfig>,
    stats: Arc<Stats>,
    jar: Option<Arc<std::sync::Mutex<CookieStore>>>,
    /// Host memory this session's buffered responses hold (see [`crate::budget`]).
    buffered: Arc<ByteBudget>,
    /// Host memory this session's requests not sent yet hold.
    held_requests: Arc<ByteBudget>,
    /// While more than one session lives, none takes the whole global cap.
    _member: Arc<crate::fair::Member>,
    /// This session's turn on the client's extraction threads.
    extract_tenant: crawlbox_extract::Tenant,
}

/// A request body read by [`Session::read_request_body`], charged to its
/// session's budget for requests not sent yet until it is dropped.
#[derive(Debug)]
pub struct HeldBody {
    bytes: Bytes,
    /// Given back when the body is dropped.
    _charge: Charge,
}

impl HeldBody {
    /// The body (a cheap, reference-counted clone).
    pub fn bytes(&self) -> Bytes {
        self.bytes.clone()
    }
}

/// Why [`Session::read_request_body`] failed.
#[derive(Debug)]
pub enum ReadBodyError<E> {
    /// The body's stream failed.
    Body(E),
    /// The body did not fit in the session's budget for requests not sent
    /// yet, after `read` bytes; it was not read further.
    TooLarge {
        /// Bytes read, the chunk that did not fit included.
        read: u64,
        /// The `too-large` error, naming the budget.
        error: FetchError,
    },
}

/// Redirect bodies up to this size are read so the connection can be reused.
const REDIRECT_BODY_DRAIN: usize = 64 * 1024;

impl Session {
    /// Extracts what `plan` asks from `html`, a page whose URL is `url`, on
    /// the client's extraction threads, under the client's extraction
    /// limits; with the time it took there.
    pub async fn extract(
        &self,
        plan: Arc<crawlbox_extract::Plan>,
        html: String,
        url: Url,
    ) -> Result<(crawlbox_extract::Extracted, Duration), crawlbox_extract::ExtractError> {
        let limits = self.client.inner.config.extract_limits.clone();
        let (result, took) = self
            .client
            .inner
            .extractor
            .run(&self.extract_tenant, move || {
                plan.extract(&html, &url, &limits)
            })
            .await?;
        self.stats.extracted(result.is_ok(), took);
        result.map(|found| (found, took))
    }

    /// This session's statistics.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The client this session uses.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// This session's policy and limits.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Sends one request and returns as soon as the response headers arrive;
    /// the body streams. Redirects are not followed. This is the
    /// `wasi:http` path.
    ///
    /// The request URI must be absolute (`http` or `https`).
    pub async fn send(
        &self,
        request: http::Request<Bytes>,
        options: SendOptions,
    ) -> Result<http::Response<ResponseBody>, FetchError> {
        // The request runs here; the body is read ahead of the caller (on
        // the network thread, if there is one), so that its deadlines and
        // its slot do not depend on the caller reading it.
        let response = self.send_here(request, options).await?;
        Ok(response
            .map(|wire| ResponseBody::read_ahead(wire, &self.buffered, self.network_handle())))
    }

    /// Fetches `request`, following redirects (up to
    /// [`ClientConfig::max_redirects`]), and reads the final body in full.
    ///
    /// A non-2xx status is a response, not an error.
    pub async fn fetch(&self, request: Request) -> Result<Response, FetchError> {
        let this = self.clone();
        // Boxed: the whole fetch is ~4 KiB of future, which every caller's
        // future would otherwise hold inline (twice, with the network
        // thread's branch) and copy each time it moves (a plugin's pending
        // fetches among them).
        self.on_network_thread(Box::pin(async move { this.fetch_here(request).await }))
            .await
    }

    /// Fetches many requests concurrently (as many in flight as the global
    /// cap allows, completing in any order) and returns the results in the
    /// order of `requests`. An `Err` in `requests` (a request that could not
    /// be built) is passed through, and counted.
    ///
    /// The whole batch runs on the network thread in one go. To keep the
    /// caps full while working through results, use a [`FetchQueue`](crate::FetchQueue).
    pub async fn fetch_many(
        &self,
        requests: Vec<Result<Request, FetchError>>,
    ) -> Vec<Result<Response, FetchError>> {
        use futures::StreamExt;
        let this = self.clone();
        self.on_network_thread(async move {
            let in_flight = this.client.inner.config.concurrency;
            let mut results: Vec<Option<Result<Response, FetchError>>> =
                std::iter::repeat_with(|| None)
                    .take(requests.len())
                    .collect();
            let this = &this;
            let mut done = futures::stream::iter(requests.into_iter().enumerate())
                .map(|(i, request)| async move { (i, this.fetch_built(request).await) })
                .buffer_unordered(in_flight);
            while let Some((i, result)) = done.next().await {
                results[i] = Some(result);
            }
            results
                .into_iter()
                .map(|r| r.expect("every request of the batch completes"))
                .collect()
        })
        .await
    }

    /// This session's budget of buffered response bytes.
    pub(crate) fn buffered(&self) -> &Arc<ByteBudget> {
        &self.buffered
    }

    /// Charges `request`'s bytes (URL, headers and body) to the session's
    /// budget for requests not sent yet (see [`crate::budget`]), for as
    /// long as the [`Charge`] lives: hold it while the request waits and
    /// is sent. Fails with `too-large` if they do not fit (not counted in
    /// the stats: the caller fails the request with it).
    pub fn hold_request(&self, request: &Request) -> Result<Charge, FetchError> {
        let mut charge = Charge::new(&self.held_requests);
        charge
            .grow(request.held_bytes())
            .map_err(|spent| requests_over_budget(request.url.as_str(), spent))?;
        Ok(charge)
    }

    /// Reads a request body that arrives as a stream (a plugin's
    /// `wasi:http` body) into host memory, charging each chunk as it
    /// arrives to the session's budget for requests not sent yet. The
    /// [`HeldBody`] keeps the charge: hold it until the request is sent.
    ///
    /// A body that does not fit stops being read at once: a plugin cannot
    /// make the host hold more of its requests than the budget, however
    /// long it writes.
    pub async fn read_request_body<B>(&self, body: B) -> Result<HeldBody, ReadBodyError<B::Error>>
    where
        B: http_body::Body<Data = Bytes>,
    {
        use http_body_util::BodyExt;
        let mut charge = Charge::new(&self.held_requests);
        let mut chunks = Vec::new();
        let mut body = std::pin::pin!(body);
        while let Some(frame) = body.frame().await {
            let Ok(chunk) = frame.map_err(ReadBodyError::Body)?.into_data() else {
                continue; // trailers: not sent on a buffered request
            };
            if let Err(spent) = charge.grow(chunk.len() as u64) {
                let read = charge.bytes() + chunk.len() as u64;
                let what = format!("a request body of {read} bytes so far");
                return Err(ReadBodyError::TooLarge {
                    read,
                    error: self.refuse(requests_over_budget(&what, spent)),
                });
            }
            chunks.push(chunk);
        }
        let bytes = match chunks.len() {
            0 => Bytes::new(),
            1 => chunks.pop().expect("one chunk"),
            _ => Bytes::from(chunks.concat()),
        };
        Ok(HeldBody {
            bytes,
            _charge: charge,
        })
    }

    /// The runtime of the client's network thread, if it has one.
    pub(crate) fn network_handle(&self) -> Option<&tokio::runtime::Handle> {
        self.client.inner.network.as_ref().map(|n| &n.handle)
    }

    /// Runs `work` on the client's network thread, if it has one.
    async fn on_network_thread<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> T {
        match &self.client.inner.network {
            Some(network) => network
                .handle
                .spawn(work)
                .await
                .expect("network tasks do not panic and the thread outlives the client"),
            None => work.await,
        }
    }

    async fn send_here(
        &self,
        request: http::Request<Bytes>,
        options: SendOptions,
    ) -> Result<http::Response<WireBody>, FetchError> {
        let config = &self.client.inner.config;
        let first_byte = tighter(config.first_byte_timeout, options.first_byte_timeout);
        let timeout = tighter(config.request_timeout, options.timeout);
        let connect = tighter(config.connect_timeout, options.connect_timeout);
        let (parts, body) = request.into_parts();
        // Parse the URI the way `fetch` parses URLs, so both paths normalise
        // hosts alike (e.g. `2130706433` is 127.0.0.1) before any check.
        let url = parse_url(&parts.uri.to_string()).map_err(|e| self.refuse(e))?;
        self.send_one(
            parts.method,
            &url,
            parts.headers,
            body,
            Limits {
                connect,
                first_byte,
                timeout,
                between_bytes: options.between_bytes_timeout,
            },
            Hop::Page,
            None,
        )
        .await
    }

    /// One request of a batch or queue on this thread: `fetch_here` for a
    /// request that was built, the error counted for one that could not be.
    pub(crate) async fn fetch_built(
        &self,
        request: Result<Request, FetchError>,
    ) -> Result<Response, FetchError> {
        match request {
            // Boxed: the whole fetch is ~3 KiB of future, which would
            // otherwise be copied each time the caller's future moves.
            Ok(request) => Box::pin(self.fetch_here(request)).await,
            Err(err) => Err(self.refuse(err)),
        }
    }

    /// `fetch` on this thread: redirects, then retries, then decoding.
    async fn fetch_here(&self, mut request: Request) -> Result<Response, FetchError> {
        let config = &self.client.inner.config;
        if let Some(how) = &request.text {
            how.validate().map_err(|e| self.refuse(e))?;
        }
        let retries = if is_idempotent(&request.method) {
            self.config.retries.unwrap_or(config.retries)
        } else {
            0
        };
        let decompress =
            config.decompress && !request.headers.contains_key(header::ACCEPT_ENCODING);
        if decompress {
            request.headers.insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_static(ACCEPT_ENCODING),
            );
        }
        // The whole-request timeout covers every attempt, as it covers every
        // redirect hop: a retry gets only what the attempts before it (and
        // their backoff) left, and none is made once that is spent. Else a
        // server that trickles a body until the deadline, every time, would
        // hold the fetch for (retries + 1) timeouts. Waiting to be sent
        // does not count (see `Waited`).
        let budget = tighter(config.request_timeout, request.timeout);
        let fetch_started = Instant::now();
        let waited = Waited::default();
        let left = || {
            let spent = fetch_started.elapsed().saturating_sub(waited.total());
            budget.saturating_sub(spent)
        };
        let mut attempt = 0;
        loop {
            let mut this_attempt = request.clone();
            if attempt > 0 {
                this_attempt.timeout = Some(left());
            }
            let result = self
                .fetch_following_redirects(this_attempt, Hop::Page, Limits::of(config), &waited)
                .await;
            let wait = match &result {
                _ if attempt >= retries => None,
                Ok(response) if RETRY_STATUSES.contains(&response.status.as_u16()) => {
                    match retry_after(&response.headers) {
                        Some(wait) if wait > config.max_retry_after => None,
                        Some(wait) => {
                            // The server asked every client to wait: so does every plugin.
                            if let Ok(uri) = response.url.as_str().parse::<Uri>()
                                && let Ok(key) = HostKey::from_uri(&uri)
                            {
                                self.client
                                    .inner
                                    .politeness
                                    .pause(&key, later(tokio::time::Instant::now(), wait));
                            }
                            Some(wait)
                        }
                        None => Some(backoff(config.retry_backoff, attempt)),
                    }
                }
                Err(e) if matches!(e.kind, ErrorKind::Connect | ErrorKind::Timeout) => {
                    Some(backoff(config.retry_backoff, attempt))
                }
                _ => None,
            };
            // A retry that could not even start before the deadline is not made.
            let wait = wait.filter(|&wait| wait < left());
            let Some(wait) = wait else {
                let mut response = result?;
                response.retries = attempt;
                if decompress {
                    let limit = self
                        .config
                        .max_response_bytes
                        .unwrap_or(config.max_response_bytes);
                    response.body = decode(
                        response.url.as_str(),
                        &mut response.headers,
                        std::mem::take(&mut response.body),
                        limit,
                    )
                    .map_err(|e| self.refuse(e))?;
                    let held = response.body.len() as u64;
                    response
                        .charge
                        .resize(held)
                        .map_err(|over| self.refuse(over_budget(response.url.as_str(), over)))?;
                }
                if let Some(how) = &request.text {
                    let text = decode_text(how, &response.headers, &response.body)
                        .map_err(|e| self.refuse(e))?;
                    response
                        .charge
                        .grow(text.text.len() as u64)
                        .map_err(|over| self.refuse(over_budget(response.url.as_str(), over)))?;
                    response.text = Some(text);
                }
                if let Some(plan) = request.extract.clone() {
                    self.extract_page(plan, &mut response).await?;
                }
                return Ok(response);
            };
            tracing::debug!(url = %request.url, attempt, ?wait, "retrying");
            tokio::time::sleep(wait).await;
            self.stats.retried();
            attempt += 1;
        }
    }

    /// Extracts what `plan` asks from `response`'s page on the client's
    /// extraction threads, waiting for room there (the response's memory
    /// stays charged meanwhile), then drops the body unless the plan keeps
    /// it.
    async fn extract_page(
        &self,
        plan: Arc<crawlbox_extract::Plan>,
        response: &mut Response,
    ) -> Result<(), FetchError> {
        let url = response.url.clone();
        let keep_body = plan.keep_body();
        let extracted = match html_type(&response.headers) {
            Err(other) => Err(crawlbox_extract::ExtractError::Other(format!(
                "{url} is {other}, not HTML: nothing was extracted"
            ))),
            Ok(()) => {
                let body = response.body.clone();
                let headers = response.headers.clone();
                let given = response.text.take();
                let limits = self.client.inner.config.extract_limits.clone();
                let job = move || {
                    let html = match &given {
                        Some(text) => std::borrow::Cow::Borrowed(text.text.as_str()),
                        None => crate::text::detected_text(&headers, &body),
                    };
                    let extracted = plan.extract(&html, &url, &limits);
                    drop(html);
                    (extracted, given)
                };
                match self
                    .client
                    .inner
                    .extractor
                    .run(&self.extract_tenant, job)
                    .await
                {
                    Ok(((extracted, given), took)) => {
                        response.text = given;
                        response.extract_time = took;
                        extracted
                    }
                    Err(err) => Err(err),
                }
            }
        };
        // A page that could not be extracted keeps its body: the plugin
        // may still make something of it.
        if !keep_body && extracted.is_ok() {
            response.body = Bytes::new();
            response.text = None;
        }
        self.stats
            .extracted(extracted.is_ok(), response.extract_time);
        let size = extracted.as_ref().map_or(0, |found| found.size());
        let held = (response.body.len() + response.text.as_ref().map_or(0, |t| t.text.len()) + size)
            as u64;
        response
            .charge
            .resize(held)
            .map_err(|over| self.refuse(over_budget(response.url.as_str(), over)))?;
        response.extracted = Some(extracted);
        Ok(())
    }

    /// One attempt of a `fetch`: `request` and its redirects, under
    /// `ceiling` (the client's limits, or for a robots.txt fetch those of the
    /// request that needs it) and the request's own timeout, which covers
    /// every hop. Time spent waiting to send each hop is added to `waited`.
    async fn fetch_following_redirects(
        &self,
        request: Request,
        hop: Hop,
        ceiling: Limits,
        waited: &Waited,
    ) -> Result<Response, FetchError> {
        let config = &self.client.inner.config;
        let max_redirects = match hop {
            Hop::Page => self.config.max_redirects.unwrap_or(config.max_redirects),
            Hop::Robots => MAX_ROBOTS_REDIRECTS,
        };
        let mut budget = tighter(ceiling.timeout, request.timeout);
        let Request {
            mut method,
            mut url,
            mut headers,
            mut body,
            ..
        } = request;
        let mut visited = HashSet::new();
        let mut elapsed = Duration::ZERO;
        for redirects in 0.. {
            let hop_started = Instant::now();
            let waited_before = waited.total();
            // This hop's time since it was sent: its waits do not count.
            let spent = || {
                let waited = waited.total().saturating_sub(waited_before);
                hop_started.elapsed().saturating_sub(waited)
            };
            let response = self
                .send_one(
                    method.clone(),
                    &url,
                    headers.clone(),
                    body.clone(),
                    Limits {
                        connect: ceiling.connect,
                        first_byte: ceiling.first_byte.min(budget),
                        timeout: budget,
                        between_bytes: None,
                    },
                    hop,
                    Some(waited),
                )
                .await?;
            let status = response.status();
            let location = redirect_target(status, response.headers());
            let Some(location) = location else {
                let (parts, body) = response.into_parts();
                let mut charge = Charge::new(&self.buffered);
                let body = read_to_end(body, &mut charge).await?;
                elapsed += spent();
                return Ok(Response {
                    status: parts.status,
                    url,
                    headers: parts.headers,
                    body,
                    version: parts.version,
                    elapsed,
                    redirects,
                    retries: 0,
                    text: None,
                    extracted: None,
                    extract_time: Duration::ZERO,
                    charge,
                });
            };
            // Read a small redirect body so the connection can be reused.
            let _ = Limited::new(response.into_body(), REDIRECT_BODY_DRAIN)
                .collect()
                .await;
            let spent = spent();
            elapsed += spent;
            budget = budget.saturating_sub(spent);

            let next = url.join(&location).map_err(|e| {
                self.refuse(FetchError::new(
                    ErrorKind::Protocol,
                    format!("{url} redirects to an invalid location {location:?}: {e}"),
                ))
            })?;
            let next = parse_url(next.as_str()).map_err(|e| {
                self.refuse(FetchError::new(
                    ErrorKind::Protocol,
                    format!("{url} redirects to {next}: {}", e.message),
                ))
            })?;
            if redirects >= max_redirects {
                return Err(self.refuse(FetchError::new(
                    ErrorKind::TooManyRedirects,
                    format!("more than {max_redirects} redirects, the last from {url} to {next}"),
                )));
            }
            visited.insert((method.clone(), url.clone()));
            if redirect_changes_to_get(status, &method) {
                method = if method == Method::HEAD {
                    Method::HEAD
                } else {
                    Method::GET
                };
                body = Bytes::new();
                for name in [
                    header::CONTENT_TYPE,
                    header::CONTENT_LENGTH,
                    header::CONTENT_ENCODING,
                ] {
                    headers.remove(name);
                }
            }
            if next.origin() != url.origin() {
                for name in [
                    header::AUTHORIZATION,
                    header::COOKIE,
                    header::PROXY_AUTHORIZATION,
                ] {
                    headers.remove(name);
                }
            }
            headers.remove(header::HOST);
            if visited.contains(&(method.clone(), next.clone())) {
                return Err(self.refuse(FetchError::new(
                    ErrorKind::TooManyRedirects,
                    format!("redirect loop: {url} redirects back to {next}"),
                )));
            }
            url = next;
        }
        unreachable!("the redirect loop only ends by returning")
    }

    /// Counts an error found outside the request machinery and returns it.
    fn refuse(&self, err: FetchError) -> FetchError {
        self.stats.record_error(err.kind);
        err
    }

    /// Counts a request about to be sent (from the network or the
    /// recording) against the run's request budget, and in its host's
    /// figures of the client's traffic (`host`, if it is kept).
    fn start_request(&self, host: Option<&HostTraffic>, url: &Url) -> Result<(), FetchError> {
        if self.stats.try_start_request(self.config.max_requests) {
            if let Some(host) = host {
                host.sent();
            }
            return Ok(());
        }
        Err(self.refuse(FetchError::new(
            ErrorKind::Denied,
            format!(
                "{url}: the run's budget of {} requests is spent",
                self.config.max_requests.unwrap_or_default()
            ),
        )))
    }

    /// A response arrived for `url` (from the network or the recording):
    /// counted, and its cookies kept.
    fn answered(
        &self,
        host: Option<&HostTraffic>,
        status: StatusCode,
        headers: &HeaderMap,
        url: &Url,
        hop: Hop,
    ) {
        self.stats.response(status.as_u16());
        if let Some(host) = host {
            host.answered(status.as_u16());
        }
        if hop == Hop::Robots {
            self.stats.robots_response();
        }
        if let Some(jar) = &self.jar {
            store_cookies(jar, headers, url);
        }
    }

    /// `url`'s response from the recording, counted as a response is (the
    /// request budget included), without the network: no politeness turn,
    /// no slot, no connection.
    fn replay(
        &self,
        recorded: crate::warc::Recorded,
        host: Option<Arc<HostTraffic>>,
        url: &Url,
        hop: Hop,
        limits: Limits,
        asked: Instant,
    ) -> Result<http::Response<WireBody>, FetchError> {
        self.start_request(host.as_deref(), url)?;
        self.answered(
            host.as_deref(),
            recorded.status,
            &recorded.headers,
            url,
            hop,
        );
        let mut response = http::Response::new(());
        *response.status_mut() = recorded.status;
        *response.version_mut() = recorded.version;
        *response.headers_mut() = recorded.headers;
        let inner = &self.client.inner;
        let parts = BodyParts {
            conn: None,
            slot: None,
            deadline: later(asked, limits.timeout),
            between_bytes: None,
            limit: self
                .config
                .max_response_bytes
                .unwrap_or(inner.config.max_response_bytes),
            stats: self.stats.clone(),
            host,
            started: asked,
            url: url.as_str().into(),
            tape: None,
        };
        Ok(response.map(|()| WireBody::replayed(recorded.body, parts)))
    }

    /// Checks one request against the session's policy (and the site's
    /// robots.txt) and sends it on a pooled connection; counts its errors.
    /// The time until it is sent (robots.txt, a politeness turn, a slot) is
    /// added to `waited`, if given.
    #[allow(clippy::too_many_arguments)]
    async fn send_one(
        &self,
        method: Method,
        url: &Url,
        mut headers: HeaderMap,
        body: Bytes,
        limits: Limits,
        hop: Hop,
        waited: Option<&Waited>,
    ) -> Result<http::Response<WireBody>, FetchError> {
        let asked = Instant::now();
        let inner = &self.client.inner;
        self.config
            .egress
            .check_url(url)
            .map_err(|e| self.refuse(e))?;
        check_headers(url, &headers, body.len(), inner.config.max_header_bytes)
            .map_err(|e| self.refuse(e))?;
        let uri: Uri = url
            .as_str()
            .parse()
            .map_err(|e| self.refuse(FetchError::invalid(format!("invalid URL {url}: {e}"))))?;
        let key = HostKey::from_uri(&uri).map_err(|e| self.refuse(e))?;
        // The host's figures, looked up once for the whole request.
        let host = self.client.traffic_of(&key);
        if let (Some(robots), Hop::Page) = (&inner.robots, hop) {
            let checked = robots
                .check(&key, url, || self.fetch_robots(&key, limits))
                .await;
            if let Some(host) = &host {
                host.robots(match &checked {
                    Ok(_) => RobotsDecision::Allowed,
                    Err(e) if e.kind == ErrorKind::DeniedByRobots => RobotsDecision::Disallowed,
                    Err(_) => RobotsDecision::Failed,
                });
            }
            let crawl_delay = checked.map_err(|e| self.refuse(e))?;
            if let Some(delay) = crawl_delay {
                inner.politeness.set_floor(&key, delay);
            }
        }
        if let Some(jar) = &self.jar
            && !headers.contains_key(header::COOKIE)
        {
            let cookies = jar
                .lock()
                .expect("cookie jar lock")
                .get_request_values(url)
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("; ");
            if !cookies.is_empty()
                && let Ok(value) = HeaderValue::from_str(&cookies)
            {
                headers.insert(header::COOKIE, value);
            }
        }
        if let Some(Archiving::Replaying {
            recording,
            dir,
            fallback,
        }) = &inner.archive
        {
            match recording.get(&method, url.as_str()) {
                Some(Ok(recorded)) => return self.replay(recorded, host, url, hop, limits, asked),
                Some(Err(e)) => {
                    return Err(self.refuse(FetchError::new(
                        ErrorKind::NotRecorded,
                        format!("{url}: its recording cannot be read: {e}"),
                    )));
                }
                None if *fallback => {}
                None => {
                    return Err(self.refuse(FetchError::new(
                        ErrorKind::NotRecorded,
                        format!(
                            "{method} {url} is not in the recording {} (record it, or \
                             replay with --replay-fallback to fetch what was not recorded)",
                            dir.display()
                        ),
                    )));
                }
            }
        }
        // The request as it goes out, for the recording.
        let tape = match &inner.archive {
            Some(Archiving::Recording(writer)) => {
                let mut sent = headers.clone();
                if !sent.contains_key(header::USER_AGENT) {
                    sent.insert(header::USER_AGENT, inner.user_agent.clone());
                }
                Some((writer.clone(), method.clone(), sent, body.clone()))
            }
            _ => None,
        };
        // Wait for this host's turn before taking a slot another host could
        // use. Turns are shared between sessions in turn, as slots are.
        inner.politeness.wait_turn(&key, self.id).await;
        let slot = inner.in_flight.acquire(self.id).await;
        self.start_request(host.as_deref(), url)?;
        let started = Instant::now();
        if let Some(waited) = waited {
            waited.add(started.duration_since(asked));
        }
        let deadline = later(started, limits.timeout);
        let target = url;
        let url: Arc<str> = url.as_str().into();
        // Boxed: the connection state machine is large, and every request's
        // future is moved into the executor; a pointer moves cheaply.
        let result =
            Box::pin(self.send_on_pool(&key, method, uri, &url, headers, body, limits, deadline))
                .await;
        match result {
            Ok((response, _))
                if header_bytes(response.headers()) > inner.config.max_header_bytes =>
            {
                // hyper's read buffer bounds the head only loosely: check it.
                self.stats.request_ended();
                if let Some(host) = &host {
                    host.unanswered(ErrorKind::TooLarge);
                }
                Err(self.refuse(FetchError::new(
                    ErrorKind::TooLarge,
                    format!(
                        "{url}: the response headers take {} bytes, more than the limit of {}",
                        header_bytes(response.headers()),
                        inner.config.max_header_bytes
                    ),
                )))
            }
            Ok((response, conn)) => {
                self.answered(
                    host.as_deref(),
                    response.status(),
                    response.headers(),
                    target,
                    hop,
                );
                inner
                    .politeness
                    .observe(&key, response.status().as_u16(), started.elapsed());
                let tape = tape.map(|(writer, method, request_headers, request_body)| {
                    Box::new(Tape {
                        writer,
                        method,
                        request_headers,
                        request_body,
                        version: response.version(),
                        status: response.status(),
                        response_headers: response.headers().clone(),
                        date: std::time::SystemTime::now() - started.elapsed(),
                        body: bytes::BytesMut::new(),
                    })
                });
                Ok(response.map(|incoming| {
                    WireBody::new(
                        incoming,
                        BodyParts {
                            conn,
                            slot: Some(slot),
                            tape,
                            deadline,
                            between_bytes: limits.between_bytes,
                            limit: self
                                .config
                                .max_response_bytes
                                .unwrap_or(inner.config.max_response_bytes),
                            stats: self.stats.clone(),
                            host,
                            started,
                            url,
                        },
                    )
                }))
            }
            Err(err) => {
                self.stats.request_ended();
                if let Some(host) = &host {
                    host.unanswered(err.kind);
                }
                Err(self.refuse(err))
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_on_pool(
        &self,
        key: &HostKey,
        method: Method,
        uri: Uri,
        url: &str,
        mut headers: HeaderMap,
        body: Bytes,
        limits: Limits,
        deadline: Instant,
    ) -> Result<(http::Response<hyper::body::Incoming>, Option<H1Return>), FetchError> {
        let inner = &self.client.inner;
        if !headers.contains_key(header::USER_AGENT) {
            headers.insert(header::USER_AGENT, inner.user_agent.clone());
        }
        let authority = uri
            .authority()
            .map(|a| a.as_str().rsplit_once('@').map_or(a.as_str(), |(_, h)| h))
            .unwrap_or_default()
            .to_owned();
        let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
        let origin_form: Uri = path
            .parse()
            .map_err(|e| FetchError::invalid(format!("invalid path in {url}: {e}")))?;
        // For a forwarding proxy: the URL without credentials or fragment.
        let absolute_form = || -> Result<Uri, FetchError> {
            let scheme = uri.scheme_str().unwrap_or("http");
            format!("{scheme}://{authority}{path}")
                .parse()
                .map_err(|e| FetchError::invalid(format!("invalid URL {url}: {e}")))
        };
        let mut request = http::Request::builder()
            .method(method)
            .uri(uri.clone())
            .body(Full::new(body))
            .map_err(|e| FetchError::invalid(format!("{url}: {e}")))?;
        *request.headers_mut() = headers;
        // The headers are due within the first-byte timeout of the request
        // being written, unless the whole request's deadline comes first;
        // the error names whichever limit it was.
        let headers_due = || {
            let first_byte = later(Instant::now(), limits.first_byte);
            if first_byte < deadline {
                (first_byte, TimeoutKind::FirstByte)
            } else {
                (deadline, TimeoutKind::Whole)
            }
        };
        let no_headers = |which: TimeoutKind| {
            let limit = match which {
                TimeoutKind::FirstByte => limits.first_byte,
                _ => limits.timeout,
            };
            FetchError::timeout(
                which,
                format!("{url}: no response headers in time ({which} timeout {limit:?})"),
            )
        };

        // A reused keep-alive connection may have been closed by the server
        // just before we wrote to it; hyper then hands the request back
        // unsent and we try another connection.
        const ATTEMPTS: usize = 4;
        let tenant = Tenant {
            session: self.id,
            share: inner.in_flight.share_of(inner.config.per_host),
        };
        for attempt in 1..=ATTEMPTS {
            let checkout = timeout_at(
                deadline.into(),
                inner
                    .pool
                    .checkout(key, &self.config.egress, limits.connect, tenant),
            )
            .await
            .map_err(|_| {
                FetchError::timeout(
                    TimeoutKind::Whole,
                    format!(
                        "{url}: no connection to {key} became available in time \
                         (request timeout {:?})",
                        limits.timeout
                    ),
                )
            })??;
            inner.politeness.before_send(key).await;
            let reused = checkout.reused;
            let mut err = match checkout.conn {
                Conn::H1(mut sender, peer) => {
                    if sender.ready().await.is_err() {
                        continue;
                    }
                    // Only the host sets proxy credentials, and only for the
                    // proxy this connection goes through.
                    request.headers_mut().remove(header::PROXY_AUTHORIZATION);
                    match &peer.forward {
                        Some(proxy) => {
                            *request.uri_mut() = absolute_form()?;
                            if let Some(auth) = proxy.authorization() {
                                request
                                    .headers_mut()
                                    .insert(header::PROXY_AUTHORIZATION, auth.clone());
                            }
                        }
                        None => *request.uri_mut() = origin_form.clone(),
                    }
                    if !request.headers().contains_key(header::HOST) {
                        let host = HeaderValue::from_str(&authority)
                            .map_err(|_| FetchError::invalid(format!("invalid host in {url}")))?;
                        request.headers_mut().insert(header::HOST, host);
                    }
                    let (due, which) = headers_due();
                    let response = sender.try_send_request(request);
                    match timeout_at(due.into(), response).await {
                        Ok(Ok(response)) => {
                            if let Some(proxy) = &peer.forward
                                && response.status() == StatusCode::PROXY_AUTHENTICATION_REQUIRED
                            {
                                // The proxy's answer, not the site's: the
                                // connection is dropped, the request failed.
                                return Err(FetchError::new(
                                    ErrorKind::Connect,
                                    format!(
                                        "proxy {proxy} refused the request to {url}: {}",
                                        response.status()
                                    ),
                                ));
                            }
                            return Ok((
                                response,
                                Some((sender, peer, checkout.host, checkout.lease)),
                            ));
                        }
                        Ok(Err(err)) => err,
                        Err(_) => return Err(no_headers(which)),
                    }
                }
                Conn::H2(mut sender) => {
                    // Waits for the server to allow another stream: a server
                    // that never does must not hold the request past its
                    // deadline.
                    match timeout_at(deadline.into(), sender.ready()).await {
                        Ok(ready) => ready.map_err(|e| {
                            FetchError::from_hyper(&e, &format!("HTTP/2 connection to {key}"))
                        })?,
                        Err(_) => {
                            return Err(FetchError::timeout(
                                TimeoutKind::Whole,
                                format!(
                                    "{url}: the HTTP/2 connection to {key} allowed no new \
                                     stream in time (request timeout {:?})",
                                    limits.timeout
                                ),
                            ));
                        }
                    }
                    *request.uri_mut() = uri.clone();
                    request.headers_mut().remove(header::HOST);
                    request.headers_mut().remove(header::PROXY_AUTHORIZATION);
                    let (due, which) = headers_due();
                    let response = sender.try_send_request(request);
                    match timeout_at(due.into(), response).await {
                        Ok(Ok(response)) => return Ok((response, None)),
                        Ok(Err(err)) => err,
                        Err(_) => return Err(no_headers(which)),
                    }
                }
            };
            match err.take_message() {
                Some(unsent) if attempt < ATTEMPTS => {
                    tracing::debug!(%key, reused, "request not sent, retrying: {}", err.error());
                    request = unsent;
                }
                _ => {
                    return Err(classify_send_error(err.error(), url, reused));
                }
            }
        }
        Err(FetchError::new(
            ErrorKind::Connect,
            format!("{url}: every connection to {key} closed before the request could be sent"),
        ))
    }
}

/// The time limits of one request (one hop of a `fetch`), each already the
/// tighter of the client's and the request's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limits {
    /// For a connection this request opens.
    connect: Duration,
    /// To the response headers.
    first_byte: Duration,
    /// The whole request, from when it is sent: the deadline.
    timeout: Duration,
    /// Between two pieces of the body.
    between_bytes: Option<Duration>,
}

impl Limits {
    /// The client's own limits.
    fn of(config: &ClientConfig) -> Self {
        Self {
            connect: config.connect_timeout,
            first_byte: config.first_byte_timeout,
            timeout: config.request_timeout,
            between_bytes: None,
        }
    }

    /// Whether timeout `err` fired under a limit of these tighter than the
    /// client's own: then it is the request's doing, and says nothing about
    /// the site.
    fn own_timeout(&self, err: &FetchError, config: &ClientConfig) -> bool {
        err.kind == ErrorKind::Timeout
            && match err.timeout {
                Some(TimeoutKind::Connect) => self.connect < config.connect_timeout,
                Some(TimeoutKind::FirstByte) => self.first_byte < config.first_byte_timeout,
                Some(TimeoutKind::Whole | TimeoutKind::BetweenBytes) | None => {
                    self.timeout < config.request_timeout
                }
            }
    }
}

/// Reads a body into one buffer of its own, sized from the body's length
/// when known: a single copy out of hyper's read buffer, and a `Bytes` that
/// turns into the guest's `Vec<u8>` without another. Every piece is charged
/// to `charge` as it arrives: a body that does not fit in the session's
/// budget fails as soon as it would not, and its connection is closed.
async fn read_to_end(mut body: WireBody, charge: &mut Charge) -> Result<Bytes, FetchError> {
    use http_body::Body as _;
    let hint = body.size_hint();
    let expected = hint.exact().unwrap_or(hint.lower()).min(16 * 1024 * 1024);
    if let Err(over) = charge.grow(expected) {
        let err = over_budget(body.url(), over);
        return Err(body.abandon(err));
    }
    let mut buf = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            let beyond = (buf.len() + data.len()) as u64;
            if let Err(over) = charge.resize(beyond.max(charge.bytes())) {
                let err = over_budget(body.url(), over);
                return Err(body.abandon(err));
            }
            buf.extend_from_slice(&data);
        }
    }
    charge.shrink(charge.bytes().saturating_sub(buf.len() as u64));
    Ok(Bytes::from(buf))
}

/// Time one `fetch` spent waiting before its requests were sent: for
/// robots.txt, a politeness turn, a slot under the global cap. Its timeout
/// counts only the time after each was sent, as [`Response::elapsed`] does:
/// a request queued behind a host's 30 s `Crawl-delay` must not find its
/// redirects and retries timed out by the queue.
#[derive(Debug, Default)]
struct Waited(std::sync::atomic::AtomicU64);

impl Waited {
    fn add(&self, wait: Duration) {
        let nanos = u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX);
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |total| {
                Some(total.saturating_add(nanos))
            });
    }

    fn total(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::Relaxed))
    }
}

/// What a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hop {
    /// A plugin's request (or one of its redirect hops): robots.txt applies.
    Page,
    /// The fetch of a site's robots.txt (and its redirect hops).
    Robots,
}

impl Session {
    /// Fetches `key`'s robots.txt: its status and body.
    ///
    /// It runs under the limits of the request that needs it (`needed_by`):
    /// a guest that asked for a 200 ms timeout is not held for the client's
    /// 60 s by a robots.txt that does not answer. A timeout under limits
    /// tighter than the client's is that request's own doing, not news
    /// about the site: it is reported as [`RobotsFailure::OwnLimit`], so
    /// that it is not cached as the site being down for everyone.
    fn fetch_robots<'a>(&'a self, key: &HostKey, needed_by: Limits) -> RobotsFetch<'a> {
        let url = format!("{key}/robots.txt");
        Box::pin(async move {
            let request = Request::get(&url).map_err(RobotsFailure::Fetch)?;
            let response = self
                .fetch_following_redirects(request, Hop::Robots, needed_by, &Waited::default())
                .await;
            tracing::debug!(%url, status = ?response.as_ref().map(|r| r.status), "robots.txt");
            match response {
                Ok(response) => Ok((response.status.as_u16(), response.body)),
                Err(e) if needed_by.own_timeout(&e, &self.client.inner.config) => {
                    Err(RobotsFailure::OwnLimit(e))
                }
                Err(e) => Err(RobotsFailure::Fetch(e)),
            }
        })
    }
}

/// A robots.txt fetch under way: boxed, as it runs inside the request
/// machinery it is part of.
type RobotsFetch<'a> =
    std::pin::Pin<Box<dyn Future<Output = Result<(u16, Bytes), RobotsFailure>> + Send + 'a>>;

/// Keeps the `Set-Cookie`s of a response to `url`.
fn store_cookies(jar: &std::sync::Mutex<CookieStore>, headers: &HeaderMap, url: &Url) {
    let cookies: Vec<_> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| cookie_store::RawCookie::parse(v.to_owned()).ok())
        .collect();
    if !cookies.is_empty() {
        jar.lock()
            .expect("cookie jar lock")
            .store_response_cookies(cookies.into_iter(), url);
    }
}

/// The size of a header section, as on the wire.
fn header_bytes(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum()
}

/// Statuses worth another try.
const RETRY_STATUSES: [u16; 6] = [408, 429, 500, 502, 503, 504];

/// Methods a retry cannot make happen twice.
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// Exponential backoff with full jitter: uniform in [0, base * 2^attempt),
/// capped at a minute.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let ceiling = base
        .saturating_mul(1 << attempt.min(16))
        .min(Duration::from_secs(60));
    ceiling.mul_f64(fastrand::f64())
}

/// `Retry-After` as seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

fn tighter(limit: Duration, asked: Option<Duration>) -> Duration {
    asked.map_or(limit, |asked| asked.min(limit))
}

fn classify_send_error(err: &hyper::Error, url: &str, reused: bool) -> FetchError {
    let mut e = FetchError::from_hyper(err, url);
    if err.is_incomplete_message() || err.is_canceled() || err.is_closed() {
        e.kind = ErrorKind::Connect;
        if reused {
            e.message
                .push_str(" (on a reused keep-alive connection the server had closed)");
        }
    }
    e
}

/// The `Location` of a redirect response, if this is one.
fn redirect_target(status: StatusCode, headers: &HeaderMap) -> Option<String> {
    match status {
        StatusCode::MOVED_PERMANENTLY
        | StatusCode::FOUND
        | StatusCode::SEE_OTHER
        | StatusCode::TEMPORARY_REDIRECT
        | StatusCode::PERMANENT_REDIRECT => headers
            .get(header::LOCATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        _ => None,
    }
}

/// Browsers turn a 303, and a POST answered by 301 or 302, into a GET.
fn redirect_changes_to_get(status: StatusCode, method: &Method) -> bool {
    status == StatusCode::SEE_OTHER
        || (matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND)
            && *method == Method::POST)
}

/// Whether a response may hold HTML: no `content-type`, or one that names
/// HTML or XML. Else the type, for the error.
fn html_type(headers: &HeaderMap) -> Result<(), String> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let kind = String::from_utf8_lossy(value.as_bytes()).to_ascii_lowercase();
    let essence = kind.split(';').next().unwrap_or_default().trim();
    if essence.is_empty() || essence.contains("html") || essence.contains("xml") {
        Ok(())
    } else {
        Err(format!("`{essence}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;

    #[test]
    fn redirect_method_rules() {
        assert!(redirect_changes_to_get(StatusCode::SEE_OTHER, &Method::PUT));
        assert!(redirect_changes_to_get(StatusCode::FOUND, &Method::POST));
        assert!(!redirect_changes_to_get(StatusCode::FOUND, &Method::PUT));
        assert!(!redirect_changes_to_get(
            StatusCode::TEMPORARY_REDIRECT,
            &Method::POST
        ));
    }

    #[test]
    fn retry_rules() {
        assert!(is_idempotent(&Method::GET) && is_idempotent(&Method::PUT));
        assert!(!is_idempotent(&Method::POST) && !is_idempotent(&Method::PATCH));
        for attempt in 0..4 {
            let b = backoff(Duration::from_millis(100), attempt);
            assert!(b < Duration::from_millis(100) * (1 << attempt), "{b:?}");
        }
        let mut h = HeaderMap::new();
        h.insert(header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn tighter_only_tightens() {
        let limit = Duration::from_secs(60);
        assert_eq!(tighter(limit, None), limit);
        assert_eq!(tighter(limit, Some(Duration::from_secs(5))).as_secs(), 5);
        assert_eq!(tighter(limit, Some(Duration::from_secs(500))), limit);
    }

    /// `Session::fetch` boxes the client's state machine (kilobytes): a
    /// caller that holds many pending fetches, or moves one, pays for the
    /// request, not for it (a plugin may hold 65536 `host-async.fetch`es).
    #[tokio::test]
    async fn a_pending_fetch_is_small() {
        let client = Client::new(ClientConfig::default()).unwrap();
        let session = client.session(SessionConfig::unrestricted());
        let request = Request::get("http://127.0.0.1:1/").unwrap();
        let pending = session.fetch(request);
        assert!(
            size_of_val(&pending) <= 1024,
            "{} bytes",
            size_of_val(&pending)
        );
    }

    #[test]
    fn url_normalisation_feeds_host_key() {
        let url = Url::parse("HTTP://Example.COM:80/a?b").unwrap();
        let key = HostKey::from_uri(&url.as_str().parse().unwrap()).unwrap();
        assert_eq!(key.to_string(), "http://example.com:80");
    }
}
