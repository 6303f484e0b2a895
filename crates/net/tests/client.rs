//! The pooled client against a local site that counts connections and
//! requests in flight.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::time::Duration;

use crawlbox_demo_site::{Site, SiteConfig};
use crawlbox_net::{Client, ClientConfig, ErrorKind, Request, SendOptions};
use futures::future::join_all;

fn site() -> Site {
    Site::start(SiteConfig::default()).expect("start the test site")
}

fn client(config: ClientConfig) -> Client {
    Client::new(config).expect("valid config")
}

#[tokio::test]
async fn concurrency_bounds_connections_and_requests_in_flight() {
    let site = site();
    let client = client(ClientConfig {
        concurrency: 16,
        per_host: 64,
        ..Default::default()
    });
    let session = client.session();
    let results = join_all((0..2000).map(|i| {
        let session = session.clone();
        let url = site.url(&format!("/page/{}", i % 300));
        async move { session.fetch(Request::get(&url).unwrap()).await }
    }))
    .await;
    assert!(results.iter().all(|r| r.as_ref().unwrap().status == 200));
    assert!(
        site.counters().connections() <= 16,
        "opened {} connections",
        site.counters().connections()
    );
    assert!(site.counters().peak_in_flight() <= 16);
    assert_eq!(site.counters().requests(), 2000);
    assert_eq!(client.connections_opened(), site.counters().connections());

    let stats = session.stats().snapshot();
    assert_eq!(stats.requests, 2000);
    assert_eq!(stats.responses.get(&200), Some(&2000));
    assert_eq!(stats.finished(), 2000);
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.latency.count, 2000);
    assert!(stats.bytes > 2000 * 300);
}

#[tokio::test]
async fn per_host_cap_holds_when_concurrency_is_higher() {
    let site = site();
    let client = client(ClientConfig {
        concurrency: 64,
        per_host: 4,
        ..Default::default()
    });
    let session = client.session();
    let results = join_all((0..1000).map(|_| {
        let session = session.clone();
        let url = site.url("/small");
        async move { session.fetch(Request::get(&url).unwrap()).await }
    }))
    .await;
    assert!(results.iter().all(|r| r.is_ok()));
    assert!(site.counters().peak_open_connections() <= 4);
    assert!(
        site.counters().connections() <= 4,
        "opened {} connections with per_host 4",
        site.counters().connections()
    );
    assert!(site.counters().peak_in_flight() <= 4);
}

#[tokio::test]
async fn global_cap_holds_for_slow_responses() {
    let site = site();
    let client = client(ClientConfig {
        concurrency: 4,
        ..Default::default()
    });
    let session = client.session();
    let results = join_all((0..20).map(|_| {
        let session = session.clone();
        let url = site.url("/slow/30");
        async move { session.fetch(Request::get(&url).unwrap()).await }
    }))
    .await;
    assert!(results.iter().all(|r| r.is_ok()));
    assert_eq!(site.counters().peak_in_flight(), 4);
}

#[tokio::test]
async fn sequential_requests_reuse_one_connection() {
    let site = site();
    let session = client(ClientConfig::default()).session();
    for _ in 0..100 {
        let r = session
            .fetch(Request::get(&site.url("/small")).unwrap())
            .await
            .unwrap();
        assert_eq!(r.body.len(), 1024);
        assert_eq!(r.version, http::Version::HTTP_11);
    }
    assert_eq!(site.counters().connections(), 1);
}

