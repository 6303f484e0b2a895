use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use crawlbox_extract::{ExtractError, Extracted, Extraction, Plan};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version};
use url::Url;

use crate::FetchError;
use crate::text::{DecodedText, TextDecoding};

/// A request for [`Session::fetch`](crate::Session::fetch): the body is
/// buffered, so the request can be replayed on a redirect.
///
/// This is crawlbox's one request model: a plugin's request (the WIT
/// `request`) becomes one of these once, at the WIT boundary, whether it is
/// fetched at once or queued in a crawl's frontier first. Queued requests
/// are serialised (to the crawl's journal, to Redis) as
/// `{"method", "url", "headers", "body", "text", "timeout_ms", "extract"}`, and checked
/// again as [`Request::new`] checks them when read back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "Wire", try_from = "Wire")]
pub struct Request {
    /// The method.
    pub method: Method,
    /// An absolute `http` or `https` URL.
    pub url: Url,
    /// Request headers. A `user-agent` is added when absent.
    pub headers: HeaderMap,
    /// The body; empty for none.
    pub body: Bytes,
    /// A whole-request timeout tighter than the client's, if any.
    pub timeout: Option<Duration>,
    /// Decode the body to text too ([`Response::text`]). Default: no.
    pub text: Option<TextDecoding>,
    /// Extract from the page, once its body is in, on the client's
    /// extraction threads ([`Response::extracted`]). Default: no.
    pub extract: Option<Arc<Plan>>,
}

impl Request {
    /// A request with `method` (as on the wire, e.g. `GET`) to `url`.
    ///
    /// Fails with `invalid-request` if the method is not a valid token or the
    /// URL is not an absolute `http`/`https` URL with a host.
    pub fn new(method: &str, url: &str) -> Result<Self, FetchError> {
        let method = Method::from_bytes(method.as_bytes())
            .map_err(|_| FetchError::invalid(format!("invalid HTTP method {method:?}")))?;
        Ok(Self {
            method,
            url: parse_url(url)?,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            timeout: None,
            text: None,
            extract: None,
        })
    }

    /// A `GET` request to `url`.
    pub fn get(url: &str) -> Result<Self, FetchError> {
        Self::new("GET", url)
    }

    /// Appends a header; fails with `invalid-request` on an invalid name or
    /// value (for example one containing CR or LF).
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, FetchError> {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| FetchError::invalid(format!("invalid header name {name:?}")))?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            FetchError::invalid(format!("invalid value for header {name:?}: {value:?}"))
        })?;
        self.headers.append(header, value);
        Ok(self)
    }

    /// The bytes this request holds in memory, near enough: its URL, its
    /// headers' names and values, and its body. What a session's budget
    /// for requests not sent yet is charged ([`Session::hold_request`](crate::Session::hold_request)).
    pub fn held_bytes(&self) -> u64 {
        let headers: usize = self
            .headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        (self.url.as_str().len() + headers + self.body.len()) as u64
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Asks for the body as text too, decoded as `how` says.
    pub fn text(mut self, how: TextDecoding) -> Self {
        self.text = Some(how);
        self
    }

    /// Sets a whole-request timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Asks for `what` to be extracted from the page; fails with
    /// `invalid-request` if a selector or pattern does not parse.
    pub fn extract(mut self, what: &Extraction) -> Result<Self, FetchError> {
        self.extract = Some(compile(what)?);
        Ok(self)
    }
}

/// Compiles an extraction, its errors as `invalid-request`.
fn compile(what: &Extraction) -> Result<Arc<Plan>, FetchError> {
    Plan::compile(what).map_err(|e| FetchError::invalid(e.to_string()))
}

/// [`Request`] as it is serialised: plain strings, empty parts left out.
#[derive(serde::Serialize, serde::Deserialize)]
struct Wire {
    method: String,
    url: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<Vec<u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<TextDecoding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    extract: Option<Extraction>,
}

impl From<Request> for Wire {
    fn from(request: Request) -> Self {
        // Destructured: a new field of `Request` does not compile until it
        // is serialised here too.
        let Request {
            method,
            url,
            headers,
            body,
            timeout,
            text,
            extract,
        } = request;
        Wire {
            method: method.as_str().to_owned(),
            url: url.into(),
            headers: headers
                .iter()
                .map(|(name, value)| {
                    let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                    (name.as_str().to_owned(), value)
                })
                .collect(),
            body: (!body.is_empty()).then(|| body.to_vec()),
            text,
            timeout_ms: timeout.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
            extract: extract.map(|plan| plan.spec().clone()),
        }
    }
}

