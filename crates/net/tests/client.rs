//! The pooled client against a local site that counts connections and
//! requests in flight.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::time::Duration;

use crawlbox_demo_site::{Site, SiteConfig};
use crawlbox_net::{
    Client, ClientConfig, EgressPolicy, ErrorKind, Request, Response, SendOptions, Session,
    SessionConfig,
};
use futures::future::join_all;

mod support;
use support::TestProxy;

fn site() -> Site {
    Site::start(SiteConfig::default()).expect("start the test site")
}

/// A client that ignores robots.txt (it has tests of its own, below), so
/// that the server sees exactly the requests a test makes.
fn client(config: ClientConfig) -> Client {
    Client::new(ClientConfig {
        robots: false,
        ..config
    })
    .expect("valid config")
}

/// GETs `url` through `session`; the test fails if the fetch does.
async fn get(session: &Session, url: &str) -> Response {
    session.fetch(Request::get(url).unwrap()).await.unwrap()
}

#[tokio::test]
async fn concurrency_bounds_connections_and_requests_in_flight() {
    let site = site();
    let client = client(ClientConfig {
        concurrency: 16,
        per_host: 64,
        ..Default::default()
    });
    let session = client.session(SessionConfig::unrestricted());
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
    let session = client.session(SessionConfig::unrestricted());
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
    let session = client.session(SessionConfig::unrestricted());
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
async fn a_queue_hands_back_results_as_they_complete_under_the_cap() {
    let site = site();
    let client = client(ClientConfig {
        concurrency: 4,
        ..Default::default()
    });
    let session = client.session(SessionConfig::unrestricted());
    let mut queue = session.queue();
    // Slower than the 40 others take at 3 slots (about 14 × 20 ms).
    assert_eq!(queue.push(Request::get(&site.url("/slow/800"))), 0);
    for i in 1..=40 {
        assert_eq!(queue.push(Request::get(&site.url("/slow/20"))), i);
    }
    assert_eq!(queue.push(Request::get("ftp://example.com/")), 41);
    assert_eq!(queue.pending(), 42);

    let mut order = Vec::new();
    while queue.pending() > 0 {
        let done = queue.next(8).await;
        assert!((1..=8).contains(&done.len()), "{} results", done.len());
        for (ticket, result) in done {
            match ticket {
                41 => assert_eq!(result.unwrap_err().kind, ErrorKind::InvalidRequest),
                _ => assert_eq!(result.unwrap().status, 200),
            }
            order.push(ticket);
        }
    }
    // The slow first request came back last: the others went past it.
    assert_eq!(order.last(), Some(&0));
    order.sort_unstable();
    assert_eq!(order, (0..=41).collect::<Vec<u64>>());
    assert!(queue.next(8).await.is_empty());
    assert_eq!(site.counters().requests(), 41);
    assert_eq!(site.counters().peak_in_flight(), 4);
    let stats = session.stats().snapshot();
    assert_eq!(stats.errors.get(&ErrorKind::InvalidRequest), Some(&1));
    assert_eq!(stats.responses.get(&200), Some(&41));
}

#[tokio::test]
async fn queued_requests_run_and_free_their_slots_between_calls() {
    let site = site();
    let client = client(ClientConfig {
        concurrency: 2,
        ..Default::default()
    });
    let session = client.session(SessionConfig::unrestricted());
    let mut queue = session.queue();
    queue.push(Request::get(&site.url("/small")));
    queue.push(Request::get(&site.url("/small")));
    // Both slots belong to the queue, and nobody calls `next`: the queued
    // requests must still finish and give them back.
    let other = tokio::time::timeout(
        Duration::from_secs(10),
        session.fetch(Request::get(&site.url("/page/1")).unwrap()),
    )
    .await
    .expect("a fetch beside a queue gets a slot");
    assert_eq!(other.unwrap().status, 200);
    let mut done = queue.next(8).await;
    done.extend(queue.next(8).await);
    assert_eq!(done.len(), 2);
    assert_eq!(queue.pending(), 0);

    // Dropping a queue cancels what it holds, and frees the slots at once.
    let mut queue = session.queue();
    queue.push(Request::get(&site.url("/slow/20000")));
    queue.push(Request::get(&site.url("/slow/20000")));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(site.counters().requests_for("/slow/20000"), 2);
    drop(queue);
    let after = tokio::time::timeout(
        Duration::from_secs(10),
        session.fetch(Request::get(&site.url("/small")).unwrap()),
    )
    .await
    .expect("a dropped queue gives its slots back");
    assert_eq!(after.unwrap().status, 200);
}

#[tokio::test]
async fn sequential_requests_reuse_one_connection() {
    let site = site();
    let session = client(ClientConfig::default()).session(SessionConfig::unrestricted());
    for _ in 0..100 {
        let r = get(&session, &site.url("/small")).await;
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
        retries: 0,
        ..Default::default()
    })
    .session(SessionConfig::unrestricted());
    let err = session
        .fetch(Request::get(&site.url("/slow/3000")).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
    assert!(err.message.contains("/slow/3000"), "{err}");
    let ok = get(&session, &site.url("/small")).await;
    assert_eq!(ok.status, 200);
    let stats = session.stats().snapshot();
    assert_eq!(stats.errors.get(&ErrorKind::Timeout), Some(&1));
    assert_eq!(stats.in_flight, 0);
}

#[tokio::test]
async fn request_timeout_covers_the_body() {
    let site = site();
    let session = client(ClientConfig {
        retries: 0,
        ..Default::default()
    })
    .session(SessionConfig::unrestricted());
    let req = Request::get(&site.url("/slow-body/3000"))
        .unwrap()
        .timeout(Duration::from_millis(200));
    let err = session.fetch(req).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
}

#[tokio::test]
async fn redirects_are_followed_and_reported() {
    let site = site();
    let session = client(ClientConfig::default()).session(SessionConfig::unrestricted());
    let r = get(&session, &site.url("/redirect/3")).await;
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
    .session(SessionConfig::unrestricted());
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
    let session = client(ClientConfig::default()).session(SessionConfig::unrestricted());
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
    .session(SessionConfig::unrestricted());
    let err = session
        .fetch(Request::get(&site.url("/bytes/1000000")).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::TooLarge, "{err}");
    let ok = get(&session, &site.url("/bytes/100000")).await;
    assert_eq!(ok.body.len(), 100_000);
    assert_eq!(site.counters().connections(), 2);
}

#[tokio::test]
async fn bad_requests_and_unreachable_hosts_are_classified() {
    let session = client(ClientConfig {
        retries: 0,
        ..Default::default()
    })
    .session(SessionConfig::unrestricted());
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
async fn streaming_send_holds_its_slot_until_the_body_has_arrived() {
    let site = site();
    let client = client(ClientConfig {
        concurrency: 1,
        ..Default::default()
    });
    let session = client.session(SessionConfig::unrestricted());
    let req = |path: &str| {
        http::Request::get(site.url(path))
            .body(bytes::Bytes::new())
            .unwrap()
    };
    // The body of `first` arrives after 500 ms: until then it is in
    // flight and holds the only slot, so a second request must wait.
    let first = session
        .send(req("/slow-body/500"), SendOptions::default())
        .await
        .unwrap();
    let second = tokio::time::timeout(
        Duration::from_millis(200),
        session.send(req("/small"), SendOptions::default()),
    )
    .await;
    assert!(
        second.is_err(),
        "the second request did not wait for a slot"
    );
    // Once it has arrived (read ahead by the host), the slot is free even
    // though nobody read the body yet.
    let second = tokio::time::timeout(
        Duration::from_secs(5),
        session.send(req("/small"), SendOptions::default()),
    )
    .await
    .expect("the slot came back when the first body arrived")
    .unwrap();
    assert_eq!(second.status(), 200);
    assert_eq!(first.into_body().collect().await.unwrap(), "finally\n");
    assert_eq!(second.into_body().collect().await.unwrap().len(), 1024);
}

#[tokio::test]
async fn h2c_is_not_used_for_plain_http_by_default() {
    let site = site();
    let session = client(ClientConfig::default()).session(SessionConfig::unrestricted());
    get(&session, &site.url("/small")).await;
    assert_eq!(site.counters().http2_requests(), 0);
}

fn policy(hosts: &[&str], networks: &[&str]) -> SessionConfig {
    SessionConfig {
        egress: EgressPolicy::new(hosts, networks).unwrap(),
        ..SessionConfig::default()
    }
}

#[tokio::test]
async fn nothing_is_allowed_by_default() {
    let site = site();
    let session = client(ClientConfig::default()).session(SessionConfig::default());
    let err = session
        .fetch(Request::get(&site.url("/small")).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied);
    assert!(
        err.message.contains("--allow-host http://127.0.0.1:"),
        "{err}"
    );
    assert_eq!(site.counters().connections(), 0);
}

/// Each URL fails with `denied`, naming the loopback network and the flag
/// that would grant it.
async fn assert_loopback_denied(session: &Session, urls: impl IntoIterator<Item = String>) {
    for url in urls {
        let err = session
            .fetch(Request::get(&url).unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Denied, "{url}: {err}");
        assert!(err.message.contains("loopback"), "{err}");
        assert!(err.message.contains("--allow-network"), "{err}");
    }
}

#[tokio::test]
async fn an_allowed_host_on_a_private_address_still_needs_the_network() {
    let site = site();
    let port = site.addr().port();
    let client = client(ClientConfig::default());
    // The host is allowed, but 127.0.0.1 is a loopback address.
    let session = client.session(policy(&["http://127.0.0.1:*", "http://localhost:*"], &[]));
    assert_loopback_denied(
        &session,
        [
            format!("http://127.0.0.1:{port}/small"),
            format!("http://localhost:{port}/small"),
        ],
    )
    .await;
    assert_eq!(site.counters().connections(), 0);

    // Granting the network lets it through.
    let session = client.session(policy(&["http://127.0.0.1:*"], &["127.0.0.1"]));
    let ok = get(&session, &site.url("/small")).await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn a_pooled_connection_is_not_lent_to_a_session_whose_policy_forbids_its_address() {
    let site = site();
    let port = site.addr().port();
    let client = client(ClientConfig::default());
    let trusted = client.session(SessionConfig::unrestricted());
    get(&trusted, &site.url("/small")).await;
    // Same host key, a connection idle in the pool, but this session may
    // not reach loopback addresses.
    let untrusted = client.session(policy(&["http://127.0.0.1:*"], &[]));
    let err = untrusted
        .fetch(Request::get(&format!("http://127.0.0.1:{port}/small")).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied, "{err}");
    assert_eq!(site.counters().requests(), 1);
}

#[tokio::test]
async fn every_redirect_hop_is_checked() {
    let site = site();
    let client = client(ClientConfig::default());
    let session = client.session(policy(&["http://127.0.0.1:*"], &["127.0.0.1"]));
    // An allowed host redirecting to one that is not.
    let url = site.url("/redirect-to?url=http://localhost:1/secret");
    let err = session
        .fetch(Request::get(&url).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied, "{err}");
    assert!(err.message.contains("http://localhost:1/secret"), "{err}");
    assert_eq!(site.counters().requests(), 1);
}

#[tokio::test]
async fn numeric_ip_spellings_are_normalised_before_the_checks() {
    let site = site();
    let port = site.addr().port();
    let session = client(ClientConfig::default()).session(policy(&["*://*:*"], &[]));
    for host in [
        "2130706433",
        "0x7f.0.0.1",
        "0177.0.0.1",
        "127.1",
        "[::ffff:127.0.0.1]",
    ] {
        let url = format!("http://{host}:{port}/small");
        let err = session
            .fetch(Request::get(&url).unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Denied, "{url}: {err}");
    }
    // The streaming (wasi:http) path parses the same way.
    let req = http::Request::get(format!("http://2130706433:{port}/small"))
        .body(bytes::Bytes::new())
        .unwrap();
    let err = session.send(req, SendOptions::default()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied, "{err}");
    assert_eq!(site.counters().connections(), 0);
}

#[tokio::test]
async fn the_request_budget_is_enforced() {
    let site = site();
    let session = client(ClientConfig::default()).session(SessionConfig {
        max_requests: Some(3),
        ..SessionConfig::unrestricted()
    });
    let mut denied = 0;
    for _ in 0..5 {
        match session
            .fetch(Request::get(&site.url("/small")).unwrap())
            .await
        {
            Ok(r) => assert_eq!(r.status, 200),
            Err(e) => {
                assert_eq!(e.kind, ErrorKind::Denied);
                assert!(e.message.contains("budget of 3 requests"), "{e}");
                denied += 1;
            }
        }
    }
    assert_eq!(denied, 2);
    assert_eq!(site.counters().requests(), 3);
}

#[tokio::test]
async fn forbidden_and_oversized_headers_are_refused() {
    let site = site();
    let session = client(ClientConfig {
        max_header_bytes: 1024,
        ..Default::default()
    })
    .session(SessionConfig::unrestricted());
    for (name, value) in [
        ("Host", "evil.example"),
        ("Transfer-Encoding", "chunked"),
        ("Connection", "close"),
        ("Proxy-Authorization", "Basic eA=="),
        ("Content-Length", "5"),
        ("X-Big", &"x".repeat(2000)),
    ] {
        let req = Request::get(&site.url("/echo"))
            .unwrap()
            .header(name, value)
            .unwrap();
        let err = session.fetch(req).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidRequest, "{name}: {err}");
    }
    assert_eq!(site.counters().requests(), 0);
}

#[tokio::test]
async fn a_flooding_session_does_not_starve_another() {
    let site = site();
    let client = client(ClientConfig {
        concurrency: 4,
        ..Default::default()
    });
    let flood = client.session(SessionConfig::unrestricted());
    let polite = client.session(SessionConfig::unrestricted());
    // 400 slow requests queued by one session first...
    let flooding = tokio::spawn({
        let url = site.url("/slow/20");
        async move {
            join_all((0..400).map(|_| {
                let flood = flood.clone();
                let url = url.clone();
                async move { flood.fetch(Request::get(&url).unwrap()).await }
            }))
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    // ...then one request from another: it is served within a few rounds,
    // not after the whole flood, as a first-come-first-served cap would.
    let before = site.counters().requests();
    get(&polite, &site.url("/small")).await;
    let served_meanwhile = site.counters().requests() - before;
    assert!(
        served_meanwhile <= 12,
        "{served_meanwhile} flood requests went first"
    );
    flooding.abort();
}

#[tokio::test]
async fn retryable_statuses_are_retried_with_backoff_and_counted() {
    let site = site();
    let session = client(ClientConfig {
        retries: 2,
        retry_backoff: Duration::from_millis(20),
        ..Default::default()
    })
    .session(SessionConfig::unrestricted());
    // Two 503s, then 200: within two retries.
    let r = get(&session, &site.url("/flaky/2?key=a")).await;
    assert_eq!((r.status.as_u16(), r.retries), (200, 2));
    assert_eq!(site.counters().requests(), 3);
    // Three 503s: the third attempt's 503 is the answer.
    let r = get(&session, &site.url("/flaky/3?key=b")).await;
    assert_eq!((r.status.as_u16(), r.retries), (503, 2));
    assert_eq!(site.counters().requests(), 6);
    // POST is not idempotent: never retried.
    let r = session
        .fetch(Request::new("POST", &site.url("/flaky/1?key=c")).unwrap())
        .await
        .unwrap();
    assert_eq!((r.status.as_u16(), r.retries), (503, 0));
    assert_eq!(session.stats().snapshot().retries, 4);
}

#[tokio::test]
async fn retry_after_is_honoured_and_holds_the_host() {
    let site = site();
    let session = client(ClientConfig::default()).session(SessionConfig::unrestricted());
    let r = get(&session, &site.url("/flaky/1?key=ra&retry-after=1")).await;
    assert_eq!((r.status.as_u16(), r.retries), (200, 1));
    let arrivals = site.counters().arrivals();
    let gap = arrivals[1] - arrivals[0];
    assert!(gap >= Duration::from_millis(950), "retried after {gap:?}");
}

#[tokio::test]
async fn connect_errors_are_retried_then_reported() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let session = client(ClientConfig {
        retries: 2,
        retry_backoff: Duration::from_millis(10),
        ..Default::default()
    })
    .session(SessionConfig::unrestricted());
    let err = session
        .fetch(Request::get(&format!("http://127.0.0.1:{port}/")).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Connect);
    let stats = session.stats().snapshot();
    assert_eq!(
        (stats.retries, stats.errors.get(&ErrorKind::Connect)),
        (2, Some(&3))
    );
}

#[tokio::test]
async fn requests_to_one_host_are_spaced_by_the_delay() {
    let site = site();
    let session = client(ClientConfig {
        per_host_delay: Duration::from_millis(50),
        ..Default::default()
    })
    .session(SessionConfig::unrestricted());
    // Ten at once: the server still sees them 50 ms apart.
    join_all((0..10).map(|_| session.fetch(Request::get(&site.url("/small")).unwrap()))).await;
    let arrivals = site.counters().arrivals();
    assert_eq!(arrivals.len(), 10);
    for pair in arrivals.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_millis(45), "gap {gap:?}");
    }
}

#[tokio::test]
async fn bodies_are_decoded_and_a_bomb_is_too_large() {
    let site = site();
    let session = client(ClientConfig {
        max_response_bytes: 1 << 20,
        ..Default::default()
    })
    .session(SessionConfig::unrestricted());
    let r = get(&session, &site.url("/gzip")).await;
    assert_eq!(&r.body[..], crawlbox_demo_site::GZIP_TEXT.as_bytes());
    assert!(r.headers.get("content-encoding").is_none());
    let err = session
        .fetch(Request::get(&site.url("/gzip-bomb/64")).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::TooLarge, "{err}");
    assert!(err.message.contains("decodes to more than"), "{err}");
    // A plugin that sets accept-encoding itself gets the body as sent.
    let r = session
        .fetch(
            Request::get(&site.url("/gzip"))
                .unwrap()
                .header("accept-encoding", "gzip")
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.headers["content-encoding"], "gzip");
    assert_ne!(&r.body[..], crawlbox_demo_site::GZIP_TEXT.as_bytes());
}

/// A server that misbehaves on purpose, one way per path, speaking raw
/// HTTP/1.1 over std sockets. Returns its base URL.
fn fault_server() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if stream.read(&mut byte).unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let partial = b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n0123456789";
                match path.as_str() {
                    "/reset-mid-body" => {
                        let _ = stream.write_all(partial);
                        socket2::SockRef::from(&stream)
                            .set_linger(Some(Duration::ZERO))
                            .unwrap();
                    }
                    "/truncated" => {
                        let _ = stream.write_all(partial);
                    }
                    "/slow-headers" => std::thread::sleep(Duration::from_secs(3)),
                    "/malformed" => {
                        let _ = stream.write_all(b"HTTP/1.1 two hundred\r\n\r\n");
                    }
                    "/big-headers" => {
                        let big = "x".repeat(100 * 1024);
                        let _ = write!(
                            stream,
                            "HTTP/1.1 200 OK\r\nx-big: {big}\r\ncontent-length: 0\r\n\r\n"
                        );
                    }
                    "/storm" => {
                        let _ = stream.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                    }
                    _ => {
                        let _ = stream.write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                        );
                    }
                }
            });
        }
    });
    base
}

