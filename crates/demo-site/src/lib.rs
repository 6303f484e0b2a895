//! A local website for crawlbox's demo, tests and benchmarks.
//!
//! [`Site::start`] serves on `127.0.0.1` (a free port) from a thread of its
//! own, so it works the same under a sync test, an async test or the CLI.
//! It speaks HTTP/1.1 with keep-alive and HTTP/2 by prior knowledge (h2c),
//! and counts what a client did to it ([`Counters`]): connections accepted,
//! connections open at once, requests, requests in flight at once.
//!
//! | path | response |
//! |---|---|
//! | `/` | an index linking to `/page/0` |
//! | `/page/{n}` | HTML page `n` of [`SiteConfig::pages`] with a `<title>` and links to other pages (and two off-site links) |
//! | `/small` | 1 KiB of text |
//! | `/bytes/{n}` | `n` bytes, streamed in 64 KiB chunks |
//! | `/slow/{ms}` | waits `ms` before the response headers |
//! | `/slow-body/{ms}` | headers at once, the body after `ms` |
//! | `/status/{code}` | an empty response with that status |
//! | `/redirect/{n}` | `n` redirects (302) before a 200 |
//! | `/redirect-to?url=U` | a 302 to `U` |
//! | `/loop` | a 302 to itself |
//! | `/echo` | the request as JSON: method, path, query, headers, body |
//! | `/flaky/{n}?key=K` | 503 for the first `n` requests with key `K`, then 200 (`&retry-after=S` adds that header) |
//! | `/gzip` | a text page, gzip-encoded |
//! | `/gzip-bomb/{mib}` | ~`mib` MiB of zeros gzip-encoded into a few KiB |

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Shape of the site.
#[derive(Debug, Clone, Copy)]
pub struct SiteConfig {
    /// Pages under `/page/{n}`. Default: 300.
    pub pages: usize,
    /// Time each `/page/{n}` takes to answer, like a real server's latency
    /// (so that requests overlap and caps can be observed). Default: none.
    pub page_delay: Duration,
    /// What `/robots.txt` serves; `None`: 404 (no robots.txt, so
    /// everything is allowed). Default: `None`.
    pub robots_txt: Option<&'static str>,
    /// Pad each `/page/{n}` to about this many bytes, as real pages are,
    /// with paragraphs and 200 more links into the site; 0: none.
    /// Default: 0.
    pub page_bytes: usize,
}

impl Default for SiteConfig {
    fn default() -> Self {
        Self {
            pages: 300,
            page_delay: Duration::ZERO,
            robots_txt: None,
            page_bytes: 0,
        }
    }
}

/// What clients did to the site. All counts start at zero with the site.
#[derive(Debug, Default)]
pub struct Counters {
    connections: AtomicU64,
    open_connections: AtomicU64,
    peak_open_connections: AtomicU64,
    requests: AtomicU64,
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
    http2_requests: AtomicU64,
    arrivals: std::sync::Mutex<Vec<std::time::Instant>>,
    paths: std::sync::Mutex<std::collections::HashMap<String, u64>>,
}

/// Arrival times kept, at most (the first ones).
const MAX_ARRIVALS: usize = 100_000;

