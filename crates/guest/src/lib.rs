//! Write [crawlbox](https://github.com/crawlbox/crawlbox) scraping plugins in Rust.
//!
//! A plugin is a WebAssembly component for `wasm32-wasip2`. It decides what
//! to fetch and what to emit; the crawlbox host does the fetching (through
//! one pooled, capped HTTP client) and writes the records.
//!
//! ```no_run
//! use crawlbox_guest::{Plugin, Request, emit, fetch_all, info};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize)]
//! struct Input { urls: Vec<String> }
//!
//! #[derive(Serialize)]
//! struct Page { url: String, status: u16, bytes: usize }
//!
//! struct Sizes;
//!
//! impl Plugin for Sizes {
//!     fn run(input: &str) -> crawlbox_guest::Result<()> {
//!         let input: Input = crawlbox_guest::parse_input(input)?;
//!         let requests = input.urls.iter().map(|u| Request::get(u));
//!         for result in fetch_all(requests) {
//!             match result {
//!                 Ok(resp) => emit(&Page { url: resp.url.clone(), status: resp.status, bytes: resp.body.len() })?,
//!                 Err(err) => info!("skipped: {err}"),
//!             }
//!         }
//!         Ok(())
//!     }
//! }
//!
//! crawlbox_guest::export_plugin!(Sizes);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2` and run it
//! with `crawlbox run target/wasm32-wasip2/release/sizes.wasm --input '{"urls": [...]}'`.
//!
//! For a spider (the host owns the crawl's frontier: `crawlbox crawl`), see
//! [`spider`]. For a plugin in native async Rust (WASI 0.3, `crawlbox run
//! --wasip3`), see `asynchronous` (the `async` feature).
//!
//! The standard `wasi:http` interface works too (for example through the
//! `wstd` crate): those requests go through the same pool and caps.

use std::fmt;
use std::time::Duration;

/// Raw bindings generated from crawlbox's WIT (`crawlbox:plugin/scraper`).
/// Prefer the functions at the crate root.
#[allow(missing_docs, missing_debug_implementations, unused_qualifications)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "crawlbox:plugin/scraper",
        pub_export_macro: true,
        export_macro_name: "export_scraper",
        default_bindings_module: "crawlbox_guest::bindings",
        generate_all,
    });
}

use bindings::crawlbox::plugin::host;
pub use bindings::crawlbox::plugin::host::{
    DecodedText, FetchError, HttpVersion, Level, Request, Response, TextDecoding,
};
pub use bindings::crawlbox::plugin::html::{
    ExtractError, Extracted, Extraction, Hit, Link, LinkRule,
};

mod extract;
pub use extract::{Extract, Query, parse_html};

pub mod spider;

#[cfg(feature = "async")]
pub mod asynchronous;

/// Errors a plugin returns from [`Plugin::run`]: anything that converts into
/// [`anyhow::Error`], so `?` works on most error types.
pub type Error = anyhow::Error;

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub use anyhow::{Context, anyhow, bail};

/// A crawlbox plugin. Implement it and name the type in [`export_plugin!`].
pub trait Plugin {
    /// Runs the plugin. `input` is the JSON text the user passed with
    /// `--input` (`null` when none was given); see [`parse_input`].
    /// An error ends the run with its message; records already emitted are kept.
    fn run(input: &str) -> Result<()>;
}

/// Exports a [`Plugin`] implementation as the component's `run` function.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        const _: () = {
            struct __CrawlboxExport;
            impl $crate::bindings::Guest for __CrawlboxExport {
                fn run(
                    input: ::std::string::String,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    <$plugin as $crate::Plugin>::run(&input).map_err(|e| ::std::format!("{e:#}"))
                }
            }
    $crate::bindings::export_scraper!(__CrawlboxExport with_types_in $crate::bindings);
        };
    };
}

/// Parses the run's input JSON into `T`, with an error that says what is wrong.
pub fn parse_input<T: serde::de::DeserializeOwned>(input: &str) -> Result<T> {
    serde_json::from_str(input).with_context(|| format!("invalid input {input}"))
}

impl Request {
    /// A request with `method` (e.g. `"POST"`) to `url`.
    pub fn new(method: &str, url: impl Into<String>) -> Self {
        Request {
            method: method.to_owned(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
            timeout: None,
            text: None,
            extract: None,
        }
    }

    /// A `GET` request to `url`.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new("GET", url)
    }