#[tokio::test]
async fn a_misbehaving_server_gives_clear_errors_and_the_run_goes_on() {
    let base = fault_server();
    let session = client(ClientConfig {
        first_byte_timeout: Duration::from_millis(300),
        retries: 1,
        retry_backoff: Duration::from_millis(10),
        ..Default::default()
    })
    .session(SessionConfig::unrestricted());
    let fetch = |path: &str| session.fetch(Request::get(&format!("{base}{path}")).unwrap());
    for (path, kind, says) in [
        ("/reset-mid-body", ErrorKind::Protocol, "reading the body"),
        ("/truncated", ErrorKind::Protocol, "reading the body"),
        (
            "/slow-headers",
            ErrorKind::Timeout,
            "no response headers in time",
        ),
        ("/malformed", ErrorKind::Protocol, "/malformed"),
        ("/big-headers", ErrorKind::TooLarge, "/big-headers"),
    ] {
        let err = fetch(path).await.unwrap_err();
        assert_eq!(err.kind, kind, "{path}: {err}");
        assert!(err.message.contains(says), "{path}: {err}");
        // ...and the next request works.
        assert_eq!(fetch("/ok").await.unwrap().status, 200, "after {path}");
    }
    // A 5xx storm: retried, then the last 503 is the answer.
    let r = fetch("/storm").await.unwrap();
    assert_eq!((r.status.as_u16(), r.retries), (503, 1));
}

