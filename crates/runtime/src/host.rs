//! `crawlbox:plugin/host`: the interface crawlbox adds to WASI.

use crawlbox_net::{ErrorKind, FetchError, FetchQueue, Session};
use wasmtime::component::Resource;

use crate::state::PluginState;

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "crawlbox:plugin/scraper",
    imports: {
        "crawlbox:plugin/host.fetch": async,
        "crawlbox:plugin/host.fetch-all": async,
        "crawlbox:plugin/host.[constructor]fetch-queue": trappable | tracing,
        "crawlbox:plugin/host.[method]fetch-queue.push": trappable | tracing,
        "crawlbox:plugin/host.[method]fetch-queue.pending": trappable | tracing,
        "crawlbox:plugin/host.[method]fetch-queue.next": async | trappable | tracing,
        "crawlbox:plugin/host.[drop]fetch-queue": trappable | tracing,
        "crawlbox:plugin/host.emit": trappable,
        "crawlbox:plugin/html.parse": async,
        default: tracing,
    },
    exports: { default: async },
    with: {
        "crawlbox:plugin/host.fetch-queue": crawlbox_net::FetchQueue,
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
    },
    require_store_data_send: true,
});

/// The `crawlbox:plugin/spider` world, sharing this world's host interface.
pub(crate) mod spider {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "crawlbox:plugin/spider",
        exports: { default: async },
        with: {
            "crawlbox:plugin/host": crate::host::crawlbox::plugin::host,
            "crawlbox:plugin/html": crate::host::crawlbox::plugin::html,
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        },
        require_store_data_send: true,
    });
}

use crawlbox::plugin::host as wit;
use crawlbox::plugin::html as wit_html;

impl wit::Host for PluginState {
    async fn fetch(&mut self, req: wit::Request) -> Result<wit::Response, wit::FetchError> {
        fetch_one(&self.session, req)
            .await
            .map(|response| self.deliver(response))
            .map_err(to_wit_error)
    }

    async fn fetch_all(
        &mut self,
        reqs: Vec<wit::Request>,
    ) -> Vec<Result<wit::Response, wit::FetchError>> {
        let requests = reqs.into_iter().map(TryFrom::try_from).collect();
        self.session
            .fetch_many(requests)
            .await
            .into_iter()
            .map(|result| result.map(|r| self.deliver(r)).map_err(to_wit_error))
            .collect()
    }

    fn emit(&mut self, item: String) -> wasmtime::Result<Result<(), String>> {
        self.emit(item)
    }

    /// Escaped, and charged to the plugin's log budget (see `PluginLog`).
    fn log(&mut self, level: wit::Level, message: String) {
        use crate::output::Severity;
        let severity = match level {
            wit::Level::Trace => Severity::Trace,
            wit::Level::Debug => Severity::Debug,
            wit::Level::Info => Severity::Info,
            wit::Level::Warn => Severity::Warn,
            wit::Level::Error => Severity::Error,
        };
        self.log.message(severity, &message);
    }
}

/// Requests a plugin's `fetch-queue`s may hold, together, whose results were
/// not taken. They live in host memory, outside the plugin's memory limit.
pub const MAX_QUEUED: usize = 65_536;

/// `fetch-queue`s a plugin may hold at once (each has a task of its own).
pub const MAX_QUEUES: usize = 1024;

impl wit::HostFetchQueue for PluginState {
    fn new(&mut self) -> wasmtime::Result<Resource<FetchQueue>> {
        if self.queues >= MAX_QUEUES {
            wasmtime::bail!(
                "the plugin created more than {MAX_QUEUES} fetch-queues without dropping any: \
                 one queue can hold all of a crawl's requests"
            );
        }
        let queue = self.table.push(self.session.queue())?;
        self.queues += 1;
        Ok(queue)
    }

    fn push(
        &mut self,
        queue: Resource<FetchQueue>,
        reqs: Vec<wit::Request>,
    ) -> wasmtime::Result<Result<u64, String>> {
        let queue = self.table.get_mut(&queue)?;
        if self.queued.saturating_add(reqs.len()) > MAX_QUEUED {
            return Ok(Err(format!(
                "a plugin's fetch-queues hold at most {MAX_QUEUED} requests whose results were \
                 not taken; they hold {} and {} more were pushed: take results with `next` first",
                self.queued,
                reqs.len()
            )));
        }
        self.queued += reqs.len();
        let ticket = queue.next_ticket();
        for req in reqs {
            queue.push(req.try_into());
        }
        Ok(Ok(ticket))
    }

