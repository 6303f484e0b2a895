//! Fetches N URLs with at most C in flight through crawlbox-net alone (no
//! WebAssembly), and prints the benchmark kit's result line. It separates
//! the cost of the pool from the cost of the guest boundary.
//!
//! `cargo run --release -p crawlbox-net --example fetch_n -- -n 20000 -c 64 -b http://127.0.0.1:18080 -p /small`
//! (`--h2c 127.0.0.1:18081` for HTTP/2 by prior knowledge)

use std::time::Instant;

use crawlbox_net::{Client, ClientConfig, Request, SessionConfig};
use futures::StreamExt;

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut n, mut c, mut base, mut path) =
        (20000usize, 64usize, String::new(), "/small".to_owned());
    let mut h2c = Vec::new();
    while let Some(flag) = args.next() {
        let value = args.next().expect("every flag takes a value");
        match flag.as_str() {
            "-n" => n = value.parse().expect("-n N"),
            "-c" => c = value.parse().expect("-c C"),
            "-b" => base = value.trim_end_matches('/').to_owned(),
            "-p" => path = value,
            "--h2c" => h2c.push(value),
            other => panic!("unknown flag {other}"),
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let client = Client::new(ClientConfig {
            concurrency: c,
            per_host: c,
            h2c_hosts: h2c,
            ..ClientConfig::default()
        })
        .expect("config");
        let session = client.session(SessionConfig::unrestricted());
        let started = Instant::now();
        let (mut ok, mut errors, mut bytes) = (0usize, 0usize, 0usize);
        let mut results = futures::stream::iter(0..n)
            .map(|i| {
                let url = format!("{base}{}", path.replace("{i}", &i.to_string()));
                let session = &session;
                async move { session.fetch(Request::get(&url)?).await }
            })
            .buffer_unordered(c);
        while let Some(result) = results.next().await {
            match result {
                Ok(r) if r.status.is_success() => {
                    ok += 1;
                    bytes += r.body.len();
                }
                _ => errors += 1,
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{{\"client\": \"crawlbox-net\", \"n\": {n}, \"concurrency\": {c}, \"seconds\": {seconds:.4}, \"rps\": {:.1}, \"errors\": {errors}, \"bytes\": {bytes}}}",
            ok as f64 / seconds
        );
    });
}