const ROBOTS_TXT: &str = "User-agent: *\nDisallow: /\n\n\
    User-agent: crawlbox\nDisallow: /page/1\nCrawl-delay: 0.05\n";

#[tokio::test]
async fn robots_txt_is_fetched_once_and_obeyed_with_its_crawl_delay() {
    let site = Site::start(SiteConfig {
        robots_txt: Some(ROBOTS_TXT),
        ..SiteConfig::default()
    })
    .unwrap();
    let with_robots = Client::new(ClientConfig::default()).unwrap();
    let session = with_robots.session(SessionConfig::unrestricted());
    let results = join_all((0..20).map(|i| {
        let session = session.clone();
        let url = site.url(&format!("/page/{i}"));
        async move { (i, session.fetch(Request::get(&url).unwrap()).await) }
    }))
    .await;
    for (i, result) in &results {
        // `Disallow: /page/1` covers /page/1 and /page/10 to /page/19.
        if *i == 1 || *i >= 10 {
            let err = result.as_ref().unwrap_err();
            assert_eq!(err.kind, ErrorKind::DeniedByRobots, "{err}");
            assert!(err.message.contains("robots.txt"), "{err}");
        } else {
            assert_eq!(result.as_ref().unwrap().status, 200);
        }
    }
    let counters = site.counters();
    assert_eq!(counters.requests_for("/robots.txt"), 1);
    assert_eq!(counters.requests_for("/page/1"), 0);
    assert_eq!(counters.requests(), 9);
    // Crawl-delay: 0.05 spaced the nine pages that were allowed.
    let arrivals = counters.arrivals();
    for pair in arrivals.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_millis(45), "gap of {gap:?}");
    }
    let stats = session.stats().snapshot();
    assert_eq!(stats.errors.get(&ErrorKind::DeniedByRobots), Some(&11));

    // Another user agent falls under `User-agent: *`, which disallows all.
    let other = Client::new(ClientConfig {
        user_agent: "OtherBot/2.0".into(),
        ..ClientConfig::default()
    })
    .unwrap()
    .session(SessionConfig::unrestricted());
    let err = other
        .fetch(Request::get(&site.url("/page/2")).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::DeniedByRobots);

    // Opted out: robots.txt is not even fetched.
    let site = Site::start(SiteConfig {
        robots_txt: Some(ROBOTS_TXT),
        ..SiteConfig::default()
    })
    .unwrap();
    let session = client(ClientConfig::default()).session(SessionConfig::unrestricted());
    let response = get(&session, &site.url("/page/1")).await;
    assert_eq!(response.status, 200);
    assert_eq!(site.counters().requests_for("/robots.txt"), 0);
}

