//! Outgoing HTTP proxies: `http://[user:pass@]host:port` URLs, a
//! round-robin choice per new connection, and the `CONNECT` handshake.
//!
//! Credentials never leave this module except as the `Proxy-Authorization`
//! value written to the proxy itself: a [`Proxy`] displays (and debugs) as
//! `http://host:port`, and a bad entry is named with its password masked.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::HeaderValue;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::pool::HostKey;
use crate::{ConfigError, ErrorKind, FetchError};

/// Largest answer to a `CONNECT` read, status line and headers.
const MAX_CONNECT_RESPONSE: usize = 16 * 1024;

/// One proxy of [`ClientConfig::proxies`](crate::ClientConfig::proxies).
pub(crate) struct Proxy {
    /// Where to connect: the host as in a URL (IPv6 in brackets) and port.
    key: HostKey,
    /// `http://host:port`: how messages name the proxy (no credentials).
    name: String,
    /// `Basic base64(user:pass)`, if the URL had credentials.
    authorization: Option<HeaderValue>,
}

impl Proxy {
    /// Parses `http://[user:pass@]host[:port]` (port 80 by default).
    pub(crate) fn parse(raw: &str) -> Result<Self, ConfigError> {
        let bad = |reason: &str| ConfigError::Proxy {
            proxy: mask(raw),
            reason: reason.to_owned(),
        };
        const EXPECTED: &str = "expected a URL like http://[user:pass@]host:port";
        if !raw.contains("://") {
            return Err(bad(EXPECTED));
        }
        let url = url::Url::parse(raw.trim()).map_err(|e| bad(&format!("{e}; {EXPECTED}")))?;
        if url.scheme() != "http" {
            return Err(bad(&format!(
                "only http:// proxy URLs are supported, not {}:// (https targets still get \
                 TLS end to end, through a CONNECT tunnel)",
                url.scheme()
            )));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("the URL has no host"))?;
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(bad(
                "a proxy URL is http://[user:pass@]host:port, without a path, query or fragment",
            ));
        }
        let port = url.port_or_known_default().unwrap_or(80);
        let authorization = if url.username().is_empty() && url.password().is_none() {
            None
        } else {
            let user = percent_decode(url.username());
            let pass = percent_decode(url.password().unwrap_or_default());
            let mut credentials = user;
            credentials.push(b':');
            credentials.extend_from_slice(&pass);
            let mut value = HeaderValue::from_str(&format!("Basic {}", base64(&credentials)))
                .map_err(|_| bad("the credentials cannot be encoded"))?;
            value.set_sensitive(true);
            Some(value)
        };
        let key = HostKey {
            tls: false,
            host: host.to_ascii_lowercase().into(),
            port,
        };
        Ok(Self {
            name: format!("http://{}:{}", key.host, key.port),
            key,
            authorization,
        })
    }

    /// Where to connect to reach the proxy.
    pub(crate) fn key(&self) -> &HostKey {
        &self.key
    }

    /// The `Proxy-Authorization` value to send it, if it has credentials.
    pub(crate) fn authorization(&self) -> Option<&HeaderValue> {
        self.authorization.as_ref()
    }
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("url", &self.name)
            .field("credentials", &self.authorization.is_some())
            .finish()
    }
}

/// The configured proxies, taken in turn by each new connection.
#[derive(Debug, Default)]
pub(crate) struct Proxies {
    list: Vec<Arc<Proxy>>,
    next: AtomicUsize,
}

impl Proxies {
    pub(crate) fn new(urls: &[String]) -> Result<Self, ConfigError> {
        Ok(Self {
            list: urls
                .iter()
                .map(|u| Proxy::parse(u).map(Arc::new))
                .collect::<Result<_, _>>()?,
            next: AtomicUsize::new(0),
        })
    }

    /// Whether there are none (connections go direct).
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The proxy for a new connection, round robin; `None`: go direct.
    pub(crate) fn next(&self) -> Option<Arc<Proxy>> {
        if self.list.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.list.len();
        Some(self.list[i].clone())
    }
}

/// `raw` with any credentials replaced by `***`, for messages about an entry
/// that may not even parse.
pub(crate) fn mask(raw: &str) -> String {
    let (scheme, rest) = match raw.find("://") {
        Some(i) => raw.split_at(i + 3),
        None => ("", raw),
    };
    // The last `@`: a password may hold an unencoded one.
    match rest.rfind('@') {
        Some(at) => format!("{scheme}***@{}", &rest[at + 1..]),
        None => raw.to_owned(),
    }
}

