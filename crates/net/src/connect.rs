//! Opening connections: resolve, check the address, TCP connect (directly
//! or to a proxy, with a `CONNECT` tunnel when the target is TLS or h2c),
//! TLS with ALPN.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::pool::HostKey;
use crate::proxy::{Proxies, Proxy};
use crate::{EgressPolicy, ErrorKind, FetchError, TimeoutKind};

/// The protocol a new connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Http1,
    Http2,
}

/// A new connection.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) stream: Stream,
    pub(crate) protocol: Protocol,
    /// The target's address the policy allowed: the peer of a direct
    /// connection, the checked address of the target behind a proxy.
    pub(crate) ip: IpAddr,
    /// The proxy that forwards this connection's requests (plain `http`
    /// through a proxy: requests in absolute-form, with the proxy's
    /// credentials). `None` for direct connections and tunnels.
    pub(crate) forward: Option<Arc<Proxy>>,
}

/// A TCP or TLS stream.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

pub(crate) struct Connector {
    tls: TlsConnector,
    timeout: Duration,
    dns: DnsCache,
    /// `host:port`s spoken to over HTTP/2 without TLS (prior knowledge).
    h2c: Vec<String>,
    /// Proxies taken in turn by new connections; none: direct.
    proxies: Proxies,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("timeout", &self.timeout)
            .field("proxies", &self.proxies)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// `extra_roots`: PEM certificates trusted beside the webpki roots;
    /// `proxies`: proxy URLs (see [`crate::ClientConfig::proxies`]).
    pub(crate) fn new(
        timeout: Duration,
        extra_roots: &[u8],
        h2c: Vec<String>,
        dns_ttl: Duration,
        proxies: &[String],
    ) -> Result<Self, crate::ConfigError> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for cert in CertificateDer::pem_slice_iter(extra_roots) {
            let cert = cert.map_err(|e| crate::ConfigError::Certificate(e.to_string()))?;
            roots
                .add(cert)
                .map_err(|e| crate::ConfigError::Certificate(e.to_string()))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            tls: TlsConnector::from(Arc::new(config)),
            timeout,
            dns: DnsCache::new(dns_ttl),
            h2c: h2c.into_iter().map(|h| h.to_ascii_lowercase()).collect(),
            proxies: Proxies::new(proxies)?,
        })
    }

    /// Whether `key` is configured for HTTP/2 without TLS.
    pub(crate) fn is_h2c(&self, key: &HostKey) -> bool {
        !key.tls && self.h2c.contains(&format!("{}:{}", key.host, key.port))
    }

    /// Opens a connection to `key`, within the connect timeout (or within
    /// `timeout`, a request's own, if that is tighter), to an address
    /// `policy` allows (through the next proxy, if there are any).
    pub(crate) async fn connect(
        &self,
        key: &HostKey,
        policy: &EgressPolicy,
        timeout: Duration,
    ) -> Result<Connection, FetchError> {
        let timeout = timeout.min(self.timeout);
        tokio::time::timeout(timeout, self.connect_inner(key, policy))
            .await
            .unwrap_or_else(|_| {
                Err(FetchError::timeout(
                    TimeoutKind::Connect,
                    format!(
                        "connecting to {key} took longer than the connect timeout ({timeout:?})"
                    ),
                ))
            })
    }

    async fn connect_inner(
        &self,
        key: &HostKey,
        policy: &EgressPolicy,
    ) -> Result<Connection, FetchError> {
        let addrs = self.dns.resolve(key).await?;
        let (tcp, ip, forward) = if self.proxies.is_empty() {
            let addrs = allowed_addrs(key, addrs, policy)?;
            let (tcp, ip) = connect_any(key, &addrs).await?;
            (tcp, ip, None)
        } else {
            // The proxy resolves the name again and picks an address itself:
            // every address of the name must be allowed.
            let ip = all_addrs_allowed(key, &addrs, policy)?;
            let Some(proxy) = self.proxies.next() else {
                return Err(FetchError::new(ErrorKind::Connect, "no proxy configured"));
            };
            let proxy_addrs = self.dns.resolve(proxy.key()).await.map_err(|mut e| {
                e.message = format!("proxy {proxy} for {key}: {}", e.message);
                e
            })?;
            // The proxy's own address is the operator's choice: not checked.
            let (mut tcp, _) = connect_any(proxy.key(), &proxy_addrs)
                .await
                .map_err(|mut e| {
                    e.message = format!("proxy for {key}: {}", e.message);
                    e
                })?;
            if key.tls || self.is_h2c(key) {
                crate::proxy::tunnel(&mut tcp, &proxy, key).await?;
                (tcp, ip, None)
            } else {
                (tcp, ip, Some(proxy))
            }
        };
        if !key.tls {
            let protocol = if self.is_h2c(key) {
                Protocol::Http2
            } else {
                Protocol::Http1
            };
            return Ok(Connection {
                stream: Stream::Tcp(tcp),
                protocol,
                ip,
                forward,
            });
        }
        let name = match key.ip() {
            Some(ip) => ServerName::IpAddress(ip.into()),
            None => ServerName::try_from(key.host.to_string()).map_err(|e| {
                FetchError::invalid(format!(
                    "{:?} is not a valid TLS server name: {e}",
                    key.host
                ))
            })?,
        };
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| FetchError::new(ErrorKind::Tls, format!("TLS with {key}: {e}")))?;
        let protocol = match tls.get_ref().1.alpn_protocol() {
            Some(b"h2") => Protocol::Http2,
            _ => Protocol::Http1,
        };
        Ok(Connection {
            stream: Stream::Tls(Box::new(tls)),
            protocol,
            ip,
            forward: None,
        })
    }
}