    /// A `POST` request to `url` with `body`.
    pub fn post(url: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Self::new("POST", url).body(body)
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Has the host decode the body to text too, finding the encoding from
    /// the response (BOM, `content-type` charset, HTML `<meta charset>`,
    /// else UTF-8 or windows-1252): see [`Response::text`].
    pub fn decode_text(mut self) -> Self {
        self.text = Some(TextDecoding::Detect);
        self
    }

    /// Has the host decode the body to text with encoding `label` (e.g.
    /// `"shift_jis"`), whatever the response says.
    pub fn decode_text_as(mut self, label: impl Into<String>) -> Self {
        self.text = Some(TextDecoding::Charset(label.into()));
        self
    }

    /// Sets a timeout for the whole request (the host's limit still applies).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX));
        self
    }

    /// Has the host parse the page and extract what `what` declares, on its
    /// own threads while the response waits; the response then carries no
    /// body unless `what` keeps it. See [`Extract`].
    pub fn extract(mut self, what: &Extract) -> Self {
        self.extract = Some(what.spec().clone());
        self
    }
}

impl From<&str> for Request {
    fn from(url: &str) -> Self {
        Request::get(url)
    }
}

impl From<String> for Request {
    fn from(url: String) -> Self {
        Request::get(url)
    }
}

impl From<&String> for Request {
    fn from(url: &String) -> Self {
        Request::get(url.as_str())
    }
}

impl Response {
    /// The headers as `(name, value)` pairs, in order (names lower-case).
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .lines()
            .filter_map(|line| line.split_once(": "))
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The body as text: as the host decoded it if the request asked for
    /// that ([`Request::decode_text`]), else as UTF-8 (invalid sequences
    /// replaced).
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        match &self.text {
            Some(decoded) => std::borrow::Cow::Borrowed(&decoded.text),
            None => String::from_utf8_lossy(&self.body),
        }
    }

    /// The encoding the host decoded the body with, if it did.
    pub fn encoding(&self) -> Option<&str> {
        self.text.as_ref().map(|decoded| decoded.encoding.as_str())
    }

    /// The body parsed as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("the body of {} is not the expected JSON", self.url))
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Time from sending the request to the end of the body.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.elapsed)
    }
}

impl FetchError {
    /// The kind of failure, e.g. `"timeout"` (the WIT case name; or
    /// `"not-recorded"`, a kind newer than the WIT's cases, which the host
    /// sends as `other` with the kind leading the message).
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::Other(m) if m.starts_with("not-recorded: ") => "not-recorded",
            FetchError::InvalidRequest(_) => "invalid-request",
            FetchError::Dns(_) => "dns",
            FetchError::Connect(_) => "connect",
            FetchError::Tls(_) => "tls",
            FetchError::Timeout(_) => "timeout",
            FetchError::TooLarge(_) => "too-large",
            FetchError::Denied(_) => "denied",
            FetchError::Protocol(_) => "protocol",
            FetchError::TooManyRedirects(_) => "too-many-redirects",
            FetchError::DeniedByRobots(_) => "denied-by-robots",
            FetchError::Other(_) => "other",
        }
    }

    /// The host's description of what failed.
    pub fn message(&self) -> &str {
        match self {
            FetchError::Other(m) if m.starts_with("not-recorded: ") => &m["not-recorded: ".len()..],
            FetchError::InvalidRequest(m)
            | FetchError::Dns(m)
            | FetchError::Connect(m)
            | FetchError::Tls(m)
            | FetchError::Timeout(m)
            | FetchError::TooLarge(m)
            | FetchError::Denied(m)
            | FetchError::Protocol(m)
            | FetchError::TooManyRedirects(m)
            | FetchError::DeniedByRobots(m)
            | FetchError::Other(m) => m,
        }
    }
}

/// Fetches one URL (or [`Request`]), following redirects; the body is read
/// in full. A non-2xx status is a response, not an error.
pub fn fetch(request: impl Into<Request>) -> Result<Response, FetchError> {
    host::fetch(&request.into())
}

/// Fetches many requests concurrently under the host's caps, in one call to
/// the host. Results come back in the order of `requests`.
///
/// Batches of a few hundred requests work best: the host keeps at most its
/// concurrency cap in flight anyway, and every response of a batch is held
/// in memory until the call returns. The caps drain at the end of each
/// batch; [`fetch_unordered`] and [`FetchQueue`] keep them full.
pub fn fetch_all<R: Into<Request>>(
    requests: impl IntoIterator<Item = R>,
) -> Vec<Result<Response, FetchError>> {
    let requests: Vec<Request> = requests.into_iter().map(Into::into).collect();
    host::fetch_all(&requests)
}