impl Counters {
    /// Requests received for `path` (paths beyond the first 100,000 distinct
    /// ones are not counted).
    pub fn requests_for(&self, path: &str) -> u64 {
        self.paths
            .lock()
            .expect("paths lock")
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// When requests arrived (the first 100,000), in order; `/robots.txt`
    /// not included.
    pub fn arrivals(&self) -> Vec<std::time::Instant> {
        self.arrivals.lock().expect("arrivals lock").clone()
    }

    /// TCP connections accepted.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }
    /// Most connections open at the same time.
    pub fn peak_open_connections(&self) -> u64 {
        self.peak_open_connections.load(Ordering::SeqCst)
    }
    /// Requests received, `/robots.txt` not counted (a crawler asks for it
    /// once per site: see `requests_for("/robots.txt")`).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
    /// Requests received over HTTP/2, `/robots.txt` not counted.
    pub fn http2_requests(&self) -> u64 {
        self.http2_requests.load(Ordering::SeqCst)
    }
    /// Most requests in flight at the same time (from arrival of the headers
    /// to the end of the response body).
    pub fn peak_in_flight(&self) -> u64 {
        self.peak_in_flight.load(Ordering::SeqCst)
    }
}

fn raise(peak: &AtomicU64, now: u64) {
    peak.fetch_max(now, Ordering::SeqCst);
}

/// A running site. Dropping it stops the server.
#[derive(Debug)]
pub struct Site {
    addr: SocketAddr,
    counters: Arc<Counters>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Site {
    /// Starts a site on `127.0.0.1` at a free port.
    pub fn start(config: SiteConfig) -> io::Result<Site> {
        Self::start_on(config, SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Starts a site on `addr`.
    pub fn start_on(config: SiteConfig, addr: SocketAddr) -> io::Result<Site> {
        Self::start_with(config, addr, None)
    }

    /// Starts an HTTPS site on `127.0.0.1`, with a certificate for
    /// `localhost` and `127.0.0.1` issued by a CA made up on the spot; the
    /// CA's certificate (PEM) is returned for the client to trust. It offers
    /// HTTP/2 and HTTP/1.1 by ALPN.
    #[cfg(feature = "tls")]
    pub fn start_tls(config: SiteConfig) -> io::Result<(Site, String)> {
        let (acceptor, ca_pem) = tls::acceptor().map_err(io::Error::other)?;
        let site = Self::start_with(
            config,
            SocketAddr::from(([127, 0, 0, 1], 0)),
            Some(acceptor),
        )?;
        Ok((site, ca_pem))
    }

    fn start_with(config: SiteConfig, addr: SocketAddr, tls: Option<Acceptor>) -> io::Result<Site> {
        let std_listener = std::net::TcpListener::bind(addr)?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let (stop, stopped) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread_counters = counters.clone();
        let thread = std::thread::Builder::new()
            .name(format!("demo-site-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    let listener =
                        TcpListener::from_std(std_listener).expect("listener on a runtime");
                    tokio::select! {
                        () = serve(listener, config, thread_counters, tls) => {}
                        _ = stopped => {}
                    }
                });
            })?;
        Ok(Site {
            addr,
            counters,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The absolute URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// What clients did so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(feature = "tls")]
type Acceptor = tokio_rustls::TlsAcceptor;
#[cfg(not(feature = "tls"))]
type Acceptor = Infallible;

async fn serve(
    listener: TcpListener,
    config: SiteConfig,
    counters: Arc<Counters>,
    tls: Option<Acceptor>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        counters.connections.fetch_add(1, Ordering::SeqCst);
        let open = counters.open_connections.fetch_add(1, Ordering::SeqCst) + 1;
        raise(&counters.peak_open_connections, open);
        let counters = counters.clone();
        #[cfg_attr(not(feature = "tls"), allow(clippy::clone_on_copy))]
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_connection(stream, config, counters.clone()).await,
                #[cfg(feature = "tls")]
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        serve_connection(stream, config, counters.clone()).await;
                    }
                }
                #[cfg(not(feature = "tls"))]
                Some(never) => match never {},
            }
            counters.open_connections.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// HTTP/1.1 or HTTP/2 (by preface) on one connection.
async fn serve_connection<I>(io: I, config: SiteConfig, counters: Arc<Counters>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let counters = counters.clone();
        async move { Ok::<_, Infallible>(handle(req, config, counters).await) }
    });
    let _ = auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(io), service)
        .await;
}

#[cfg(feature = "tls")]
mod tls {
    use std::sync::Arc;

    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    /// A TLS acceptor with a fresh CA and a leaf for localhost/127.0.0.1;
    /// returns the CA certificate as PEM.
    pub(crate) fn acceptor()
    -> Result<(tokio_rustls::TlsAcceptor, String), Box<dyn std::error::Error + Send + Sync>> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate()?;
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate()?;
        let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?
            .signed_by(&leaf_key, &issuer)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![CertificateDer::from(leaf.der().to_vec())], key)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok((
            tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            ca_cert.pem(),
        ))
    }
}

