//! A WASI 0.3 command: fetches URLs with `wasi:http/client@0.3.0`'s
//! `send`, an `async func`, so plain async Rust keeps many requests in
//! flight with no poll loop and no pollables. Under `crawlbox run
//! --wasip3`, every request goes through the host's client.
//!
//! * `p3-fetch [-c C] [-H NAME:VALUE]... [-d DATA] URL...`: fetches each
//!   URL, C at a time (default 8), with the headers given, and prints one
//!   JSON line per URL: `{"url", "status", "bytes", "body"}` (`body`: the
//!   first 4 KiB, as text), or `{"url", "error"}`. With `-d`, each request
//!   is a `POST` of DATA, streamed in a request body written while `send`
//!   is pending.
//! * `p3-fetch bench -n N -c C -b BASE -p PATH`: fetches N URLs (PATH may
//!   hold `{i}`), C at a time, and prints the benchmark kit's result line.
//! * `p3-fetch spin URL`: starts fetching URL, then spins forever beside
//!   it (for the CPU-limit test: a hostile 0.3 guest).
//! * `p3-fetch handles`: creates component-model futures without end,
//!   printing how many every 10000 (a hostile 0.3 guest: each one costs
//!   the host, not the guest, memory).
//! * `p3-fetch upload-flood URL`: `POST`s to URL a request body that never
//!   ends, 1 MiB a write, from 1 MiB of its own memory (a hostile 0.3
//!   guest: what it streams is held by the host until the request is
//!   sent), and prints `{"written": BYTES, "error"}` when a write or the
//!   request fails.

use std::time::Instant;

use futures::{FutureExt, StreamExt};
use wasip3::http::client;
use wasip3::http::types::{ErrorCode, Fields, Method, Request, Response, Scheme};
use wasip3::wit_bindgen::rt::async_support::{
    FutureReader, StreamReader, StreamResult, StreamWriter,
};
use wasip3::{wit_future, wit_stream};

wasip3::cli::command::export!(Fetch);

struct Fetch;

impl wasip3::exports::cli::run::Guest for Fetch {
    async fn run() -> Result<(), ()> {
        let args = wasip3::cli::environment::get_arguments();
        let result = match args.get(1).map(String::as_str) {
            Some("bench") => bench(&args[2..]).await,
            Some("spin") => spin(args.get(2).map_or("", String::as_str)).await,
            Some("handles") => handles(),
            Some("upload-flood") => upload_flood(args.get(2).map_or("", String::as_str)).await,
            _ => fetch_all(&args[1..]).await,
        };
        result.map_err(|e| eprintln!("p3-fetch: {e}"))
    }
}

/// The flags `-n`, `-c`, `-b`, `-p` and the other arguments.
struct Args {
    n: usize,
    c: usize,
    base: String,
    path: String,
    headers: Vec<(String, String)>,
    data: Option<Vec<u8>>,
    rest: Vec<String>,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut parsed = Args {
        n: 20000,
        c: 8,
        base: String::new(),
        path: "/small".to_owned(),
        headers: Vec::new(),
        data: None,
        rest: Vec::new(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} takes a value"));
        match arg.as_str() {
            "-n" => parsed.n = value()?.parse().map_err(|_| "-n N")?,
            "-c" => parsed.c = value()?.parse().map_err(|_| "-c C")?,
            "-b" => parsed.base = value()?.trim_end_matches('/').to_owned(),
            "-p" => parsed.path = value()?.clone(),
            "-H" => {
                let header = value()?;
                let (name, value) = header.split_once(':').ok_or("-H NAME:VALUE")?;
                parsed
                    .headers
                    .push((name.trim().to_owned(), value.trim().to_owned()));
            }
            "-d" => parsed.data = Some(value()?.as_bytes().to_vec()),
            _ => parsed.rest.push(arg.clone()),
        }
    }
    Ok(parsed)
}

async fn fetch_all(args: &[String]) -> Result<(), String> {
    let args = parse(args)?;
    if args.rest.is_empty() {
        return Err(
            "usage: p3-fetch [-c C] URL... | p3-fetch bench -n N -c C -b BASE -p PATH".into(),
        );
    }
    let (headers, data) = (&args.headers, args.data.as_deref());
    let mut results = futures::stream::iter(args.rest)
        .map(|url| async move {
            let result = send(&url, headers, data).await;
            (url, result)
        })
        .buffer_unordered(args.c.max(1));
    while let Some((url, result)) = results.next().await {
        let line = match result {
            Ok((status, body)) => {
                let shown = String::from_utf8_lossy(&body[..body.len().min(4096)]);
                serde_json::json!({ "url": url, "status": status, "bytes": body.len(), "body": shown })
            }
            Err(error) => serde_json::json!({ "url": url, "error": error }),
        };
        println!("{line}");
    }
    Ok(())
}

async fn bench(args: &[String]) -> Result<(), String> {
    let args = parse(args)?;
    let started = Instant::now();
    let (base, path) = (&args.base, &args.path);
    let mut results = futures::stream::iter(0..args.n)
        .map(|i| async move {
            send(
                &format!("{base}{}", path.replace("{i}", &i.to_string())),
                &[],
                None,
            )
            .await
        })
        .buffer_unordered(args.c.max(1));
    let (mut ok, mut errors, mut bytes) = (0u64, 0u64, 0u64);
    while let Some(result) = results.next().await {
        match result {
            Ok((200..=299, body)) => {
                ok += 1;
                bytes += body.len() as u64;
            }
            _ => errors += 1,
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "client": "p3-fetch", "n": args.n, "concurrency": args.c,
            "seconds": seconds, "rps": ok as f64 / seconds.max(1e-9),
            "errors": errors, "bytes": bytes, "ok": ok, "requests": args.n,
        })
    );
    Ok(())
}