impl TryFrom<Wire> for Request {
    type Error = FetchError;

    fn try_from(wire: Wire) -> Result<Self, FetchError> {
        let mut request = Request::new(&wire.method, &wire.url)?;
        for (name, value) in &wire.headers {
            request = request.header(name, value)?;
        }
        request.body = wire.body.map(Bytes::from).unwrap_or_default();
        request.text = wire.text;
        request.timeout = wire.timeout_ms.map(Duration::from_millis);
        request.extract = wire.extract.as_ref().map(compile).transpose()?;
        Ok(request)
    }
}

/// Parses an absolute `http`/`https` URL.
pub(crate) fn parse_url(url: &str) -> Result<Url, FetchError> {
    let parsed =
        Url::parse(url).map_err(|e| FetchError::invalid(format!("invalid URL {url:?}: {e}")))?;
    match parsed.scheme() {
        "http" | "https" => {}
        other => {
            return Err(FetchError::invalid(format!(
                "unsupported scheme {other:?} in {url:?}: only http and https are supported"
            )));
        }
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(FetchError::invalid(format!("URL {url:?} has no host")));
    }
    Ok(parsed)
}

/// Request headers only the host may set: connection management, framing
/// and proxying. A plugin setting one gets `invalid-request`.
pub const FORBIDDEN_HEADERS: &[&str] = &[
    "connection",
    "host",
    "http2-settings",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether a plugin may not set request header `name` (a name in
/// [`FORBIDDEN_HEADERS`] or starting with `proxy-`).
pub fn is_forbidden_header(name: &HeaderName) -> bool {
    let name = name.as_str();
    FORBIDDEN_HEADERS.contains(&name) || name.starts_with("proxy-")
}

/// Refuses forbidden headers, a `content-length` that disagrees with the
/// body, and header sections over `max_bytes`. (CR and LF cannot occur:
/// `HeaderValue` refuses them.)
pub(crate) fn check_headers(
    url: &Url,
    headers: &HeaderMap,
    body_len: usize,
    max_bytes: usize,
) -> Result<(), FetchError> {
    let mut total = 0;
    for (name, value) in headers {
        if is_forbidden_header(name) {
            return Err(FetchError::invalid(format!(
                "{url}: the {name} header is managed by the host and may not be set by a plugin"
            )));
        }
        if name == http::header::CONTENT_LENGTH
            && value.to_str().ok().and_then(|v| v.parse::<usize>().ok()) != Some(body_len)
        {
            return Err(FetchError::invalid(format!(
                "{url}: content-length {value:?} does not match the body of {body_len} bytes"
            )));
        }
        total += name.as_str().len() + value.len() + 4;
    }
    if total > max_bytes {
        return Err(FetchError::invalid(format!(
            "{url}: the request headers take {total} bytes, more than the limit of {max_bytes}"
        )));
    }
    Ok(())
}

/// A response from [`Session::fetch`](crate::Session::fetch), body read in full.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: StatusCode,
    /// The final URL, after redirects.
    pub url: Url,
    /// The headers of the final response.
    pub headers: HeaderMap,
    /// The body of the final response.
    pub body: Bytes,
    /// The HTTP version of the final response.
    pub version: Version,
    /// Time from sending the first request to the end of the last body,
    /// excluding time spent waiting for a slot under the caps.
    pub elapsed: Duration,
    /// Redirects followed to get here.
    pub redirects: u32,
    /// Times the request was sent again after a retryable failure.
    pub retries: u32,
    /// The body as text, if the request asked for it.
    pub text: Option<DecodedText>,
    /// What was extracted, if the request asked for it. Without the
    /// plan's `keep_body`, [`Response::body`] and [`Response::text`] are
    /// then empty.
    pub extracted: Option<Result<Extracted, ExtractError>>,
    /// Time the extraction took on an extraction thread: the caller charges
    /// it to whoever asked.
    pub extract_time: Duration,
    /// The host memory this response holds against its session's budget of
    /// buffered bytes, given back when the response is dropped.
    pub charge: crate::Charge,
}