type Body = BoxBody<Bytes, Infallible>;

/// Counts a request as in flight until its response body is dropped.
struct InFlight(Arc<Counters>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(
    req: Request<Incoming>,
    config: SiteConfig,
    counters: Arc<Counters>,
) -> Response<Body> {
    let robots = req.uri().path() == "/robots.txt";
    if !robots {
        counters.requests.fetch_add(1, Ordering::SeqCst);
    }
    {
        let mut arrivals = counters.arrivals.lock().expect("arrivals lock");
        if arrivals.len() < MAX_ARRIVALS && !robots {
            arrivals.push(std::time::Instant::now());
        }
        let mut paths = counters.paths.lock().expect("paths lock");
        if paths.len() < MAX_ARRIVALS || paths.contains_key(req.uri().path()) {
            *paths.entry(req.uri().path().to_owned()).or_default() += 1;
        }
    }
    if req.version() == http::Version::HTTP_2 && !robots {
        counters.http2_requests.fetch_add(1, Ordering::SeqCst);
    }
    let now = counters.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    raise(&counters.peak_in_flight, now);
    let guard = InFlight(counters);
    let response = route(req, config).await;
    // The guard lives as long as the body, so a request counts as in flight
    // until the client has read its response.
    response.map(|body| {
        let mut guard = Some(guard);
        body.map_frame(move |frame| {
            let _ = &mut guard;
            frame
        })
        .boxed()
    })
}

async fn route(req: Request<Incoming>, config: SiteConfig) -> Response<Body> {
    route_with(req, config, &FLAKY).await
}

/// Attempts seen per `/flaky` key.
static FLAKY: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<String, u32>>> =
    std::sync::LazyLock::new(Default::default);

fn query_param(req: &Request<Incoming>, name: &str) -> Option<String> {
    req.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    })
}

/// The text `/gzip` serves, decoded.
pub const GZIP_TEXT: &str = "crawlbox demo site: this text was gzip-encoded by the server.\n";

fn gzipped(data: &[u8]) -> Bytes {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(data).expect("write to memory");
    Bytes::from(enc.finish().expect("finish in memory"))
}

fn encoded(body: Bytes, content_type: &str) -> Response<Body> {
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_ENCODING, "gzip")
        .body(Full::new(body).boxed())
        .expect("valid response")
}

