//! `crawlbox:plugin/host`: the interface crawlbox adds to WASI.

use crawlbox_net::{ErrorKind, FetchError, Session};
use futures::{StreamExt, stream};

use crate::state::PluginState;

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "crawlbox:plugin/scraper",
    imports: {
        "crawlbox:plugin/host.fetch": async,
        "crawlbox:plugin/host.fetch-all": async,
        "crawlbox:plugin/host.emit": trappable,
        default: tracing,
    },
    exports: { default: async },
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
    },
    require_store_data_send: true,
});

use crawlbox::plugin::host as wit;

impl wit::Host for PluginState {
    async fn fetch(&mut self, req: wit::Request) -> Result<wit::Response, wit::FetchError> {
        fetch_one(&self.session, req).await
    }

    /// Runs the batch with as many requests in flight as the global cap
    /// allows (more could only wait), completing in any order, and returns
    /// the results in request order. Creating every future up front would
    /// allocate and move one per request however large the batch.
    async fn fetch_all(
        &mut self,
        reqs: Vec<wit::Request>,
    ) -> Vec<Result<wit::Response, wit::FetchError>> {
        let session = &self.session;
        let in_flight = session.client().config().concurrency;
        let mut results: Vec<Option<Result<wit::Response, wit::FetchError>>> =
            std::iter::repeat_with(|| None).take(reqs.len()).collect();
        let mut done = stream::iter(reqs.into_iter().enumerate())
            .map(|(i, req)| async move { (i, fetch_one(session, req).await) })
            .buffer_unordered(in_flight);
        while let Some((i, result)) = done.next().await {
            results[i] = Some(result);
        }
        results
            .into_iter()
            .map(|r| r.expect("every request of the batch completes"))
            .collect()
    }

    fn emit(&mut self, item: String) -> wasmtime::Result<Result<(), String>> {
        self.emit(item)
    }

    fn log(&mut self, level: wit::Level, message: String) {
        let plugin = &*self.plugin;
        match level {
            wit::Level::Trace => tracing::trace!(target: "plugin", plugin, "{message}"),
            wit::Level::Debug => tracing::debug!(target: "plugin", plugin, "{message}"),
            wit::Level::Info => tracing::info!(target: "plugin", plugin, "{message}"),
            wit::Level::Warn => tracing::warn!(target: "plugin", plugin, "{message}"),
            wit::Level::Error => tracing::error!(target: "plugin", plugin, "{message}"),
        }
    }
}

async fn fetch_one(session: &Session, req: wit::Request) -> Result<wit::Response, wit::FetchError> {
    let request = to_net_request(req).map_err(|e| {
        session.stats().record_error(e.kind);
        to_wit_error(e)
    })?;
    let response = session.fetch(request).await.map_err(to_wit_error)?;
    Ok(wit::Response {
        status: response.status.as_u16(),
        url: response.url.into(),
        headers: response
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: response.body.into(),
        version: match response.version {
            http::Version::HTTP_10 | http::Version::HTTP_09 => wit::HttpVersion::Http10,
            http::Version::HTTP_2 => wit::HttpVersion::Http2,
            http::Version::HTTP_3 => wit::HttpVersion::Http3,
            _ => wit::HttpVersion::Http11,
        },
        elapsed_us: u64::try_from(response.elapsed.as_micros()).unwrap_or(u64::MAX),
    })
}

fn to_net_request(req: wit::Request) -> Result<crawlbox_net::Request, FetchError> {
    let mut request = crawlbox_net::Request::new(&req.method, &req.url)?;
    for (name, value) in &req.headers {
        request = request.header(name, value)?;
    }
    if let Some(body) = req.body {
        request = request.body(body);
    }
    if let Some(ms) = req.timeout_ms {
        request = request.timeout(std::time::Duration::from_millis(ms.into()));
    }
    Ok(request)
}

fn to_wit_error(err: FetchError) -> wit::FetchError {
    let FetchError { kind, message } = err;
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
    }
}
