//! A small HTTP proxy for the tests: `CONNECT` tunnels and absolute-form
//! forwarding (one request per connection, sent upstream with
//! `connection: close`), optionally requiring `Proxy-Authorization`.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt, copy_bidirectional};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy saw.
#[derive(Debug, Default)]
struct Seen {
    connections: AtomicU64,
    connects: AtomicU64,
    request_lines: Mutex<Vec<String>>,
    authorizations: Mutex<Vec<Option<String>>>,
}

/// A proxy on 127.0.0.1, running on the test's runtime.
#[derive(Debug)]
pub struct TestProxy {
    addr: SocketAddr,
    seen: Arc<Seen>,
}

impl TestProxy {
    /// Starts a proxy; with `credentials` (`user:pass`), a request without
    /// them gets 407. Call inside a tokio runtime.
    pub fn start(credentials: Option<&str>) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let listener = TcpListener::from_std(listener).unwrap();
        let seen = Arc::new(Seen::default());
        let expected = credentials.map(|c| format!("Basic {}", base64(c.as_bytes())));
        let state = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                state.connections.fetch_add(1, Ordering::SeqCst);
                let (state, expected) = (state.clone(), expected.clone());
                tokio::spawn(async move {
                    let _ = handle(stream, &state, expected.as_deref()).await;
                });
            }
        });
        Self { addr, seen }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://USERINFO@127.0.0.1:PORT`.
    pub fn url_with(&self, userinfo: &str) -> String {
        format!("http://{userinfo}@{}", self.addr)
    }

    /// Connections accepted.
    pub fn connections(&self) -> u64 {
        self.seen.connections.load(Ordering::SeqCst)
    }

    /// `CONNECT` requests received (whether or not they were let through).
    pub fn connects(&self) -> u64 {
        self.seen.connects.load(Ordering::SeqCst)
    }

    /// The request lines received, in order.
    pub fn request_lines(&self) -> Vec<String> {
        self.seen.request_lines.lock().unwrap().clone()
    }

    /// The `Proxy-Authorization` of each request, in order.
    pub fn authorizations(&self) -> Vec<Option<String>> {
        self.seen.authorizations.lock().unwrap().clone()
    }
}

async fn handle(mut client: TcpStream, seen: &Seen, expected: Option<&str>) -> io::Result<()> {
    let (head, rest) = read_head(&mut client).await?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    let headers: Vec<(&str, &str)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim(), v.trim()))
        .collect();
    let authorization = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("proxy-authorization"))
        .map(|(_, v)| (*v).to_owned());
    seen.request_lines
        .lock()
        .unwrap()
        .push(request_line.clone());
    seen.authorizations
        .lock()
        .unwrap()
        .push(authorization.clone());
    let mut parts = request_line.split(' ');
    let (method, target, version) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    if method == "CONNECT" {
        seen.connects.fetch_add(1, Ordering::SeqCst);
    }
    if let Some(expected) = expected
        && authorization.as_deref() != Some(expected)
    {
        client
            .write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                  proxy-authenticate: Basic realm=\"test\"\r\n\
                  content-length: 0\r\nconnection: close\r\n\r\n",
            )
            .await?;
        return Ok(());
    }
    if method == "CONNECT" {
        let mut upstream = TcpStream::connect(target).await?;
        client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await?;
        upstream.write_all(&rest).await?;
        copy_bidirectional(&mut client, &mut upstream).await?;
        return Ok(());
    }
    let Some(url) = target.strip_prefix("http://") else {
        client
            .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            .await?;
        return Ok(());
    };
    let (authority, path) = url.split_at(url.find('/').unwrap_or(url.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut upstream = TcpStream::connect(authority).await?;
    let mut out = format!("{method} {path} {version}\r\n");
    for (name, value) in &headers {
        let lower = name.to_ascii_lowercase();
        if !lower.starts_with("proxy-") && lower != "connection" && lower != "keep-alive" {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    out.push_str("connection: close\r\n\r\n");
    upstream.write_all(out.as_bytes()).await?;
    upstream.write_all(&rest).await?;
    copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

/// The request head (without its blank line) and whatever came after it.
async fn read_head(stream: &mut TcpStream) -> io::Result<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf[end + 4..].to_vec();
            buf.truncate(end);
            return Ok((String::from_utf8_lossy(&buf).into_owned(), rest));
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 || buf.len() > 64 * 1024 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Standard base64 with padding.
pub fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