/// Fetches `requests` concurrently under the host's caps and hands back
/// each result as it completes, with the request's index in `requests`.
///
/// Unlike [`fetch_all`], results come back while the rest are still in
/// flight, so the host keeps its caps full while the plugin works. Push
/// more requests (the links a page leads to) on the returned
/// [`FetchQueue`] as you go.
///
/// ```no_run
/// # fn demo(urls: Vec<String>) {
/// for (index, result) in crawlbox_guest::fetch_unordered(&urls) {
///     match result {
///         Ok(resp) => println!("{}: {} bytes", urls[index as usize], resp.body.len()),
///         Err(err) => println!("{}: {err}", urls[index as usize]),
///     }
/// }
/// # }
/// ```
pub fn fetch_unordered<R: Into<Request>>(requests: impl IntoIterator<Item = R>) -> FetchQueue {
    let mut queue = FetchQueue::new();
    queue.extend(requests);
    queue
}

/// Requests in flight whose results come back as they complete (the host's
/// `fetch-queue`).
///
/// [`push`](Self::push) requests, take `(ticket, result)` pairs by
/// iterating; tickets count pushes from 0. At most the host's concurrency
/// of a queue's requests run at once, the rest wait in order. Pushed
/// requests go to the host on the next call to [`Iterator::next`] or
/// [`flush`](Self::flush), many per call (up to 4096 wait in the host, any
/// more in the plugin); results come back up to
/// [`with_batch`](Self::with_batch) per call. Dropping the queue cancels
/// what it still holds.
///
/// ```no_run
/// # fn demo() -> crawlbox_guest::Result<()> {
/// use crawlbox_guest::{FetchQueue, Request};
///
/// let mut queue = FetchQueue::new();
/// queue.push(Request::get("https://example.com/"));
/// while let Some((_ticket, result)) = queue.next() {
///     let page = result?;
///     for link in page.text().lines().filter(|l| l.starts_with("https://example.com/")) {
///         queue.push(link);
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct FetchQueue {
    queue: host::FetchQueue,
    /// Pushed, not yet sent to the host.
    unsent: std::collections::VecDeque<(u64, Request)>,
    /// Sent to the host, results not yet taken from it.
    in_host: usize,
    /// Taken from the host, not yet handed out.
    ready: std::collections::VecDeque<(u64, Result<Response, FetchError>)>,
    next_ticket: u64,
    batch: u32,
}

/// Requests the SDK keeps in the host's `fetch-queue` at most; the rest wait
/// in the plugin's memory (under its memory limit) until there is room.
/// Far more than any concurrency cap, so the host never waits for them.
const IN_HOST: usize = 4096;

impl FetchQueue {
    /// An empty queue that takes up to 64 results per call to the host.
    pub fn new() -> Self {
        Self::with_batch(64)
    }

    /// An empty queue that takes up to `batch` results (at least 1) per
    /// call to the host. Larger batches mean fewer calls but more
    /// responses held in memory at once; 32-256 work well.
    pub fn with_batch(batch: u32) -> Self {
        FetchQueue {
            queue: host::FetchQueue::new(),
            unsent: Default::default(),
            in_host: 0,
            ready: Default::default(),
            next_ticket: 0,
            batch: batch.max(1),
        }
    }

    /// Adds a request and returns its ticket (0 for the first, then 1, 2, …).
    pub fn push(&mut self, request: impl Into<Request>) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.unsent.push_back((ticket, request.into()));
        ticket
    }

    /// Adds requests, in order, and returns their tickets.
    pub fn extend<R: Into<Request>>(
        &mut self,
        requests: impl IntoIterator<Item = R>,
    ) -> std::ops::Range<u64> {
        let first = self.next_ticket;
        for request in requests {
            self.push(request);
        }
        first..self.next_ticket
    }

    /// Requests pushed whose results have not been handed out yet.
    pub fn pending(&self) -> usize {
        self.unsent.len() + self.in_host + self.ready.len()
    }

    /// Sends the requests pushed so far to the host (up to 4096 in the host
    /// at once), so they start now rather than at the next [`Iterator::next`].
    pub fn flush(&mut self) {
        let room = IN_HOST.saturating_sub(self.in_host);
        let count = self.unsent.len().min(room);
        if count == 0 {
            return;
        }
        let (tickets, requests): (Vec<u64>, Vec<Request>) = self.unsent.drain(..count).unzip();
        match self.queue.push(&requests) {
            Ok(_) => self.in_host += count,
            // The plugin's queues hold the host's limit between them: try
            // again once this queue's own results have made room.
            Err(_) if self.in_host > 0 => {
                for pair in tickets.into_iter().zip(requests).rev() {
                    self.unsent.push_front(pair);
                }
            }
            // Nothing of this queue's in the host to wait for: nothing is
            // lost, each request comes back with the host's reason.
            Err(reason) => self.ready.extend(
                tickets
                    .into_iter()
                    .map(|ticket| (ticket, Err(FetchError::Denied(reason.clone())))),
            ),
        }
    }
}

