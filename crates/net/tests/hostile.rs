//! The client against hostile or dead servers on 127.0.0.1, and against a
//! session that hogs a shared host: which timeout fires and how it is
//! reported, a guest's own tighter limits (connect timeout, robots.txt
//! pre-fetch), retries bounded by the whole-request timeout, politeness
//! turns shared between sessions, and values from a site that must not
//! panic the host (a `Crawl-delay: 1e30`, a `Retry-After` of u64::MAX
//! seconds).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crawlbox_demo_site::{Site, SiteConfig};
use crawlbox_net::{
    Client, ClientConfig, ErrorKind, FetchError, Request, SendOptions, Session, SessionConfig,
    TimeoutKind,
};

const MS: Duration = Duration::from_millis(1);

fn session(config: ClientConfig) -> Session {
    Client::new(config)
        .expect("valid config")
        .session(SessionConfig::unrestricted())
}

/// A client that ignores robots.txt, so that requests go straight out.
fn no_robots(config: ClientConfig) -> Session {
    session(ClientConfig {
        robots: false,
        ..config
    })
}

fn site() -> Site {
    Site::start(SiteConfig::default()).expect("start the test site")
}

/// A streaming `GET` of `url`.
fn get(url: &str) -> http::Request<bytes::Bytes> {
    http::Request::get(url).body(bytes::Bytes::new()).unwrap()
}

/// A server on 127.0.0.1 that never completes a connection: a listening
/// socket with a backlog of one, filled by a connection it never accepts,
/// so the kernel leaves every later SYN unanswered. (A non-routable
/// address would do the same, but the tests' traffic stays on loopback.)
struct Unanswering {
    addr: SocketAddr,
    _listener: socket2::Socket,
    _queued: Vec<std::net::TcpStream>,
}