    fn pending(&mut self, queue: Resource<FetchQueue>) -> wasmtime::Result<u32> {
        let pending = self.table.get(&queue)?.pending();
        Ok(u32::try_from(pending).unwrap_or(u32::MAX))
    }

    async fn next(
        &mut self,
        queue: Resource<FetchQueue>,
        max: u32,
    ) -> wasmtime::Result<Vec<(u64, Result<wit::Response, wit::FetchError>)>> {
        let done = self
            .table
            .get_mut(&queue)?
            .next(usize::try_from(max).unwrap_or(usize::MAX))
            .await;
        self.queued -= done.len();
        Ok(done
            .into_iter()
            .map(|(ticket, result)| {
                (
                    ticket,
                    result.map(|r| self.deliver(r)).map_err(to_wit_error),
                )
            })
            .collect())
    }

    fn drop(&mut self, queue: Resource<FetchQueue>) -> wasmtime::Result<()> {
        let queue = self.table.delete(queue)?;
        self.queues -= 1;
        self.queued -= queue.pending();
        Ok(())
    }
}

pub(crate) async fn fetch_one(
    session: &Session,
    req: wit::Request,
) -> Result<crawlbox_net::Response, FetchError> {
    session.fetch(from_wit(session, req)?).await
}

/// A plugin's request as the net layer's; one that cannot be built is
/// counted in the session's stats, as the net layer counts its refusals.
pub(crate) fn from_wit(
    session: &Session,
    req: wit::Request,
) -> Result<crawlbox_net::Request, FetchError> {
    crawlbox_net::Request::try_from(req).inspect_err(|e| session.stats().record_error(e.kind))
}

impl wit_html::Host for PluginState {
    async fn parse(
        &mut self,
        html: String,
        url: String,
        what: wit_html::Extraction,
    ) -> Result<wit_html::Extracted, wit_html::ExtractError> {
        let plan = crawlbox_extract::Plan::compile(&from_wit_extraction(what))
            .map_err(to_wit_extract_error)?;
        let url = url::Url::parse(&url)
            .map_err(|e| wit_html::ExtractError::Other(format!("invalid page URL {url:?}: {e}")))?;
        let (extracted, spent) = self
            .session
            .extract(plan, html, url)
            .await
            .map_err(to_wit_extract_error)?;
        self.shared.charge_host_cpu(spent);
        Ok(to_wit_extracted(extracted))
    }
}

impl PluginState {
    /// A response as the plugin gets it, the host's work on it charged to
    /// the plugin's CPU budget.
    pub(crate) fn deliver(&self, response: crawlbox_net::Response) -> wit::Response {
        self.shared.charge_host_cpu(response.extract_time);
        to_wit_response(response)
    }
}

pub(crate) fn to_wit_response(response: crawlbox_net::Response) -> wit::Response {
    wit::Response {
        status: response.status.as_u16(),
        url: response.url.into(),
        headers: header_block(&response.headers),
        body: response.body.into(),
        version: match response.version {
            http::Version::HTTP_10 | http::Version::HTTP_09 => wit::HttpVersion::Http10,
            http::Version::HTTP_2 => wit::HttpVersion::Http2,
            http::Version::HTTP_3 => wit::HttpVersion::Http3,
            _ => wit::HttpVersion::Http11,
        },
        elapsed: u64::try_from(response.elapsed.as_nanos()).unwrap_or(u64::MAX),
        retries: response.retries,
        text: response.text.map(|decoded| wit::DecodedText {
            text: decoded.text,
            encoding: decoded.encoding.to_owned(),
        }),
        extracted: response
            .extracted
            .map(|result| result.map(to_wit_extracted).map_err(to_wit_extract_error)),
    }
}

fn to_wit_extracted(found: crawlbox_extract::Extracted) -> wit_html::Extracted {
    let index = |i: u32| i;
    wit_html::Extracted {
        links: found
            .links
            .into_iter()
            .map(|link| wit_html::Link {
                url: link.url,
                text: link.text,
                rel: link.rel,
            })
            .collect(),
        matches: found
            .matches
            .into_iter()
            .map(|hits| {
                hits.into_iter()
                    .map(|hit| wit_html::Hit {
                        parent: hit.parent.map(index),
                        value: hit.value,
                    })
                    .collect()
            })
            .collect(),
        truncated: found.truncated,
    }
}