#[tokio::test]
async fn robots_txt_applies_to_the_streaming_path_and_a_missing_one_allows_all() {
    let site = Site::start(SiteConfig {
        robots_txt: Some(ROBOTS_TXT),
        ..SiteConfig::default()
    })
    .unwrap();
    let session = Client::new(ClientConfig::default())
        .unwrap()
        .session(SessionConfig::unrestricted());
    let request = http::Request::get(site.url("/page/1"))
        .body(bytes::Bytes::new())
        .unwrap();
    let err = session
        .send(request, SendOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::DeniedByRobots);

    let open = site_with_pages(5);
    let response = get(&session, &open.url("/page/1")).await;
    assert_eq!(response.status, 200);
    assert_eq!(open.counters().requests_for("/robots.txt"), 1);
}

fn site_with_pages(pages: usize) -> Site {
    Site::start(SiteConfig {
        pages,
        ..SiteConfig::default()
    })
    .unwrap()
}

#[tokio::test]
async fn a_session_cookie_jar_keeps_cookies_for_its_own_run_only() {
    let site = site();
    let client = client(ClientConfig::default());
    let with_jar = client.session(SessionConfig {
        cookies: true,
        ..SessionConfig::unrestricted()
    });
    let show = || Request::get(&site.url("/cookie/show")).unwrap();
    get(&with_jar, &site.url("/cookie/set?sid=42&lang=en")).await;
    let seen = with_jar.fetch(show()).await.unwrap();
    let mut cookies: Vec<&str> = std::str::from_utf8(&seen.body)
        .unwrap()
        .split("; ")
        .collect();
    cookies.sort_unstable();
    assert_eq!(cookies, ["lang=en", "sid=42"]);
    // A cookie header of the plugin's own wins over the jar.
    let own = with_jar
        .fetch(show().header("cookie", "mine=1").unwrap())
        .await
        .unwrap();
    assert_eq!(&own.body[..], b"mine=1");
    // Another run has its own (empty) jar; a run without a jar keeps none.
    let other = client.session(SessionConfig {
        cookies: true,
        ..SessionConfig::unrestricted()
    });
    assert!(other.fetch(show()).await.unwrap().body.is_empty());
    let none = client.session(SessionConfig::unrestricted());
    get(&none, &site.url("/cookie/set?sid=1")).await;
    assert!(none.fetch(show()).await.unwrap().body.is_empty());
}

