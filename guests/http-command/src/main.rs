//! A plain `wasi:cli/command` using `wasi:http` through wstd: nothing
//! crawlbox-specific, so it runs the same under `wasmtime run -S http` and
//! `crawlbox run`.
//!
//! * `http-command bench -n N -c C -b BASE -p PATH`: fetches N URLs with C
//!   in flight and prints the benchmark kit's result line.
//! * `http-command check BASE`: sends GET, POST and PUT to BASE/echo and
//!   checks what the server saw, then provokes three errors; prints one JSON
//!   line per check.
//! * `http-command env NAME`: prints the variable's value (or null).

use std::time::Instant;

use futures::StreamExt;
use serde_json::{Value, json};
use wstd::http::{Body, Client, Request};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("bench") => bench(&args[2..]),
        Some("check") => check(args.get(2).map_or("http://127.0.0.1:8080", String::as_str)),
        Some("env") => {
            let name = args.get(2).map_or("HOME", String::as_str);
            println!(
                "{}",
                json!({ "env": name, "value": std::env::var(name).ok() })
            );
            Ok(())
        }
        _ => Err("usage: http-command bench|check|env ...".to_owned()),
    };
    if let Err(e) = result {
        eprintln!("http-command: {e}");
        std::process::exit(1);
    }
}

fn bench(args: &[String]) -> Result<(), String> {
    let (mut n, mut c, mut base, mut path) =
        (20000usize, 64usize, String::new(), "/small".to_owned());
    for pair in args.chunks(2) {
        let value = pair.get(1).ok_or("every flag takes a value")?;
        match pair[0].as_str() {
            "-n" => n = value.parse().map_err(|_| "-n N")?,
            "-c" => c = value.parse().map_err(|_| "-c C")?,
            "-b" => base = value.trim_end_matches('/').to_owned(),
            "-p" => path = value.clone(),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    wstd::runtime::block_on(async {
        let client = Client::new();
        let started = Instant::now();
        let mut results = futures::stream::iter(0..n)
            .map(|i| {
                let url = format!("{base}{}", path.replace("{i}", &i.to_string()));
                let client = &client;
                async move { get(client, &url, "GET", None, &[]).await }
            })
            .buffer_unordered(c);
        let (mut ok, mut errors, mut bytes) = (0usize, 0usize, 0usize);
        while let Some(result) = results.next().await {
            match result {
                Ok((status, body)) if (200..300).contains(&status) => {
                    ok += 1;
                    bytes += body.len();
                }
                _ => errors += 1,
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{}",
            json!({"client": "wasi-command", "n": n, "concurrency": c, "seconds": seconds,
                   "rps": ok as f64 / seconds, "errors": errors, "bytes": bytes})
        );
        Ok(())
    })
}

fn check(base: &str) -> Result<(), String> {
    let base = base.trim_end_matches('/');
    wstd::runtime::block_on(async {
        let client = Client::new();
        for (method, body) in [
            ("GET", None),
            ("POST", Some("posted body")),
            ("PUT", Some("put body")),
        ] {
            let url = format!("{base}/echo?m={method}");
            let outcome = match get(&client, &url, method, body, &[("x-check", method)]).await {
                Ok((status, bytes)) => {
                    let echo: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    let header = echo["headers"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|h| h[0] == "x-check" && h[1] == method);
                    json!({
                        "check": method, "status": status,
                        "method": echo["method"], "path": echo["path"], "query": echo["query"],
                        "header": header, "body": echo["body"],
                    })
                }
                Err(e) => json!({"check": method, "error": e}),
            };
            println!("{outcome}");
        }
        for (check, url) in [
            ("invalid-port", "http://127.0.0.1:1/".to_owned()),
            ("unknown-dns", "http://does-not-exist.invalid/".to_owned()),
            ("unsupported-scheme", "ftp://127.0.0.1/".to_owned()),
        ] {
            let outcome = match get(&client, &url, "GET", None, &[]).await {
                Ok((status, _)) => json!({"check": check, "status": status}),
                Err(e) => json!({"check": check, "error": e}),
            };
            println!("{outcome}");
        }
        Ok(())
    })
}

/// Sends a request; the status and the body, or the error as text.
async fn get(
    client: &Client,
    url: &str,
    method: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Result<(u16, Vec<u8>), String> {
    let mut request = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(match body {
            Some(text) => Body::from(text.to_owned()),
            None => Body::empty(),
        })
        .map_err(|e| format!("invalid request: {e}"))?;
    let response = client.send(request).await.map_err(|e| format!("{e:?}"))?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let bytes = body
        .contents()
        .await
        .map_err(|e| format!("{e:?}"))?
        .to_vec();
    Ok((status, bytes))
}
