//! A WASI 0.3 command: fetches URLs with `wasi:http/client@0.3.0`'s
//! `send`, an `async func`, so plain async Rust keeps many requests in
//! flight with no poll loop and no pollables. Under `crawlbox run
//! --wasip3`, every request goes through the host's client.
//!
//! * `p3-fetch [-c C] [-H NAME:VALUE]... URL...`: fetches each URL, C at a
//!   time (default 8), with the headers given, and prints one JSON line per
//!   URL: `{"url", "status", "bytes"}`, or `{"url", "error"}`.
//! * `p3-fetch bench -n N -c C -b BASE -p PATH`: fetches N URLs (PATH may
//!   hold `{i}`), C at a time, and prints the benchmark kit's result line.
//! * `p3-fetch spin URL`: starts fetching URL, then spins forever beside
//!   it (for the CPU-limit test: a hostile 0.3 guest).
//! * `p3-fetch handles`: creates component-model futures without end,
//!   printing how many every 10000 (a hostile 0.3 guest: each one costs
//!   the host, not the guest, memory).

use std::time::Instant;

use futures::StreamExt;
use wasip3::http::client;
use wasip3::http::types::{ErrorCode, Fields, Method, Request, Response, Scheme};
use wasip3::wit_bindgen::rt::async_support::{StreamReader, StreamResult};
use wasip3::wit_future;

wasip3::cli::command::export!(Fetch);

struct Fetch;

impl wasip3::exports::cli::run::Guest for Fetch {
    async fn run() -> Result<(), ()> {
        let args = wasip3::cli::environment::get_arguments();
        let result = match args.get(1).map(String::as_str) {
            Some("bench") => bench(&args[2..]).await,
            Some("spin") => spin(args.get(2).map_or("", String::as_str)).await,
            Some("handles") => handles(),
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
    rest: Vec<String>,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut parsed = Args {
        n: 20000,
        c: 8,
        base: String::new(),
        path: "/small".to_owned(),
        headers: Vec::new(),
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
    let headers = &args.headers;
    let mut results = futures::stream::iter(args.rest)
        .map(|url| async move {
            let result = get(&url, headers).await;
            (url, result)
        })
        .buffer_unordered(args.c.max(1));
    while let Some((url, result)) = results.next().await {
        let line = match result {
            Ok((status, bytes)) => {
                serde_json::json!({ "url": url, "status": status, "bytes": bytes })
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
            get(
                &format!("{base}{}", path.replace("{i}", &i.to_string())),
                &[],
            )
            .await
        })
        .buffer_unordered(args.c.max(1));
    let (mut ok, mut errors, mut bytes) = (0u64, 0u64, 0u64);
    while let Some(result) = results.next().await {
        match result {
            Ok((200..=299, n)) => {
                ok += 1;
                bytes += n as u64;
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
    futures::join!(get(url, &[]), spinning);
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

/// GETs `url` with `headers`: its status and the length of its body.
async fn get(url: &str, headers: &[(String, String)]) -> Result<(u16, usize), String> {
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
    let (request, sent) = Request::new(fields, None, trailers, None);
    let scheme = match scheme {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => Scheme::Other(other.to_owned()),
    };
    request
        .set_method(&Method::Get)
        .and_then(|()| request.set_scheme(Some(&scheme)))
        .and_then(|()| request.set_authority(Some(authority)))
        .and_then(|()| request.set_path_with_query(Some(path)))
        .map_err(|()| format!("{url}: the request was refused"))?;
    // A request without a body is sent once `send` has it: nothing to wait
    // for in the transmit future.
    drop(sent);
    let response = client::send(request).await.map_err(|e| format!("{e:?}"))?;
    let status = response.get_status_code();
    let (_, done) = wit_future::new(|| Ok(()));
    let (body, trailers) = Response::consume_body(response, done);
    let body = read_to_end(body).await;
    // A body cut short (too large, timed out) ends its stream early: the
    // trailers' future says why.
    trailers.await.map_err(|e| format!("{e:?}"))?;
    Ok((status, body.len()))
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