fn to_wit_extract_error(err: crawlbox_extract::ExtractError) -> wit_html::ExtractError {
    use crawlbox_extract::ExtractError as E;
    match err {
        E::InvalidSelector(m) => wit_html::ExtractError::InvalidSelector(m),
        E::InvalidPattern(m) => wit_html::ExtractError::InvalidPattern(m),
        E::InvalidParent(m) => wit_html::ExtractError::InvalidParent(m),
        E::TooLarge(m) => wit_html::ExtractError::TooLarge(m),
        E::Timeout(m) => wit_html::ExtractError::Timeout(m),
        E::Other(m) => wit_html::ExtractError::Other(m),
    }
}

/// The one mapping of a plugin's extraction to the extract crate's.
fn from_wit_extraction(what: wit_html::Extraction) -> crawlbox_extract::Extraction {
    let wit_html::Extraction {
        links,
        queries,
        keep_body,
    } = what;
    crawlbox_extract::Extraction {
        links: links.map(|rule| {
            let wit_html::LinkRule {
                same_host,
                allow,
                deny,
                skip_nofollow,
            } = rule;
            crawlbox_extract::LinkRule {
                same_host,
                allow,
                deny,
                skip_nofollow,
            }
        }),
        queries: queries
            .into_iter()
            .map(|q| crawlbox_extract::Query {
                selector: q.selector,
                parent: q.parent,
            })
            .collect(),
        keep_body,
    }
}

/// Headers as `name: value` lines (see `response.headers` in the WIT).
fn header_block(headers: &http::HeaderMap) -> String {
    let size: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 3)
        .sum();
    let mut block = String::with_capacity(size);
    for (name, value) in headers {
        block.push_str(name.as_str());
        block.push_str(": ");
        match value.to_str() {
            Ok(text) => block.push_str(text),
            Err(_) => block.push_str(&String::from_utf8_lossy(value.as_bytes())),
        }
        block.push('\n');
    }
    block
}

/// The one mapping of a plugin's request (the WIT `request`) to the
/// request model of the net layer, for every path: `fetch`, `fetch-all`,
/// `fetch-queue` and a spider's start and follow requests. A new field of
/// the WIT `request` is mapped here, and nowhere else (see
/// docs/adding-a-request-option.md).
impl TryFrom<wit::Request> for crawlbox_net::Request {
    type Error = FetchError;