impl Default for FetchQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl Iterator for FetchQueue {
    type Item = (u64, Result<Response, FetchError>);

    /// The next complete request, waiting for one if none is; `None` when
    /// nothing is pending.
    fn next(&mut self) -> Option<Self::Item> {
        if self.ready.is_empty() {
            // Top up only when the host's share has run half down: one
            // `push` call per ~2048 requests rather than one per `next`.
            if self.in_host <= IN_HOST / 2 {
                self.flush();
            }
            if self.ready.is_empty() && self.in_host > 0 {
                let done = self.queue.next(self.batch);
                self.in_host -= done.len();
                self.ready.extend(done);
            }
        }
        self.ready.pop_front()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.pending(), Some(self.pending()))
    }
}

/// Why [`emit`] failed.
#[derive(Debug)]
pub enum EmitError {
    /// The record could not be serialised to JSON.
    Serialize(serde_json::Error),
    /// The host refused it (invalid JSON, or an output limit was reached).
    Refused(String),
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmitError::Serialize(e) => write!(f, "record is not serialisable to JSON: {e}"),
            EmitError::Refused(e) => write!(f, "the host refused the record: {e}"),
        }
    }
}

impl std::error::Error for EmitError {}

/// Emits one output record: any [`serde::Serialize`] value, written by the
/// host as one line of JSON.
pub fn emit<T: serde::Serialize + ?Sized>(record: &T) -> Result<(), EmitError> {
    let json = serde_json::to_string(record).map_err(EmitError::Serialize)?;
    emit_json(&json)
}

/// Emits one output record given as JSON text (validated by the host).
pub fn emit_json(json: &str) -> Result<(), EmitError> {
    host::emit(json).map_err(EmitError::Refused)
}

/// Writes `message` to the host's log at `level`.
pub fn log(level: Level, message: &str) {
    host::log(level, message);
}

/// Logs at info level, `format!`-style.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log($crate::Level::Info, &::std::format!($($arg)*)) };
}

/// Logs at warn level, `format!`-style.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log($crate::Level::Warn, &::std::format!($($arg)*)) };
}

/// Logs at debug level, `format!`-style.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log($crate::Level::Debug, &::std::format!($($arg)*)) };
}

/// Logs at error level, `format!`-style.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log($crate::Level::Error, &::std::format!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(headers: &str) -> Response {
        Response {
            status: 200,
            url: "http://example.com/".into(),
            headers: headers.into(),
            body: b"hello".to_vec(),
            version: HttpVersion::Http11,
            elapsed: 1_500_000,
            retries: 0,
            text: None,
            extracted: None,
        }
    }

    #[test]
    fn headers_are_read_from_the_block() {
        let r = response("content-type: text/html\nx-empty: \nset-cookie: a=1\nset-cookie: b=2\n");
        assert_eq!(r.header("Content-Type"), Some("text/html"));
        assert_eq!(r.header("x-empty"), Some(""));
        assert_eq!(r.header("missing"), None);
        let cookies: Vec<_> = r
            .headers()
            .filter(|(k, _)| *k == "set-cookie")
            .map(|(_, v)| v)
            .collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
        assert_eq!(r.text(), "hello");
        assert_eq!(r.encoding(), None);
        let decoded = Response {
            text: Some(DecodedText {
                text: "café".into(),
                encoding: "windows-1252".into(),
            }),
            ..response("")
        };
        assert_eq!(decoded.text(), "café");
        assert_eq!(decoded.encoding(), Some("windows-1252"));
        assert!(r.is_success());
        assert_eq!(r.elapsed(), Duration::from_micros(1500));
    }

    #[test]
    fn requests_build_fluently() {
        let r = Request::post("http://example.com/", "x=1")
            .header("content-type", "application/x-www-form-urlencoded")
            .timeout(Duration::from_secs(2));
        assert_eq!(r.method, "POST");
        assert_eq!(r.body.as_deref(), Some(&b"x=1"[..]));
        assert_eq!(r.timeout, Some(2_000_000_000));
        assert!(r.text.is_none());
        let r = Request::get("http://a/").decode_text_as("latin1");
        assert!(matches!(r.text, Some(TextDecoding::Charset(ref l)) if l == "latin1"));
        assert_eq!(Request::from("http://a/").method, "GET");
    }
}