/// Fetches `url` and, while it is in flight, spins without end.
async fn spin(url: &str) -> Result<(), String> {
    let spinning = async {
        let mut n = 0u64;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    };
    futures::join!(send(url, &[], None), spinning);
    Ok(())
}

/// Creates futures (a reader and a writer handle each) and never drops
/// them, until the host stops it.
fn handles() -> Result<(), String> {
    let mut n = 0u64;
    loop {
        let pair = wit_future::new::<Result<(), ErrorCode>>(|| Ok(()));
        std::mem::forget(pair);
        n += 1;
        if n.is_multiple_of(10_000) {
            println!("{}", serde_json::json!({ "futures": n }));
        }
    }
}

/// GETs `url` with `headers`, or POSTs `data` if given: its status and
/// body.
async fn send(
    url: &str,
    headers: &[(String, String)],
    data: Option<&[u8]>,
) -> Result<(u16, Vec<u8>), String> {
    let (request, sent, body) = request(url, headers, data.is_some())?;
    let Some(mut body) = body else {
        // A request without a body is sent once `send` has it: nothing to
        // wait for in the transmit future.
        drop(sent);
        return receive(client::send(request).await).await;
    };
    // The body is written while `send` is pending: the host reads the whole
    // of it before it sends the request.
    let write = async {
        let unwritten = body.write_all(data.unwrap_or_default().to_vec()).await;
        drop(body);
        let sent = sent.await;
        if unwritten.is_empty() {
            sent.map_err(|e| format!("{e:?}"))
        } else {
            Err(format!(
                "{} bytes of the body not taken: {sent:?}",
                unwritten.len()
            ))
        }
    };
    let (response, written) = futures::join!(client::send(request), write);
    let received = receive(response).await?;
    written?;
    Ok(received)
}

/// The status and body of a response.
async fn receive(response: Result<Response, ErrorCode>) -> Result<(u16, Vec<u8>), String> {
    let response = response.map_err(|e| format!("{e:?}"))?;
    let status = response.get_status_code();
    let (_, done) = wit_future::new(|| Ok(()));
    let (body, trailers) = Response::consume_body(response, done);
    let body = read_to_end(body).await;
    // A body cut short (too large, timed out) ends its stream early: the
    // trailers' future says why.
    trailers.await.map_err(|e| format!("{e:?}"))?;
    Ok((status, body))
}

/// A request to `url` with `headers` (a `POST` with a body stream if
/// `with_body`, else a `GET`), its transmit future, and the body's writer.
#[allow(clippy::type_complexity)]
fn request(
    url: &str,
    headers: &[(String, String)],
    with_body: bool,
) -> Result<
    (
        Request,
        FutureReader<Result<(), ErrorCode>>,
        Option<StreamWriter<u8>>,
    ),
    String,
> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{url} is not an absolute URL"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    // No body, no trailers: the trailers' writer, dropped, sends `Ok(None)`.
    let (_, trailers) = wit_future::new(|| Ok(None));
    let fields = Fields::new();
    for (name, value) in headers {
        fields
            .append(name, value.as_bytes())
            .map_err(|e| format!("header {name} refused: {e:?}"))?;
    }
    let (method, writer, contents) = match with_body {
        true => {
            let (writer, reader) = wit_stream::new();
            (Method::Post, Some(writer), Some(reader))
        }
        false => (Method::Get, None, None),
    };
    let (request, sent) = Request::new(fields, contents, trailers, None);
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => Scheme::Other(other.to_owned()),
    };
    request
        .set_method(&method)
        .and_then(|()| request.set_scheme(Some(&scheme)))
        .and_then(|()| request.set_authority(Some(authority)))
        .and_then(|()| request.set_path_with_query(Some(path)))
        .map_err(|()| format!("{url}: the request was refused"))?;
    Ok((request, sent, writer))
}

/// POSTs to `url` a body that never ends, until a write or the request
/// fails.
async fn upload_flood(url: &str) -> Result<(), String> {
    let (request, sent, body) = request(url, &[], true)?;
    let mut body = body.expect("a body writer");
    let mut written = 0u64;
    let write = async {
        let chunk = vec![b'x'; 1 << 20];
        loop {
            let (status, _) = body.write(chunk.clone()).await;
            match status {
                StreamResult::Complete(n) => written += n as u64,
                StreamResult::Dropped | StreamResult::Cancelled => break,
            }
        }
        format!("{:?}", sent.await)
    };
    // Whichever ends first, the request or the writing, ends the flood.
    let error = futures::select_biased! {
        response = client::send(request).fuse() => format!("{:?}", response.map(|r| r.get_status_code())),
        error = write.fuse() => error,
    };
    println!(
        "{}",
        serde_json::json!({ "written": written, "error": error })
    );
    Ok(())
}

/// The first read of [`read_to_end`]: wasip3's own `http_compat` reads a
/// body in frames of this size.
const FIRST_READ: usize = 16 * 1024;

/// Reads a body stream to its end. Each `read` is one call into the host
/// and may wait for an event; `StreamReader::collect` starts with room for
/// 8 bytes and doubles, so a 1 KiB body took 8 reads. This asks for 16 KiB
/// at once, then doubles.
async fn read_to_end(mut body: StreamReader<u8>) -> Vec<u8> {
    let mut buf = Vec::with_capacity(FIRST_READ);
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(buf.capacity());
        }
        let (status, read) = body.read(buf).await;
        buf = read;
        match status {
            StreamResult::Complete(_) => {}
            StreamResult::Dropped | StreamResult::Cancelled => return buf,
        }
    }
}