async fn route_with(
    req: Request<Incoming>,
    config: SiteConfig,
    flaky: &std::sync::Mutex<std::collections::HashMap<String, u32>>,
) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').splitn(2, '/').collect();
    match segments.as_slice() {
        [""] => html(index_page(config)),
        ["page", n] => match n.parse::<usize>() {
            Ok(n) if n < config.pages => {
                if !config.page_delay.is_zero() {
                    tokio::time::sleep(config.page_delay).await;
                }
                html(padded_page(n, config.pages, config.page_bytes))
            }
            _ => status(StatusCode::NOT_FOUND),
        },
        ["small"] => text(SMALL.repeat(16)),
        // A hostile page: `n` elements nested, none closed (at most 1M).
        ["deep", n] => match n.parse::<usize>() {
            Ok(n) if n <= 1_000_000 => html(format!(
                "<!doctype html><title>deep</title>{}x",
                "<div class=a><span>".repeat(n)
            )),
            _ => status(StatusCode::BAD_REQUEST),
        },
        ["bytes", n] => match n.parse::<u64>() {
            Ok(n) => bytes(n),
            Err(_) => status(StatusCode::BAD_REQUEST),
        },
        ["slow", ms] => match ms.parse() {
            Ok(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                text("slow\n".to_owned())
            }
            Err(_) => status(StatusCode::BAD_REQUEST),
        },
        ["slow-body", ms] => match ms.parse() {
            Ok(ms) => slow_body(Duration::from_millis(ms)),
            Err(_) => status(StatusCode::BAD_REQUEST),
        },
        ["status", code] => match code
            .parse::<u16>()
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
        {
            Some(code) => status(code),
            None => status(StatusCode::BAD_REQUEST),
        },
        ["redirect", n] => match n.parse::<u32>() {
            Ok(0) => text("redirected\n".to_owned()),
            Ok(n) => redirect(&format!("/redirect/{}", n - 1)),
            Err(_) => status(StatusCode::BAD_REQUEST),
        },
        ["redirect-to"] => {
            let target = req.uri().query().and_then(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "url")
                    .map(|(_, v)| v.into_owned())
            });
            match target {
                Some(target) => redirect(&target),
                None => status(StatusCode::BAD_REQUEST),
            }
        }
        ["loop"] => redirect("/loop"),
        ["flaky", n] => match n.parse::<u32>() {
            Ok(n) => {
                let key = query_param(&req, "key").unwrap_or_default();
                let seen = {
                    let mut flaky = flaky.lock().expect("flaky lock");
                    let seen = flaky.entry(key).or_default();
                    *seen += 1;
                    *seen
                };
                if seen <= n {
                    let mut response = status(StatusCode::SERVICE_UNAVAILABLE);
                    if let Some(secs) = query_param(&req, "retry-after")
                        && let Ok(value) = secs.parse()
                    {
                        response.headers_mut().insert(header::RETRY_AFTER, value);
                    }
                    response
                } else {
                    text(format!("ok after {n} failures\n"))
                }
            }
            Err(_) => status(StatusCode::BAD_REQUEST),
        },
        ["gzip"] => encoded(gzipped(GZIP_TEXT.as_bytes()), "text/plain; charset=utf-8"),
        ["gzip-bomb", mib] => match mib.parse::<usize>() {
            Ok(mib) if mib <= 1024 => {
                encoded(gzipped(&vec![0u8; mib << 20]), "application/octet-stream")
            }
            _ => status(StatusCode::BAD_REQUEST),
        },
        ["echo"] => echo(req).await,
        ["robots.txt"] => match config.robots_txt {
            Some(robots) => text(robots.to_owned()),
            None => status(StatusCode::NOT_FOUND),
        },
        // Sets cookie `name=value` (path /, or as given) from the query.
        ["cookie", "set"] => {
            let mut response = text("set\n".to_owned());
            for (name, value) in req.uri().query().map_or_else(Vec::new, |q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect::<Vec<_>>()
            }) {
                if let Ok(value) = format!("{name}={value}; Path=/").parse() {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
            }
            response
        }
        // The cookie header received, as the body.
        ["cookie", "show"] => text(
            req.headers()
                .get(header::COOKIE)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default(),
        ),
        // "café" in ISO-8859-1, declared in the content-type.
        ["text", "latin1"] => Response::builder()
            .header(header::CONTENT_TYPE, "text/plain; charset=ISO-8859-1")
            .body(Full::new(Bytes::from_static(b"caf\xe9")).boxed())
            .expect("valid response"),
        // "日本" in Shift_JIS, declared only by a <meta charset>.
        ["text", "sjis"] => Response::builder()
            .header(header::CONTENT_TYPE, "text/html")
            .body(
                Full::new(Bytes::from_static(
                    b"<html><head><meta charset=\"shift_jis\"><title>\x93\xfa\x96\x7b</title></head></html>",
                ))
                .boxed(),
            )
            .expect("valid response"),
        _ => status(StatusCode::NOT_FOUND),
    }
}

const SMALL: &str = "crawlbox demo site: a small response of exactly one kibibyte...\n";

fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(Full::new(body.into()).boxed())
        .expect("valid response")
}

fn html(body: String) -> Response<Body> {
    full(StatusCode::OK, "text/html; charset=utf-8", body)
}

fn text(body: String) -> Response<Body> {
    full(StatusCode::OK, "text/plain; charset=utf-8", body)
}