/// A request that asks for an extraction gets it, from a page in any
/// encoding, and no body unless it keeps it; a page that is not HTML keeps
/// its body and says why nothing was extracted.
#[tokio::test]
async fn a_page_is_extracted_on_the_extraction_threads() {
    use crawlbox_extract::{Extraction, LinkRule, Query};
    let site = site();
    let session = client(ClientConfig::default()).session(SessionConfig::unrestricted());
    let what = Extraction {
        links: Some(LinkRule {
            same_host: true,
            ..LinkRule::default()
        }),
        queries: vec![Query::new("title::text")],
        keep_body: false,
    };
    let fetch = |path: &str, what: &Extraction| {
        let request = Request::get(&site.url(path))
            .unwrap()
            .extract(what)
            .unwrap();
        let session = session.clone();
        async move { session.fetch(request).await.unwrap() }
    };
    // Shift_JIS, declared only by a <meta charset>.
    let sjis = fetch("/text/sjis", &what).await;
    let found = sjis.extracted.unwrap().unwrap();
    assert_eq!(found.matches[0][0].value, "日本");
    assert!(sjis.body.is_empty(), "no body unless kept");
    let page = fetch("/page/3", &what).await;
    let found = page.extracted.unwrap().unwrap();
    let mut expected: Vec<String> = crawlbox_demo_site::links_of(3, SiteConfig::default().pages)
        .into_iter()
        .chain([3])
        .map(|n| site.url(&format!("/page/{n}")))
        .collect();
    expected.dedup();
    let links: Vec<String> = found.links.into_iter().map(|l| l.url).collect();
    assert_eq!(links.len(), expected.len(), "{links:?}");
    assert!(expected.iter().all(|url| links.contains(url)), "{links:?}");
    assert!(page.extract_time > Duration::ZERO);
    let kept = fetch(
        "/page/3",
        &Extraction {
            keep_body: true,
            ..what.clone()
        },
    )
    .await;
    assert!(!kept.body.is_empty());
    // Not HTML: the body stays, and the reason is given.
    let plain = fetch("/text/latin1", &what).await;
    let err = plain.extracted.unwrap().unwrap_err();
    assert!(err.to_string().contains("`text/plain`, not HTML"), "{err}");
    assert_eq!(&plain.body[..], b"caf\xe9");
}

#[tokio::test]
async fn text_is_decoded_from_the_declared_or_chosen_charset() {
    use crawlbox_net::TextDecoding;
    let site = site();
    let session = client(ClientConfig::default()).session(SessionConfig::unrestricted());
    let fetch = |path: &str, how: TextDecoding| {
        let request = Request::get(&site.url(path)).unwrap().text(how);
        let session = session.clone();
        async move { session.fetch(request).await }
    };
    let latin1 = fetch("/text/latin1", TextDecoding::Detect).await.unwrap();
    let text = latin1.text.unwrap();
    assert_eq!(
        (text.text.as_str(), text.encoding),
        ("café", "windows-1252")
    );
    assert_eq!(&latin1.body[..], b"caf\xe9", "the bytes stay as they came");
    let sjis = fetch("/text/sjis", TextDecoding::Detect).await.unwrap();
    let text = sjis.text.unwrap();
    assert_eq!(text.encoding, "Shift_JIS");
    assert!(text.text.contains("<title>日本</title>"), "{}", text.text);
    let forced = fetch("/text/latin1", TextDecoding::Charset("utf-8".into()))
        .await
        .unwrap();
    assert_eq!(forced.text.unwrap().text, "caf\u{fffd}");
    let err = fetch("/text/sjis", TextDecoding::Charset("klingon".into()))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidRequest);
    assert_eq!(
        site.counters().requests_for("/text/sjis"),
        1,
        "nothing sent"
    );
    // Not asked for: no text.
    let plain = get(&session, &site.url("/text/latin1")).await;
    assert!(plain.text.is_none());
}

#[tokio::test]
async fn autothrottle_paces_a_slow_host_by_its_latency() {
    let site = site();
    let session = client(ClientConfig {
        autothrottle: true,
        ..ClientConfig::default()
    })
    .session(SessionConfig::unrestricted());
    // Eight connections are allowed, but a server answering in 80 ms with
    // a target of one request in flight gets one request per ~80 ms.
    let results = join_all((0..8).map(|_| {
        let session = session.clone();
        let url = site.url("/slow/80");
        async move { session.fetch(Request::get(&url).unwrap()).await }
    }))
    .await;
    assert!(results.iter().all(|r| r.as_ref().unwrap().status == 200));
    let counters = site.counters();
    // One request per latency: each is sent about when the previous one's
    // answer arrives, so two may overlap for the moment between them.
    assert!(
        counters.peak_in_flight() <= 2,
        "AutoThrottle kept about one in flight, not {}",
        counters.peak_in_flight()
    );
    let arrivals = counters.arrivals();
    for pair in arrivals.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_millis(70), "gap of {gap:?}");
    }
}