/// The resolved addresses `policy` lets us connect to; `denied` naming the
/// address and how to grant it when there are none.
fn allowed_addrs(
    key: &HostKey,
    addrs: Vec<SocketAddr>,
    policy: &EgressPolicy,
) -> Result<Vec<SocketAddr>, FetchError> {
    let mut refused = None;
    let allowed: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|addr| match policy.check_ip(addr.ip()) {
            Ok(()) => true,
            Err(why) => {
                refused.get_or_insert((addr.ip(), why));
                false
            }
        })
        .collect();
    match (allowed.is_empty(), refused) {
        (true, Some((ip, why))) => Err(denied(key, ip, why, "")),
        _ => Ok(allowed),
    }
}

/// For a connection through a proxy, which connects to whichever address
/// it resolves: the first address, if `policy` allows every one of them.
fn all_addrs_allowed(
    key: &HostKey,
    addrs: &[SocketAddr],
    policy: &EgressPolicy,
) -> Result<IpAddr, FetchError> {
    for addr in addrs {
        if let Err(why) = policy.check_ip(addr.ip()) {
            let note = if addrs.len() > 1 {
                " (through a proxy, every address of the name must be allowed: \
                 the proxy picks one itself)"
            } else {
                ""
            };
            return Err(denied(key, addr.ip(), why, note));
        }
    }
    addrs
        .first()
        .map(SocketAddr::ip)
        .ok_or_else(|| FetchError::new(ErrorKind::Dns, format!("{key} has no addresses")))
}

/// `denied`: `key` resolves to `ip`, which `why`; how to grant it.
fn denied(key: &HostKey, ip: IpAddr, why: &str, note: &str) -> FetchError {
    FetchError::new(
        ErrorKind::Denied,
        format!(
            "{key} resolves to {ip}, {why}{note}; grant it with `--allow-network {ip}` or \
             `allowed_networks = [\"{ip}\"]` in crawlbox.toml"
        ),
    )
}

/// Addresses and when they were looked up.
type Answer = (Vec<SocketAddr>, std::time::Instant);

/// Answers of the system resolver, reused for a TTL (as aiohttp's
/// `ttl_dns_cache`). What it returns still goes through the address check.
#[derive(Debug)]
struct DnsCache {
    ttl: Duration,
    answers: std::sync::Mutex<std::collections::HashMap<(String, u16), Answer>>,
}

impl DnsCache {
    fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            answers: Default::default(),
        }
    }

    async fn resolve(&self, key: &HostKey) -> Result<Vec<SocketAddr>, FetchError> {
        if key.ip().is_some() || self.ttl.is_zero() {
            return resolve(key).await;
        }
        let name = (key.host.to_string(), key.port);
        if let Some((addrs, at)) = self.answers.lock().expect("dns lock").get(&name)
            && at.elapsed() < self.ttl
        {
            return Ok(addrs.clone());
        }
        let addrs = resolve(key).await?;
        self.answers
            .lock()
            .expect("dns lock")
            .insert(name, (addrs.clone(), std::time::Instant::now()));
        Ok(addrs)
    }
}

async fn resolve(key: &HostKey) -> Result<Vec<SocketAddr>, FetchError> {
    if let Some(ip) = key.ip() {
        return Ok(vec![SocketAddr::new(ip, key.port)]);
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((&*key.host, key.port))
        .await
        .map_err(|e| FetchError::new(ErrorKind::Dns, format!("resolving {}: {e}", key.host)))?
        .collect();
    if addrs.is_empty() {
        return Err(FetchError::new(
            ErrorKind::Dns,
            format!("{} has no addresses", key.host),
        ));
    }
    Ok(addrs)
}

/// Tries each address in turn; returns the first connection made.
async fn connect_any(
    key: &HostKey,
    addrs: &[SocketAddr],
) -> Result<(TcpStream, IpAddr), FetchError> {
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(tcp) => {
                // Requests are written whole; Nagle would only add latency.
                let _ = tcp.set_nodelay(true);
                return Ok((tcp, addr.ip()));
            }
            Err(e) => last = Some((addr, e)),
        }
    }
    Err(match last {
        Some((addr, err)) => FetchError::new(
            ErrorKind::Connect,
            format!("connecting to {key} ({addr}): {err}"),
        ),
        None => FetchError::new(ErrorKind::Dns, format!("{key} has no addresses")),
    })
}

impl HostKey {
    /// The host as an IP address, if it is an IP literal.
    fn ip(&self) -> Option<IpAddr> {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        host.parse().ok()
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Tcp(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