fn status(code: StatusCode) -> Response<Body> {
    full(code, "text/plain; charset=utf-8", Bytes::new())
}

fn redirect(location: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, location)
        .body(Full::new(Bytes::new()).boxed())
        .expect("valid response")
}

fn bytes(n: u64) -> Response<Body> {
    const CHUNK: u64 = 64 * 1024;
    let chunk = Bytes::from(vec![b'x'; CHUNK as usize]);
    let frames = (0..n.div_ceil(CHUNK)).map(move |i| {
        let len = (n - i * CHUNK).min(CHUNK) as usize;
        Ok::<_, Infallible>(Frame::data(chunk.slice(..len)))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, n)
        .body(StreamBody::new(futures::stream::iter(frames)).boxed())
        .expect("valid response")
}

fn slow_body(delay: Duration) -> Response<Body> {
    let body = futures::stream::once(async move {
        tokio::time::sleep(delay).await;
        Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"finally\n")))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/plain")
        .body(StreamBody::new(body).boxed())
        .expect("valid response")
}

async fn echo(req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let json = serde_json::json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "version": format!("{:?}", parts.version),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    });
    full(StatusCode::OK, "application/json", json.to_string())
}

fn index_page(config: SiteConfig) -> String {
    format!(
        "<!doctype html>\n<html><head><title>crawlbox demo site</title></head><body>\n\
         <h1>crawlbox demo site</h1>\n<p>{} linked pages. Start at <a href=\"/page/0\">page 0</a>.</p>\n\
         </body></html>\n",
        config.pages
    )
}

/// The pages page `n` links to: a few spread over the site, so a
/// breadth-first crawl from page 0 reaches every page.
pub fn links_of(n: usize, pages: usize) -> Vec<usize> {
    let mut links = vec![
        (n + 1) % pages,
        (2 * n + 1) % pages,
        (2 * n + 2) % pages,
        (n * 7 + 3) % pages,
    ];
    links.dedup();
    links
}

/// Page `n`, padded to about `bytes` (see [`SiteConfig::page_bytes`]).
pub fn padded_page(n: usize, pages: usize, bytes: usize) -> String {
    let mut html = page(n, pages);
    if bytes == 0 {
        return html;
    }
    let mut filler = String::with_capacity(bytes);
    for k in 0..200 {
        filler.push_str(&format!(
            "<p>Section {k} of page {n}, <a href=\"/page/{}\">see also</a>.</p>\n",
            (n + 7 * k + 11) % pages
        ));
    }
    while filler.len() < bytes.saturating_sub(html.len()) {
        filler.push_str("<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.</p>\n");
    }
    html.insert_str(html.len() - "</body></html>\n".len(), &filler);
    html
}

/// The HTML of page `n`.
pub fn page(n: usize, pages: usize) -> String {
    let mut body = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Page {n}</title></head>\n<body>\n\
         <h1>Page {n}</h1>\n<p>This is page {n} of {pages} on the crawlbox demo site.</p>\n<ul>\n"
    );
    for link in links_of(n, pages) {
        body.push_str(&format!(
            "  <li><a href=\"/page/{link}\">Page {link}</a></li>\n"
        ));
    }
    // Off-site links and a fragment: a same-site crawler must skip them.
    body.push_str(
        "  <li><a href=\"https://example.com/\">elsewhere</a></li>\n\
         \x20 <li><a href=\"mailto:demo@example.com\">mail</a></li>\n\
         \x20 <li><a href=\"#top\">top</a></li>\n</ul>\n</body></html>\n",
    );
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_is_reachable_from_page_zero() {
        let pages = 300;
        let mut seen = vec![false; pages];
        let mut queue = std::collections::VecDeque::from([0]);
        seen[0] = true;
        while let Some(n) = queue.pop_front() {
            for link in links_of(n, pages) {
                if !seen[link] {
                    seen[link] = true;
                    queue.push_back(link);
                }
            }
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn small_is_one_kibibyte() {
        assert_eq!(SMALL.len() * 16, 1024);
    }
}