#[tokio::test]
async fn slow_first_byte_times_out_and_the_next_request_works() {
    let site = site();
    let session = client(ClientConfig {
        first_byte_timeout: Duration::from_millis(200),
        ..Default::default()
    })
    .session();
    let err = session
        .fetch(Request::get(&site.url("/slow/3000")).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
    assert!(err.message.contains("/slow/3000"), "{err}");
    let ok = session
        .fetch(Request::get(&site.url("/small")).unwrap())
        .await
        .unwrap();
    assert_eq!(ok.status, 200);
    let stats = session.stats().snapshot();
    assert_eq!(stats.errors.get(&ErrorKind::Timeout), Some(&1));
    assert_eq!(stats.in_flight, 0);
}

#[tokio::test]
async fn request_timeout_covers_the_body() {
    let site = site();
    let session = client(ClientConfig::default()).session();
    let req = Request::get(&site.url("/slow-body/3000"))
        .unwrap()
        .timeout(Duration::from_millis(200));
    let err = session.fetch(req).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
}

#[tokio::test]
async fn redirects_are_followed_and_reported() {
    let site = site();
    let session = client(ClientConfig::default()).session();
    let r = session
        .fetch(Request::get(&site.url("/redirect/3")).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.redirects, 3);
    assert_eq!(r.url.as_str(), site.url("/redirect/0"));
    assert_eq!(&r.body[..], b"redirected\n");
}

#[tokio::test]
async fn redirect_limits_and_loops_fail_clearly() {
    let site = site();
    let session = client(ClientConfig {
        max_redirects: 2,
        ..Default::default()
    })
    .session();
    let err = session
        .fetch(Request::get(&site.url("/redirect/5")).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::TooManyRedirects, "{err}");
    let err = session
        .fetch(Request::get(&site.url("/loop")).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::TooManyRedirects);
    assert!(err.message.contains("loop"), "{err}");
}

#[tokio::test]
async fn post_redirected_by_303_becomes_get() {
    let site = site();
    let session = client(ClientConfig::default()).session();
    let target = site.url("/echo");
    let url = site.url(&format!("/redirect-to?url={target}"));
    let req = Request::new("POST", &url).unwrap().body("payload");
    let r = session.fetch(req).await.unwrap();
    let echo: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    // 302 after POST becomes GET, and the body is dropped.
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["body"], "");
}

#[tokio::test]
async fn oversized_body_is_too_large_and_the_connection_is_not_reused() {
    let site = site();
    let session = client(ClientConfig {
        max_response_bytes: 100_000,
        ..Default::default()
    })
    .session();
    let err = session
        .fetch(Request::get(&site.url("/bytes/1000000")).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::TooLarge, "{err}");
    let ok = session
        .fetch(Request::get(&site.url("/bytes/100000")).unwrap())
        .await
        .unwrap();
    assert_eq!(ok.body.len(), 100_000);
    assert_eq!(site.counters().connections(), 2);
}

#[tokio::test]
async fn bad_requests_and_unreachable_hosts_are_classified() {
    let session = client(ClientConfig::default()).session();
    let err = Request::get("ftp://example.com/").unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidRequest);
    let err = Request::new("GE T", "http://127.0.0.1/").unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidRequest);
    let err = Request::get("http://127.0.0.1/")
        .unwrap()
        .header("x-evil", "a\r\nb")
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidRequest);

    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = session
        .fetch(Request::get(&format!("http://127.0.0.1:{port}/")).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Connect, "{err}");

    let err = session
        .fetch(Request::get("http://does-not-exist.invalid/").unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Dns, "{err}");
    assert_eq!(session.stats().snapshot().error_count(), 2);
}

#[tokio::test]
async fn streaming_send_holds_its_slot_until_the_body_is_read() {
    let site = site();
    let client = client(ClientConfig {
        concurrency: 1,
        ..Default::default()
    });
    let session = client.session();
    let req = http::Request::get(site.url("/small"))
        .body(bytes::Bytes::new())
        .unwrap();
    let first = session
        .send(req.clone(), SendOptions::default())
        .await
        .unwrap();
    // With the only slot held by `first`, a second request must wait.
    let second = tokio::time::timeout(
        Duration::from_millis(200),
        session.send(req.clone(), SendOptions::default()),
    )
    .await;
    assert!(
        second.is_err(),
        "the second request did not wait for a slot"
    );
    let body = first.into_body().collect().await.unwrap();
    assert_eq!(body.len(), 1024);
    let second = session.send(req, SendOptions::default()).await.unwrap();
    assert_eq!(second.status(), 200);
}

#[tokio::test]
async fn h2c_is_not_used_for_plain_http_by_default() {
    let site = site();
    let session = client(ClientConfig::default()).session();
    session
        .fetch(Request::get(&site.url("/small")).unwrap())
        .await
        .unwrap();
    assert_eq!(site.counters().http2_requests(), 0);
}