    fn try_from(req: wit::Request) -> Result<Self, FetchError> {
        let wit::Request {
            method,
            url,
            headers,
            body,
            timeout,
            text,
            extract,
        } = req;
        let mut request = crawlbox_net::Request::new(&method, &url)?;
        for (name, value) in &headers {
            request = request.header(name, value)?;
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        if let Some(ns) = timeout {
            request = request.timeout(std::time::Duration::from_nanos(ns));
        }
        if let Some(how) = text {
            request = request.text(match how {
                wit::TextDecoding::Detect => crawlbox_net::TextDecoding::Detect,
                wit::TextDecoding::Charset(label) => crawlbox_net::TextDecoding::Charset(label),
            });
        }
        if let Some(what) = extract {
            request = request.extract(&from_wit_extraction(what))?;
        }
        Ok(request)
    }
}

pub(crate) fn to_wit_error(err: FetchError) -> wit::FetchError {
    let FetchError { kind, message, .. } = err;
    match kind {
        ErrorKind::InvalidRequest => wit::FetchError::InvalidRequest(message),
        ErrorKind::Dns => wit::FetchError::Dns(message),
        ErrorKind::Connect => wit::FetchError::Connect(message),
        ErrorKind::Tls => wit::FetchError::Tls(message),
        ErrorKind::Timeout => wit::FetchError::Timeout(message),
        ErrorKind::TooLarge => wit::FetchError::TooLarge(message),
        ErrorKind::Denied => wit::FetchError::Denied(message),
        ErrorKind::Protocol => wit::FetchError::Protocol(message),
        ErrorKind::TooManyRedirects => wit::FetchError::TooManyRedirects(message),
        ErrorKind::DeniedByRobots => wit::FetchError::DeniedByRobots(message),
        // 0.2.0 has no case for it (its variants keep their shape): the
        // kind leads the message of `other`, where the SDKs read it.
        ErrorKind::NotRecorded => wit::FetchError::Other(format!("not-recorded: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::{wit, wit_html};

    /// An extraction as a plugin writes it, destructured: a new field does
    /// not compile until it is set here.
    fn to_wit_extraction(what: &crawlbox_extract::Extraction) -> wit_html::Extraction {
        let crawlbox_extract::Extraction {
            links,
            queries,
            keep_body,
        } = what.clone();
        wit_html::Extraction {
            links: links.map(|rule| wit_html::LinkRule {
                same_host: rule.same_host,
                allow: rule.allow,
                deny: rule.deny,
                skip_nofollow: rule.skip_nofollow,
            }),
            queries: queries
                .into_iter()
                .map(|q| wit_html::Query {
                    selector: q.selector,
                    parent: q.parent,
                })
                .collect(),
            keep_body,
        }
    }

    /// A selector that does not parse fails the request at once, naming it.
    #[test]
    fn a_request_with_a_bad_selector_is_refused_at_the_boundary() {
        let request = wit::Request {
            method: "GET".into(),
            url: "http://a.example/".into(),
            headers: Vec::new(),
            body: None,
            timeout: None,
            text: None,
            extract: Some(wit_html::Extraction {
                links: None,
                queries: vec![wit_html::Query {
                    selector: "a + b::text".into(),
                    parent: None,
                }],
                keep_body: false,
            }),
        };
        let err = crawlbox_net::Request::try_from(request).unwrap_err();
        assert_eq!(err.kind, crawlbox_net::ErrorKind::InvalidRequest);
        assert!(err.message.contains("a + b"), "{err}");
    }

    /// The one WIT → net mapping keeps every field of a request.
    #[test]
    fn every_field_of_a_wit_request_is_mapped() {
        let expected = crawlbox_net::test_support::request_with_every_field();
        // Destructured: a new field does not compile until it is set here.
        let crawlbox_net::Request {
            method,
            url,
            headers,
            body,
            timeout,
            text,
            extract,
        } = expected.clone();
        let wit_request = wit::Request {
            method: method.as_str().into(),
            url: url.into(),
            headers: headers
                .iter()
                .map(|(name, value)| (name.as_str().into(), value.to_str().unwrap().into()))
                .collect(),
            body: Some(body.to_vec()),
            timeout: timeout.map(|t| u64::try_from(t.as_nanos()).unwrap()),
            text: text.map(|how| match how {
                crawlbox_net::TextDecoding::Detect => wit::TextDecoding::Detect,
                crawlbox_net::TextDecoding::Charset(label) => wit::TextDecoding::Charset(label),
            }),
            extract: extract.map(|plan| to_wit_extraction(plan.spec())),
        };
        assert_eq!(
            crawlbox_net::Request::try_from(wit_request).unwrap(),
            expected
        );

        let detect = wit::Request {
            method: "GET".into(),
            url: "http://a.example/".into(),
            headers: Vec::new(),
            body: None,
            timeout: None,
            text: Some(wit::TextDecoding::Detect),
            extract: None,
        };
        let request = crawlbox_net::Request::try_from(detect).unwrap();
        assert_eq!(request.text, Some(crawlbox_net::TextDecoding::Detect));
        assert!(request.body.is_empty());
        assert_eq!(request.timeout, None);
    }

    /// A request that cannot be sent is refused at the boundary, with the
    /// reason.
    #[test]
    fn an_invalid_wit_request_is_refused_with_its_reason() {
        let request = |method: &str, url: &str, header: (&str, &str)| wit::Request {
            method: method.into(),
            url: url.into(),
            headers: vec![(header.0.into(), header.1.into())],
            body: None,
            timeout: None,
            text: None,
            extract: None,
        };
        for (bad, why) in [
            (request("GET", "ftp://a/", ("a", "b")), "unsupported scheme"),
            (
                request("GE T", "http://a/", ("a", "b")),
                "invalid HTTP method",
            ),
            (
                request("GET", "http://a/", ("a b", "c")),
                "invalid header name",
            ),
            (request("GET", "http://a/", ("a", "b\nc")), "invalid value"),
        ] {
            let err = crawlbox_net::Request::try_from(bad).unwrap_err();
            assert!(err.message.contains(why), "{err}");
        }
    }
}