// ---- Proxies ----

/// `Basic base64("user:secret")`, what the client must send the proxies below.
const USER_SECRET: &str = "Basic dXNlcjpzZWNyZXQ=";

fn proxied(proxies: Vec<String>) -> Client {
    client(ClientConfig {
        proxies,
        ..ClientConfig::default()
    })
}

#[tokio::test]
async fn http_goes_through_a_forwarding_proxy_with_the_hosts_credentials() {
    assert_eq!(support::base64(b"user:secret"), USER_SECRET[6..]);
    let site = site();
    let proxy = TestProxy::start(Some("user:secret"));
    let session =
        proxied(vec![proxy.url_with("user:secret")]).session(SessionConfig::unrestricted());
    let echo = get(&session, &site.url("/echo?q=1")).await;
    assert_eq!(echo.status, 200);
    for _ in 0..2 {
        let small = get(&session, &site.url("/small")).await;
        assert_eq!(small.body.len(), 1024);
    }
    let addr = site.addr();
    assert_eq!(
        proxy.request_lines(),
        [
            format!("GET http://{addr}/echo?q=1 HTTP/1.1"),
            format!("GET http://{addr}/small HTTP/1.1"),
            format!("GET http://{addr}/small HTTP/1.1"),
        ]
    );
    assert_eq!(
        proxy.authorizations(),
        vec![Some(USER_SECRET.to_owned()); 3]
    );
    assert_eq!(proxy.connects(), 0);
    assert_eq!(site.counters().requests(), 3);
    // The site got an ordinary request; nothing of the credentials comes back.
    let seen: serde_json::Value = serde_json::from_slice(&echo.body).unwrap();
    assert_eq!(seen["path"], "/echo");
    let headers = seen["headers"].as_array().unwrap();
    assert!(
        headers
            .iter()
            .any(|h| h[0] == "host" && h[1] == addr.to_string())
    );
    assert!(
        !headers.iter().any(|h| h[0] == "proxy-authorization"),
        "{seen}"
    );
    assert!(!echo.headers.contains_key("proxy-authorization"));
    assert!(!String::from_utf8_lossy(&echo.body).contains(&USER_SECRET[6..]));
}

#[tokio::test]
async fn https_goes_through_a_connect_tunnel_and_keeps_alpn() {
    let (site, ca) = Site::start_tls(SiteConfig::default()).unwrap();
    let proxy = TestProxy::start(Some("user:secret"));
    let session = client(ClientConfig {
        proxies: vec![proxy.url_with("user:secret")],
        extra_root_certs: ca.into_bytes(),
        ..ClientConfig::default()
    })
    .session(SessionConfig::unrestricted());
    // `localhost`: the certificate is checked (and SNI sent) for the target.
    let port = site.addr().port();
    let echo = get(&session, &format!("https://localhost:{port}/echo")).await;
    assert_eq!(
        (echo.status.as_u16(), echo.version),
        (200, http::Version::HTTP_2)
    );
    for _ in 0..3 {
        let r = get(&session, &format!("https://localhost:{port}/small")).await;
        assert_eq!(r.body.len(), 1024);
    }
    // One tunnel, pooled, carried all four requests over HTTP/2.
    assert_eq!(proxy.connects(), 1);
    assert_eq!(proxy.connections(), 1);
    assert_eq!(
        proxy.request_lines(),
        [format!("CONNECT localhost:{port} HTTP/1.1")]
    );
    assert_eq!(proxy.authorizations(), [Some(USER_SECRET.to_owned())]);
    assert_eq!(site.counters().http2_requests(), 4);
    assert_eq!(site.counters().connections(), 1);
    // Inside the tunnel, the site sees no proxy credentials.
    let seen: serde_json::Value = serde_json::from_slice(&echo.body).unwrap();
    let headers = seen["headers"].as_array().unwrap();
    assert!(
        !headers.iter().any(|h| h[0] == "proxy-authorization"),
        "{seen}"
    );
}

#[tokio::test]
async fn h2c_hosts_go_through_a_connect_tunnel() {
    let site = site();
    let proxy = TestProxy::start(None);
    let session = client(ClientConfig {
        proxies: vec![proxy.url()],
        h2c_hosts: vec![site.addr().to_string()],
        ..ClientConfig::default()
    })
    .session(SessionConfig::unrestricted());
    let r = get(&session, &site.url("/small")).await;
    assert_eq!(r.version, http::Version::HTTP_2);
    assert_eq!(
        proxy.request_lines(),
        [format!("CONNECT {} HTTP/1.1", site.addr())]
    );
    assert_eq!(proxy.authorizations(), [None]);
    assert_eq!(site.counters().http2_requests(), 1);
}

#[tokio::test]
async fn each_new_connection_takes_the_next_proxy() {
    let site = site();
    let (first, second) = (TestProxy::start(None), TestProxy::start(None));
    let session = proxied(vec![first.url(), second.url()]).session(SessionConfig::unrestricted());
    // The test proxy forwards one request per connection: each fetch opens
    // a new connection, through the next proxy.
    for _ in 0..6 {
        let r = get(&session, &site.url("/small")).await;
        assert_eq!(r.status, 200);
    }
    assert_eq!((first.connections(), second.connections()), (3, 3));
    let line = format!("GET {} HTTP/1.1", site.url("/small"));
    assert_eq!(first.request_lines(), vec![line.clone(); 3]);
    assert_eq!(second.request_lines(), vec![line; 3]);
    assert_eq!(site.counters().requests(), 6);
}