impl Unanswering {
    fn start() -> Self {
        use socket2::{Domain, Socket, Type};
        let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        listener.bind(&any.into()).unwrap();
        listener.listen(0).unwrap();
        let addr = listener.local_addr().unwrap().as_socket().unwrap();
        let mut queued = Vec::new();
        while let Ok(tcp) = std::net::TcpStream::connect_timeout(&addr, 200 * MS) {
            queued.push(tcp);
            assert!(queued.len() < 64, "the backlog never fills");
        }
        assert!(!queued.is_empty());
        Self {
            addr,
            _listener: listener,
            _queued: queued,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

fn assert_timeout(err: &FetchError, which: TimeoutKind) {
    assert_eq!(
        (err.kind, err.timeout),
        (ErrorKind::Timeout, Some(which)),
        "{err}"
    );
}

#[tokio::test]
async fn a_guests_connect_timeout_fires_as_a_connect_timeout() {
    let server = Unanswering::start();
    // The client would wait its default 10 s; the guest asked for 200 ms.
    let session = no_robots(ClientConfig::default());
    let started = Instant::now();
    let options = SendOptions {
        connect_timeout: Some(200 * MS),
        ..SendOptions::default()
    };
    let err = session
        .send(get(&server.url("/")), options)
        .await
        .unwrap_err();
    assert_timeout(&err, TimeoutKind::Connect);
    assert!(err.message.contains("the connect timeout (200ms)"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // A guest's looser connect timeout does not loosen the client's.
    let session = no_robots(ClientConfig {
        connect_timeout: 300 * MS,
        ..ClientConfig::default()
    });
    let options = SendOptions {
        connect_timeout: Some(Duration::from_secs(60)),
        ..SendOptions::default()
    };
    let err = session
        .send(get(&server.url("/")), options)
        .await
        .unwrap_err();
    assert_timeout(&err, TimeoutKind::Connect);
    assert!(err.message.contains("(300ms)"), "{err}");

    // `fetch` reports the client's connect timeout the same way.
    let session = no_robots(ClientConfig {
        connect_timeout: 200 * MS,
        retries: 0,
        ..ClientConfig::default()
    });
    let err = session
        .fetch(Request::get(&server.url("/")).unwrap())
        .await
        .unwrap_err();
    assert_timeout(&err, TimeoutKind::Connect);
}

#[tokio::test]
async fn each_timeout_says_which_limit_ran_out() {
    let site = site();
    let session = no_robots(ClientConfig {
        retries: 0,
        ..ClientConfig::default()
    });
    // The headers, late under the first-byte limit...
    let err = session
        .send(
            get(&site.url("/slow/3000")),
            SendOptions {
                first_byte_timeout: Some(200 * MS),
                ..SendOptions::default()
            },
        )
        .await
        .unwrap_err();
    assert_timeout(&err, TimeoutKind::FirstByte);
    assert!(
        err.message
            .ends_with("/slow/3000: no response headers in time (first-byte timeout 200ms)"),
        "{err}"
    );
    // ...or under the whole request's, when that is the nearer deadline.
    let err = session
        .send(
            get(&site.url("/slow/3000")),
            SendOptions {
                timeout: Some(200 * MS),
                ..SendOptions::default()
            },
        )
        .await
        .unwrap_err();
    assert_timeout(&err, TimeoutKind::Whole);
    assert!(err.message.contains("(request timeout 200ms)"), "{err}");

    // `fetch` with the client's own first-byte limit: the message names
    // that limit, not the whole request's 60 s.
    let session = no_robots(ClientConfig {
        first_byte_timeout: 200 * MS,
        retries: 0,
        ..ClientConfig::default()
    });
    let err = session
        .fetch(Request::get(&site.url("/slow/3000")).unwrap())
        .await
        .unwrap_err();
    assert_timeout(&err, TimeoutKind::FirstByte);
    assert!(err.message.contains("(first-byte timeout 200ms)"), "{err}");
    assert!(!err.message.contains("60s"), "{err}");
}

/// The body's timeouts fire in `body.rs` (`WireBody::poll_frame`), which
/// must build them with `FetchError::timeout` for their phase to show.
#[tokio::test]
async fn body_timeouts_say_which_limit_ran_out() {
    let site = site();
    let session = no_robots(ClientConfig {
        retries: 0,
        ..ClientConfig::default()
    });
    let response = session
        .send(
            get(&site.url("/slow-body/3000")),
            SendOptions {
                between_bytes_timeout: Some(200 * MS),
                ..SendOptions::default()
            },
        )
        .await
        .unwrap();
    let err = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap_err();
    assert_timeout(&err, TimeoutKind::BetweenBytes);
    let err = session
        .fetch(
            Request::get(&site.url("/slow-body/3000"))
                .unwrap()
                .timeout(300 * MS),
        )
        .await
        .unwrap_err();
    assert_timeout(&err, TimeoutKind::Whole);
}

#[tokio::test]
async fn retries_stop_when_the_whole_request_timeout_is_spent() {
    let site = site();
    let session = no_robots(ClientConfig {
        retries: 4,
        retry_backoff: 10 * MS,
        ..ClientConfig::default()
    });
    // A body that comes too late, every time: five tries of 400 ms each
    // would hold the fetch for 2 s. The timeout covers the retries too.
    let started = Instant::now();
    let err = session
        .fetch(
            Request::get(&site.url("/slow-body/5000"))
                .unwrap()
                .timeout(400 * MS),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(site.counters().requests_for("/slow-body/5000"), 1);
    assert_eq!(session.stats().snapshot().retries, 0);

    // A retry that fits is still made...
    let r = session
        .fetch(Request::get(&site.url("/flaky/1?key=fits")).unwrap())
        .await
        .unwrap();
    assert_eq!((r.status.as_u16(), r.retries), (200, 1));
    // ...but not one whose Retry-After outlasts what is left: the 503 is
    // the answer, at once.
    let started = Instant::now();
    let r = session
        .fetch(
            Request::get(&site.url("/flaky/1?key=late&retry-after=2"))
                .unwrap()
                .timeout(Duration::from_secs(1)),
        )
        .await
        .unwrap();
    assert_eq!((r.status.as_u16(), r.retries), (503, 0));
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn a_huge_retry_after_does_not_panic_or_hold_the_fetch() {
    let site = site();
    // Bounded by max_retry_after (30 s): returned as it is.
    let session = no_robots(ClientConfig::default());
    let r = session
        .fetch(Request::get(&site.url("/flaky/1?key=a&retry-after=99999999999")).unwrap())
        .await
        .unwrap();
    assert_eq!((r.status.as_u16(), r.retries), (503, 0));
    // Even with no bound at all: u64::MAX seconds holds the host (for
    // "ever", without overflowing an Instant), and the fetch does not
    // sleep for it: that would outlast its timeout.
    let session = no_robots(ClientConfig {
        max_retry_after: Duration::MAX,
        ..ClientConfig::default()
    });
    let started = Instant::now();
    let r = session
        .fetch(Request::get(&site.url("/flaky/1?key=b&retry-after=18446744073709551615")).unwrap())
        .await
        .unwrap();
    assert_eq!((r.status.as_u16(), r.retries), (503, 0));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_crawl_delay_of_1e30_is_capped_and_the_crawl_goes_on() {
    let site = Site::start(SiteConfig {
        robots_txt: Some("User-agent: *\nCrawl-delay: 1e30\n"),
        ..SiteConfig::default()
    })
    .unwrap();
    let session = session(ClientConfig::default());
    // No panic: the page is fetched, after robots.txt.
    let r = session
        .fetch(Request::get(&site.url("/page/0")).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(site.counters().requests_for("/robots.txt"), 1);
    // The (capped, 30 s) delay is in force: the next page waits.
    let next = tokio::time::timeout(
        Duration::from_millis(1500),
        session.fetch(Request::get(&site.url("/page/1")).unwrap()),
    )
    .await;
    assert!(next.is_err(), "the crawl delay was not applied");
    assert_eq!(site.counters().requests_for("/page/1"), 0);
}

#[tokio::test]
async fn robots_txt_is_fetched_under_the_requests_own_timeouts() {
    let server = Unanswering::start();
    let robots = server.url("/robots.txt");
    // robots.txt is on: every request needs it first, and it cannot come.
    let session = session(ClientConfig::default());
    let started = Instant::now();
    let options = SendOptions {
        connect_timeout: Some(200 * MS),
        ..SendOptions::default()
    };
    let err = session
        .send(get(&server.url("/page")), options)
        .await
        .unwrap_err();
    // The guest's 200 ms applied to robots.txt too (not the client's 10 s),
    // and the error says it was the robots.txt fetch that failed.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_timeout(&err, TimeoutKind::Connect);
    assert!(
        err.message
            .starts_with(&format!("{robots}: the robots.txt fetch failed, so ")),
        "{err}"
    );
    assert!(err.message.contains("/page was not sent"), "{err}");
    assert!(err.message.contains("nothing is cached"), "{err}");

    // The same through `fetch`, with a whole-request timeout.
    let started = Instant::now();
    let err = session
        .fetch(
            Request::get(&server.url("/other"))
                .unwrap()
                .timeout(300 * MS),
        )
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_timeout(&err, TimeoutKind::Whole);
    assert!(err.message.starts_with(&robots), "{err}");

    // Under the client's own limits, the failure says the site is down:
    // it is kept, and the next request fails with it at once.
    let session = self::session(ClientConfig {
        connect_timeout: 200 * MS,
        retries: 0,
        ..ClientConfig::default()
    });
    let err = session
        .fetch(Request::get(&server.url("/a")).unwrap())
        .await
        .unwrap_err();
    assert_timeout(&err, TimeoutKind::Connect);
    assert!(err.message.starts_with(&robots), "{err}");
    assert!(err.message.contains("the site counts as down"), "{err}");
    let err = session
        .fetch(Request::get(&server.url("/b")).unwrap())
        .await
        .unwrap_err();
    assert!(err.message.contains("/b was not sent"), "{err}");
    assert!(err.message.contains("the site counts as down"), "{err}");
}

#[tokio::test]
async fn waiting_for_politeness_turns_does_not_eat_the_timeout() {
    let site = site();
    let session = no_robots(ClientConfig {
        per_host_delay: 150 * MS,
        retries: 0,
        ..ClientConfig::default()
    });
    // Four fetches of a redirect at once: eight requests, 150 ms apart, so
    // the last ones wait far longer than their 300 ms timeout to be sent.
    // Only the time after each hop is sent counts: all four succeed.
    let results = futures::future::join_all((0..4).map(|_| {
        session.fetch(
            Request::get(&site.url("/redirect/1"))
                .unwrap()
                .timeout(300 * MS),
        )
    }))
    .await;
    for result in results {
        let response = result.unwrap();
        assert_eq!((response.status.as_u16(), response.redirects), (200, 1));
        // `elapsed` leaves the waits out too.
        assert!(response.elapsed < 300 * MS, "{:?}", response.elapsed);
    }
    assert_eq!(site.counters().requests(), 8);
}

#[tokio::test]
async fn a_session_queueing_hundreds_of_requests_to_a_host_does_not_hold_up_another() {
    let site = Site::start(SiteConfig {
        pages: 1000,
        ..SiteConfig::default()
    })
    .unwrap();
    let client = Client::new(ClientConfig {
        per_host_delay: 10 * MS,
        robots: false,
        ..ClientConfig::default()
    })
    .unwrap();
    // The hog: 800 requests to the host, 8 s of turns, 64 of them waiting
    // for a turn at any time.
    let hog = client.session(SessionConfig::unrestricted());
    let mut queue = hog.queue();
    for i in 0..800 {
        queue.push(Request::get(&site.url(&format!("/page/{i}"))));
    }
    tokio::time::sleep(100 * MS).await;
    // The other session's 20 requests, one after the other: each waits for
    // its turn behind the hog's 64 waiters (640 ms) if turns are first come,
    // first served; shared in turn, it waits one or two turns.
    let good = client.session(SessionConfig::unrestricted());
    let started = Instant::now();
    for i in 0..20 {
        let r = good
            .fetch(Request::get(&site.url(&format!("/page/{}", 900 + i))).unwrap())
            .await
            .unwrap();
        assert_eq!(r.status, 200);
    }
    let took = started.elapsed();
    // 20 × 2 turns of 10 ms is 0.4 s; 20 × 640 ms would be 12.8 s.
    assert!(took < Duration::from_secs(3), "20 requests took {took:?}");
    // The hog was served meanwhile too: every other turn.
    let hogged = site.counters().requests() - 20;
    assert!(hogged >= 15, "the hog got {hogged} requests");
    drop(queue);
}

#[tokio::test]
async fn a_freed_connection_goes_to_the_session_holding_fewer() {
    let site = site();
    // 4 connections to the host: each session may hold 3 of them.
    let client = Client::new(ClientConfig {
        per_host: 4,
        robots: false,
        ..ClientConfig::default()
    })
    .unwrap();
    let slow = site.url("/slow/500");
    // The hog: 200 slow requests, dozens of them waiting for a connection.
    let hog = client.session(SessionConfig::unrestricted());
    let mut queue = hog.queue();
    for _ in 0..200 {
        queue.push(Request::get(&slow));
    }
    tokio::time::sleep(100 * MS).await;
    // The other session's 8 at once. First come, first served, the hog's
    // waiters take every connection the hog hands back, and the 8 go one
    // by one on the one connection the hog may not take: 4 s. A connection
    // handed back goes to the session holding fewer instead: about 2 each,
    // 2 s.
    let good = client.session(SessionConfig::unrestricted());
    let started = Instant::now();
    let requests = (0..8).map(|_| Request::get(&slow)).collect();
    for result in good.fetch_many(requests).await {
        assert_eq!(result.unwrap().status, 200);
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(3200),
        "8 requests took {took:?}"
    );
    // The hog was served meanwhile too.
    let hogged = site.counters().requests_for("/slow/500") - 8;
    assert!(hogged >= 6, "the hog got {hogged} requests");
    drop(queue);
}