/// Asks `proxy`, over `tcp`, for a tunnel to `target`; on success `tcp`
/// carries the target's bytes, and nothing of them has been read.
pub(crate) async fn tunnel(
    tcp: &mut TcpStream,
    proxy: &Proxy,
    target: &HostKey,
) -> Result<(), FetchError> {
    let authority = format!("{}:{}", target.host, target.port);
    let failed = |what: String| {
        FetchError::new(
            ErrorKind::Connect,
            format!("proxy {proxy}, CONNECT to {authority}: {what}"),
        )
    };
    let mut head = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n").into_bytes();
    if let Some(auth) = proxy.authorization() {
        head.extend_from_slice(b"Proxy-Authorization: ");
        head.extend_from_slice(auth.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    tcp.write_all(&head)
        .await
        .map_err(|e| failed(format!("sending the request: {e}")))?;
    let answer = read_head(tcp)
        .await
        .map_err(|e| failed(format!("reading the answer: {e}")))?;
    let line = answer.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = printable(line);
    let mut parts = line.splitn(3, ' ');
    let (version, status, reason) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    match status.parse::<u16>() {
        Ok(code) if version.starts_with("HTTP/1.") && status.len() == 3 => {
            if (200..300).contains(&code) {
                Ok(())
            } else {
                Err(FetchError::new(
                    ErrorKind::Connect,
                    format!("proxy {proxy} refused CONNECT to {authority}: {code} {reason}")
                        .trim_end()
                        .to_owned(),
                ))
            }
        }
        _ => Err(failed(format!("not an HTTP answer: {line:?}"))),
    }
}

/// Reads a response head, up to and including its blank line, and not one
/// byte past it (what follows belongs to the tunnel).
async fn read_head(tcp: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 4096];
    loop {
        let n = tcp.peek(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        // The end of the head may straddle what was read and what is peeked.
        let overlap = head.len().min(3);
        let mut probe = head[head.len() - overlap..].to_vec();
        probe.extend_from_slice(&buf[..n]);
        let take = match probe.windows(4).position(|w| w == b"\r\n\r\n") {
            Some(at) => at + 4 - overlap,
            None => n,
        };
        tcp.read_exact(&mut buf[..take]).await?;
        head.extend_from_slice(&buf[..take]);
        if take < n || head.ends_with(b"\r\n\r\n") {
            return Ok(head);
        }
        if head.len() > MAX_CONNECT_RESPONSE {
            return Err(std::io::Error::other(format!(
                "the answer's head is longer than {MAX_CONNECT_RESPONSE} bytes"
            )));
        }
    }
}

/// Text from a peer, safe to put in a message: printable, at most 200 chars.
fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect()
}

fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// Standard base64 with padding.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_percent_decoding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(percent_decode("a%40b%3Ac%2"), b"a@b:c%2");
        assert_eq!(percent_decode("%zz%41"), b"%zzA");
    }

    #[test]
    fn proxies_parse_and_never_show_their_password() {
        let p = Proxy::parse("http://Aladdin:open%20sesame@Proxy.Example:3128").unwrap();
        assert_eq!(p.to_string(), "http://proxy.example:3128");
        assert_eq!(
            p.authorization().unwrap(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert!(p.authorization().unwrap().is_sensitive());
        assert!(!format!("{p:?}").contains("sesame"));
        let p = Proxy::parse("http://[::1]:8080/").unwrap();
        assert_eq!(
            (p.to_string(), p.authorization()),
            ("http://[::1]:8080".into(), None)
        );
        assert_eq!(Proxy::parse("http://proxy").unwrap().key().port, 80);

        for (raw, says) in [
            ("https://u:hunter2@proxy:3128", "only http:// proxy URLs"),
            ("socks5://u:hunter2@proxy:1080", "only http:// proxy URLs"),
            ("proxy:3128", "expected a URL"),
            ("http://u:hunter2@proxy:99999", "invalid port"),
            ("http://u:hunter2@proxy:3128/path", "without a path"),
            ("http://u:hun@ter2@proxy:3128?x", "without a path"),
            ("http://u:hunter2@", "empty host"),
            ("u:hunter2@proxy", "expected a URL"),
        ] {
            let err = Proxy::parse(raw).unwrap_err();
            let text = format!("{err} {err:?}");
            assert!(text.contains(says), "{raw}: {text}");
            assert!(
                !text.contains("hunter2") && !text.contains("ter2"),
                "{raw}: {text}"
            );
        }
    }

    #[tokio::test]
    async fn a_connect_answer_is_read_to_its_blank_line_and_no_further() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut peer, _) = listener.accept().await.unwrap();
            // The blank line split across two writes, the tunnel's first
            // bytes right behind it.
            peer.write_all(b"HTTP/1.1 200 OK\r\nvia: x\r\n\r")
                .await
                .unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            peer.write_all(b"\nTUNNEL").await.unwrap();
        });
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let head = read_head(&mut tcp).await.unwrap();
        assert_eq!(head, b"HTTP/1.1 200 OK\r\nvia: x\r\n\r\n");
        let mut rest = [0u8; 6];
        tcp.read_exact(&mut rest).await.unwrap();
        assert_eq!(&rest, b"TUNNEL");
    }

    #[test]
    fn rotation_is_round_robin() {
        let proxies = Proxies::new(&["http://a:1".into(), "http://b:2".into()]).unwrap();
        let names: Vec<_> = (0..4)
            .map(|_| proxies.next().unwrap().to_string())
            .collect();
        assert_eq!(
            names,
            ["http://a:1", "http://b:2", "http://a:1", "http://b:2"]
        );
        assert!(Proxies::new(&[]).unwrap().next().is_none());
    }
}