#[tokio::test]
async fn wrong_or_missing_proxy_credentials_are_a_connect_error_naming_the_proxy() {
    let (tls_site, ca) = Site::start_tls(SiteConfig::default()).unwrap();
    let site = site();
    let proxy = TestProxy::start(Some("user:secret"));
    let https_url = format!("https://localhost:{}/small", tls_site.addr().port());
    let with = |proxies: Vec<String>, retries: u32| {
        client(ClientConfig {
            proxies,
            retries,
            retry_backoff: Duration::from_millis(10),
            extra_root_certs: ca.clone().into_bytes(),
            ..ClientConfig::default()
        })
        .session(SessionConfig::unrestricted())
    };
    let (bad, good) = (
        proxy.url_with("user:hunter2"),
        proxy.url_with("user:secret"),
    );
    for proxies in [vec![bad.clone()], vec![proxy.url()]] {
        let session = with(proxies, 0);
        // https: the CONNECT is refused.
        let err = session
            .fetch(Request::get(&https_url).unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Connect, "{err}");
        assert_eq!(
            err.message,
            format!(
                "proxy {} refused CONNECT to localhost:{}: 407 Proxy Authentication Required",
                proxy.url(),
                tls_site.addr().port()
            )
        );
        // http: the proxy's 407 answer is not the site's response.
        let err = session
            .fetch(Request::get(&site.url("/small")).unwrap())
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Connect, "{err}");
        assert_eq!(
            err.message,
            format!(
                "proxy {} refused the request to {}: 407 Proxy Authentication Required",
                proxy.url(),
                site.url("/small")
            )
        );
        assert!(!format!("{err} {err:?}").contains("hunter2"));
        assert_eq!(
            session.stats().snapshot().errors.get(&ErrorKind::Connect),
            Some(&2)
        );
    }
    assert_eq!(
        tls_site.counters().requests() + site.counters().requests(),
        0
    );

    // The run goes on: the next connection takes the next (good) proxy...
    let session = with(vec![bad.clone(), good.clone()], 0);
    let err = session
        .fetch(Request::get(&https_url).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Connect, "{err}");
    for _ in 0..2 {
        let r = get(&session, &https_url).await;
        assert_eq!(r.status, 200);
    }
    // ...and a retry after a 407 goes through the next proxy too.
    let session = with(vec![bad, good], 1);
    let r = get(&session, &https_url).await;
    assert_eq!((r.status.as_u16(), r.retries), (200, 1));
    assert_eq!(tls_site.counters().requests(), 3);
}

#[tokio::test]
async fn the_target_address_is_checked_behind_a_proxy() {
    let site = site();
    let port = site.addr().port();
    let proxy = TestProxy::start(None);
    let client = proxied(vec![proxy.url()]);
    // The proxy is on 127.0.0.1 too, but the operator chose it: only the
    // target's address needs the grant.
    let session = client.session(policy(&["http://127.0.0.1:*", "http://localhost:*"], &[]));
    assert_loopback_denied(
        &session,
        [
            format!("http://127.0.0.1:{port}/small"),
            format!("http://localhost:{port}/small"),
            format!("http://2130706433:{port}/small"),
        ],
    )
    .await;
    // The allowed hosts are checked on the URL, as ever.
    let err = client
        .session(policy(&["http://example.com"], &["127.0.0.1"]))
        .fetch(Request::get(&site.url("/small")).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied, "{err}");
    assert!(err.message.contains("--allow-host"), "{err}");
    assert_eq!(proxy.connections(), 0);
    assert_eq!(site.counters().requests(), 0);

    // Granted, it goes through.
    let session = client.session(policy(&["http://127.0.0.1:*"], &["127.0.0.1"]));
    let r = get(&session, &site.url("/small")).await;
    assert_eq!(r.status, 200);
    assert_eq!(proxy.connections(), 1);
    assert_eq!(site.counters().requests(), 1);
}

#[tokio::test]
async fn a_pooled_tunnel_is_not_lent_to_a_session_that_may_not_reach_the_target() {
    let (site, ca) = Site::start_tls(SiteConfig::default()).unwrap();
    let proxy = TestProxy::start(None);
    let client = client(ClientConfig {
        proxies: vec![proxy.url()],
        extra_root_certs: ca.into_bytes(),
        ..ClientConfig::default()
    });
    let url = format!("https://127.0.0.1:{}/small", site.addr().port());
    let trusted = client.session(SessionConfig::unrestricted());
    assert_eq!(get(&trusted, &url).await.status, 200);
    // An HTTP/2 tunnel to the site is in the pool; this session may not
    // reach loopback addresses.
    let untrusted = client.session(policy(&["https://127.0.0.1:*"], &[]));
    let err = untrusted
        .fetch(Request::get(&url).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Denied, "{err}");
    assert_eq!(site.counters().requests(), 1);
    assert_eq!(proxy.connects(), 1);
}

#[tokio::test]
async fn bad_proxy_urls_are_refused_without_showing_the_password() {
    for (proxy, says) in [
        (
            "https://user:hunter2@proxy.example:3128",
            "only http:// proxy URLs are supported",
        ),
        (
            "socks5://user:hunter2@proxy.example:1080",
            "only http:// proxy URLs are supported",
        ),
        (
            "http://user:hunter2@proxy.example:3128/path",
            "without a path",
        ),
        ("http://user:hunter2@proxy.example:123456", "invalid port"),
        ("proxy.example:3128", "expected a URL"),
    ] {
        let err = Client::new(ClientConfig {
            proxies: vec!["http://fine.example:3128".into(), proxy.into()],
            ..ClientConfig::default()
        })
        .unwrap_err();
        let text = format!("{err} / {err:?}");
        assert!(text.contains(says), "{proxy}: {text}");
        assert!(text.contains("proxy.example:"), "names the entry: {text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
    let config = ClientConfig {
        proxies: vec!["http://user:hunter2@proxy.example:3128".into()],
        ..ClientConfig::default()
    };
    let client = Client::new(config.clone()).unwrap();
    let debug = format!("{config:?} {client:?}");
    assert!(debug.contains("proxy.example:3128"), "{debug}");
    assert!(!debug.contains("hunter2"), "{debug}");
}

/// A session whose budget of buffered bytes is `budget`, on `site`.
fn budgeted(client: &Client, budget: u64) -> Session {
    client.session(SessionConfig {
        max_buffered_bytes: Some(budget),
        ..SessionConfig::unrestricted()
    })
}

#[tokio::test]
async fn a_batch_holds_no_more_than_the_buffer_budget() {
    let site = site();
    let client = client(ClientConfig::default());
    let session = budgeted(&client, 4 << 20);
    // 20 × 1 MiB into a 4 MiB budget: at most 4 can be held at once.
    let url = site.url(&format!("/bytes/{}", 1 << 20));
    let results = session
        .fetch_many((0..20).map(|_| Request::get(&url)).collect())
        .await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let over: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!((1..=4).contains(&ok), "{ok} held");
    assert_eq!(ok + over.len(), 20);
    assert!(
        over.iter().all(|e| e.kind == ErrorKind::TooLarge),
        "{over:?}"
    );
    assert!(
        over[0].message.contains("max_buffered_responses"),
        "{}",
        over[0]
    );
    // Given back when the responses are dropped: the next fetch fits.
    drop(results);
    assert_eq!(get(&session, &url).await.body.len(), 1 << 20);
    // Another session's budget is its own.
    let other = budgeted(&client, 4 << 20);
    assert_eq!(get(&other, &url).await.charge.bytes(), 1 << 20);
}

#[tokio::test]
async fn a_queue_stops_fetching_while_its_results_are_not_taken() {
    let site = site();
    let client = client(ClientConfig::default());
    let session = budgeted(&client, 4 << 20);
    let mut queue = session.queue();
    let url = site.url(&format!("/bytes/{}", 1 << 20));
    for _ in 0..200 {
        queue.push(Request::get(&url));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Nothing taken: the queue fetched what fits (plus what was already in
    // flight when the budget ran out) and then stopped.
    let sent = site.counters().requests();
    assert!(sent <= 64 + 4, "{sent} requests sent for untaken results");
    // Taking results lets it go on, and every request completes in the end.
    let mut done = 0;
    let mut ok = 0;
    while queue.pending() > 0 {
        for (_, result) in queue.next(16).await {
            done += 1;
            ok += usize::from(result.is_ok());
        }
    }
    assert_eq!(done, 200);
    assert!(ok >= 4, "{ok} of 200 fitted");
}

#[tokio::test]
async fn an_unread_streaming_body_gives_back_its_slot_and_connection() {
    let site = site();
    let client = client(ClientConfig {
        concurrency: 2,
        per_host: 2,
        ..Default::default()
    });
    let session = client.session(SessionConfig::unrestricted());
    let request = || {
        http::Request::get(site.url("/page/1"))
            .body(bytes::Bytes::new())
            .unwrap()
    };
    // Two responses held, bodies never read: the body was read ahead, so
    // neither the two slots nor the two connections are held.
    let held = [
        session
            .send(request(), SendOptions::default())
            .await
            .unwrap(),
        session
            .send(request(), SendOptions::default())
            .await
            .unwrap(),
    ];
    let third = tokio::time::timeout(Duration::from_secs(5), get(&session, &site.url("/page/2")))
        .await
        .expect("a third request is not held up by two unread bodies");
    assert_eq!(third.status, 200);
    // The held bodies are still there, whole.
    for response in held {
        let body = response.into_body().collect().await.unwrap();
        assert!(body.starts_with(b"<!doctype html>"));
    }
    assert!(site.counters().connections() <= 2);
}

#[tokio::test]
async fn an_unread_body_fails_at_its_deadline_without_being_polled() {
    let site = site();
    let client = client(ClientConfig {
        concurrency: 1,
        request_timeout: Duration::from_millis(300),
        ..Default::default()
    });
    let session = client.session(SessionConfig::unrestricted());
    let request = http::Request::get(site.url("/slow-body/5000"))
        .body(bytes::Bytes::new())
        .unwrap();
    let held = session.send(request, SendOptions::default()).await.unwrap();
    // Never polled: the body's deadline frees the one slot all the same.
    let next = tokio::time::timeout(Duration::from_secs(3), get(&session, &site.url("/small")))
        .await
        .expect("the slot comes back at the held body's deadline");
    assert_eq!(next.status, 200);
    let err = held.into_body().collect().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
}

#[tokio::test]
async fn a_streaming_body_over_the_budget_fails_and_frees_its_connection() {
    let site = site();
    let client = client(ClientConfig {
        concurrency: 1,
        ..Default::default()
    });
    let session = budgeted(&client, 1 << 20);
    let request = http::Request::get(site.url(&format!("/bytes/{}", 8 << 20)))
        .body(bytes::Bytes::new())
        .unwrap();
    let held = session.send(request, SendOptions::default()).await.unwrap();
    // Another plugin gets the only slot: the over-budget body gave it
    // back (what it read ahead stays charged to its own session).
    let other = client.session(SessionConfig::unrestricted());
    let next = tokio::time::timeout(Duration::from_secs(5), get(&other, &site.url("/small")))
        .await
        .expect("the over-budget body gave its slot back");
    assert_eq!(next.status, 200);
    let err = held.into_body().collect().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::TooLarge, "{err}");
    assert!(err.message.contains("max_buffered_responses"), "{err}");
}

#[tokio::test]
async fn one_plugins_slow_requests_leave_another_a_connection_and_a_slot() {
    let site = site();
    let client = client(ClientConfig {
        concurrency: 4,
        per_host: 4,
        ..Default::default()
    });
    let hog = client.session(SessionConfig::unrestricted());
    let good = client.session(SessionConfig::unrestricted());
    // The hog asks for more slow requests than there are slots and
    // connections; it gets all but the reserve (one of four).
    let slow: Vec<_> = (0..8)
        .map(|_| {
            let hog = hog.clone();
            let url = site.url("/slow/3000");
            tokio::spawn(async move { hog.fetch(Request::get(&url).unwrap()).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        site.counters().peak_in_flight(),
        3,
        "the hog took the reserve"
    );
    let started = std::time::Instant::now();
    for _ in 0..10 {
        assert_eq!(get(&good, &site.url("/small")).await.status, 200);
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the other plugin waited {:?} behind slow requests",
        started.elapsed()
    );
    assert!(site.counters().connections() <= 4);
    drop(slow);
}

#[tokio::test]
async fn alone_a_plugin_uses_every_slot_and_connection() {
    let site = site();
    let client = client(ClientConfig {
        concurrency: 4,
        per_host: 4,
        ..Default::default()
    });
    let only = client.session(SessionConfig::unrestricted());
    let url = site.url("/slow/100");
    let results = join_all((0..8).map(|_| get(&only, &url))).await;
    assert_eq!(results.len(), 8);
    assert_eq!(site.counters().peak_in_flight(), 4);
}
