//! The Redis frontier against a real `redis-server`, one per test.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crawlbox_frontier_redis::{Claimed, Error, Limits, Offer, Push, RedisFrontier, Request};

/// An offer of a `GET` of `url`.
fn get(url: impl AsRef<str>) -> Offer {
    Offer::new(Request::get(url.as_ref()).unwrap())
}
use support::RedisServer;

const LONG: Duration = Duration::from_secs(60);

async fn frontier(server: &RedisServer, crawl: &str, limits: Limits) -> RedisFrontier {
    RedisFrontier::connect(&server.url(), crawl, limits)
        .await
        .unwrap()
}

async fn exported(frontier: &RedisFrontier) -> Vec<String> {
    let mut out = Vec::new();
    let n = frontier.export(&mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    assert_eq!(lines.len() as u64, n);
    lines
}

fn urls(claimed: &[Claimed]) -> Vec<&str> {
    claimed
        .iter()
        .map(|c| c.entry.request.url.as_str())
        .collect()
}

fn item(text: &str) -> Vec<String> {
    vec![format!("{{\"v\":\"{text}\"}}")]
}

#[tokio::test]
async fn push_dedups_limits_depth_and_rejects_invalid_urls() {
    let server = RedisServer::start();
    let limits = Limits {
        max_pages: None,
        max_depth: Some(1),
    };
    let f = frontier(&server, "push", limits).await;
    let post = Offer::new(
        Request::new("POST", "http://a.example/1")
            .unwrap()
            .body(b"q=1".to_vec()),
    );
    // A request that is not an absolute http(s) URL cannot even be made.
    assert!(Request::get("ftp://a.example/").is_err());
    assert!(Request::get("not a url").is_err());
    let outcomes = f
        .push(vec![
            get("http://a.example/1"),
            get("HTTP://A.example:80/1#fragment"),
            get("http://a.example/2").depth(1),
            get("http://a.example/3").depth(2),
            get("http://a.example/2"),
            post,
        ])
        .await
        .unwrap();
    assert_eq!(
        &outcomes[..4],
        [Push::Added, Push::Seen, Push::Added, Push::TooDeep]
    );
    assert_eq!(&outcomes[4..], [Push::Seen, Push::Added]);

    // Another worker's connection sees the same set.
    let other = frontier(&server, "push", limits).await;
    let outcomes = other
        .push(vec![
            get("http://a.example/q?b=2&a=1"),
            get("http://a.example/q?a=1&b=2"),
            get("http://a.example/1?"),
        ])
        .await
        .unwrap();
    assert_eq!(outcomes, [Push::Added, Push::Seen, Push::Seen]);
    // Another crawl on the same Redis does not.
    let elsewhere = frontier(&server, "push-2", limits).await;
    let outcomes = elsewhere
        .push(vec![get("http://a.example/1")])
        .await
        .unwrap();
    assert_eq!(outcomes, [Push::Added]);

    let counts = f.counts().await.unwrap();
    assert_eq!((counts.seen, counts.queued, counts.pending), (4, 4, 0));
    assert_eq!(f.push(Vec::new()).await.unwrap(), []);
    // Exactly the four queued come out, once.
    let claimed = f.claim("w", 100, Duration::ZERO, LONG).await.unwrap();
    let mut got = urls(&claimed);
    got.sort_unstable();
    assert_eq!(
        got,
        [
            "http://a.example/1",
            "http://a.example/1",
            "http://a.example/2",
            "http://a.example/q?b=2&a=1"
        ]
    );
    assert_eq!(
        claimed
            .iter()
            .filter(|c| c.entry.request.method == "POST")
            .count(),
        1
    );
}

#[tokio::test]
async fn claim_complete_round_trip_in_priority_order() {
    let server = RedisServer::start();
    let f = frontier(&server, "round-trip", Limits::default()).await;
    let pushed = f
        .push(vec![
            get("http://a.example/1").meta("m1"),
            get("http://a.example/2").priority(5).meta("m2"),
            get("http://a.example/3").meta("m3"),
            get("http://a.example/4").priority(-1).meta("m4"),
        ])
        .await
        .unwrap();
    assert!(pushed.iter().all(|p| *p == Push::Added));

    let first = f.claim("w1", 1, Duration::ZERO, LONG).await.unwrap();
    let rest = f.claim("w1", 10, Duration::ZERO, LONG).await.unwrap();
    assert_eq!(urls(&first), ["http://a.example/2"]);
    assert_eq!(
        urls(&rest),
        [
            "http://a.example/1",
            "http://a.example/3",
            "http://a.example/4"
        ]
    );
    let claimed: Vec<Claimed> = first.into_iter().chain(rest).collect();
    assert!(claimed.iter().all(|c| c.deliveries == 1 && !c.reclaimed));
    let metas: Vec<&str> = claimed.iter().map(|c| c.entry.meta.as_str()).collect();
    assert_eq!(metas, ["m2", "m1", "m3", "m4"]);
    assert_eq!(claimed[0].entry.priority, 5);
    let counts = f.counts().await.unwrap();
    assert_eq!((counts.started, counts.pending, counts.queued), (4, 4, 0));
    assert!(!f.is_finished().await.unwrap());
    // Nothing left to take: empty at once with no block.
    assert!(
        f.claim("w1", 10, Duration::ZERO, LONG)
            .await
            .unwrap()
            .is_empty()
    );

    // A blocked claim wakes when a commit queues a follow-up.
    let waiter = {
        let f = f.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let got = f
                .claim("w2", 10, Duration::from_secs(5), LONG)
                .await
                .unwrap();
            (got, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let done = f
        .complete(
            &claimed[0],
            &[r#"{"n":2}"#.into(), r#"{"n":2.5}"#.into()],
            vec![
                get("http://a.example/1").depth(1),
                get("http://a.example/5").depth(1).meta("m5"),
            ],
            None,
        )
        .await
        .unwrap();
    assert!(!done.duplicate);
    assert_eq!(done.follows, [Push::Seen, Push::Added]);
    let (woken, waited) = waiter.await.unwrap();
    assert_eq!(urls(&woken), ["http://a.example/5"]);
    assert!(waited < Duration::from_secs(2), "woke after {waited:?}");
    assert_eq!(woken[0].entry.depth, 1);

    f.complete(&claimed[1], &item("one"), Vec::new(), None)
        .await
        .unwrap();
    f.complete(&claimed[2], &item("ignored"), Vec::new(), Some("HTTP 500"))
        .await
        .unwrap();
    f.complete(&claimed[3], &item("four"), Vec::new(), None)
        .await
        .unwrap();
    assert!(!f.is_finished().await.unwrap());

    // A claim blocked while the last page is in flight returns when it is
    // committed and the crawl is over.
    let waiter = {
        let f = f.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let got = f
                .claim("w3", 10, Duration::from_secs(5), LONG)
                .await
                .unwrap();
            (got, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    f.complete(&woken[0], &item("five"), Vec::new(), None)
        .await
        .unwrap();
    let (nothing, waited) = waiter.await.unwrap();
    assert!(nothing.is_empty());
    assert!(waited < Duration::from_secs(2), "woke after {waited:?}");

    assert_eq!(
        exported(&f).await,
        [
            r#"{"n":2}"#,
            r#"{"n":2.5}"#,
            r#"{"v":"one"}"#,
            r#"{"v":"four"}"#,
            r#"{"v":"five"}"#
        ]
    );
    let counts = f.counts().await.unwrap();
    assert_eq!(counts.seen, 5);
    assert_eq!(counts.started, 5);
    assert_eq!(counts.done, 5);
    assert_eq!(counts.failed, 1);
    assert_eq!(counts.items, 5);
    assert_eq!(
        (counts.queued, counts.pending, counts.duplicates),
        (0, 0, 0)
    );
    assert!(f.is_finished().await.unwrap());
    // Finished: a claim returns at once, whatever its block.
    let started = Instant::now();
    assert!(
        f.claim("w1", 10, Duration::from_secs(5), LONG)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn a_dead_consumers_pages_are_reclaimed_and_items_written_once() {
    let server = RedisServer::start();
    let a = frontier(&server, "reclaim", Limits::default()).await;
    let b = frontier(&server, "reclaim", Limits::default()).await;
    a.push(
        (1..=3)
            .map(|n| get(format!("http://a.example/{n}")))
            .collect(),
    )
    .await
    .unwrap();
    let reclaim_after = Duration::from_millis(150);
    let held = a
        .claim("a", 2, Duration::ZERO, reclaim_after)
        .await
        .unwrap();
    assert_eq!(urls(&held), ["http://a.example/1", "http://a.example/2"]);
    // Not idle long enough yet: b gets only the third page.
    let third = b
        .claim("b", 10, Duration::ZERO, reclaim_after)
        .await
        .unwrap();
    assert_eq!(urls(&third), ["http://a.example/3"]);
    b.complete(&third[0], &item("b3"), Vec::new(), None)
        .await
        .unwrap();
    assert!(!b.is_finished().await.unwrap(), "a's pages are pending");

    // "a" went silent: after reclaim_after, b takes its pages over (waiting
    // for them within its block).
    let started = Instant::now();
    let taken = b
        .claim("b", 10, Duration::from_secs(2), reclaim_after)
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(urls(&taken), urls(&held));
    assert_eq!(
        taken.iter().map(|c| &c.id).collect::<Vec<_>>(),
        held.iter().map(|c| &c.id).collect::<Vec<_>>()
    );
    assert!(taken.iter().all(|c| c.reclaimed && c.deliveries == 2));
    assert_eq!(
        a.counts().await.unwrap().started,
        3,
        "reclaims start nothing"
    );

    // Page 1: b commits, then a commits late: a duplicate.
    let first = b
        .complete(
            &taken[0],
            &item("b1"),
            vec![get("http://a.example/from-b").depth(1)],
            None,
        )
        .await
        .unwrap();
    assert!(!first.duplicate);
    let late = a
        .complete(
            &held[0],
            &item("a1"),
            vec![get("http://a.example/from-a").depth(1)],
            None,
        )
        .await
        .unwrap();
    assert!(late.duplicate);
    assert_eq!(late.follows, [Push::Seen]);
    // Page 2: a's late commit lands first and wins; b's is the duplicate.
    assert!(
        !a.complete(&held[1], &item("a2"), Vec::new(), None)
            .await
            .unwrap()
            .duplicate
    );
    assert!(
        b.complete(&taken[1], &item("b2"), Vec::new(), None)
            .await
            .unwrap()
            .duplicate
    );

    let follow = b
        .claim("b", 10, Duration::ZERO, reclaim_after)
        .await
        .unwrap();
    assert_eq!(urls(&follow), ["http://a.example/from-b"], "not from-a");
    b.complete(&follow[0], &[], Vec::new(), None).await.unwrap();

    assert_eq!(
        exported(&a).await,
        [r#"{"v":"b3"}"#, r#"{"v":"b1"}"#, r#"{"v":"a2"}"#]
    );
    let counts = a.counts().await.unwrap();
    assert_eq!((counts.done, counts.items, counts.duplicates), (4, 3, 2));
    assert_eq!((counts.pending, counts.queued), (0, 0));
    assert!(a.is_finished().await.unwrap());
}

/// Page `n` of a synthetic site of `PAGES` pages: links to its children
/// `2n+1` and `2n+2`, its parent and the home page (those two seen).
fn links(n: u64) -> Vec<Offer> {
    const PAGES: u64 = 2000;
    [2 * n + 1, 2 * n + 2, n / 2, 0]
        .into_iter()
        .filter(|&to| to < PAGES)
        .map(|to| get(format!("http://site.example/p/{to}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn three_consumers_drain_a_site_exactly_once() {
    let server = RedisServer::start();
    let seed = frontier(&server, "site", Limits::default()).await;
    seed.push(vec![get("http://site.example/p/0")])
        .await
        .unwrap();
    let workers: Vec<_> = (0..3)
        .map(|w| {
            let url = server.url();
            tokio::spawn(async move {
                let f = RedisFrontier::connect(&url, "site", Limits::default())
                    .await
                    .unwrap();
                let name = format!("worker-{w}");
                let mut committed = 0u64;
                loop {
                    let claimed = f
                        .claim(&name, 8, Duration::from_millis(100), LONG)
                        .await
                        .unwrap();
                    if claimed.is_empty() {
                        if f.is_finished().await.unwrap() {
                            return committed;
                        }
                        continue;
                    }
                    for page in claimed {
                        let n: u64 = page
                            .entry
                            .request
                            .url
                            .as_str()
                            .rsplit('/')
                            .next()
                            .unwrap()
                            .parse()
                            .unwrap();
                        let items = vec![format!("{{\"page\":{n},\"by\":{w}}}")];
                        let done = f.complete(&page, &items, links(n), None).await.unwrap();
                        assert!(!done.duplicate);
                        committed += 1;
                    }
                }
            })
        })
        .collect();
    let per_worker =
        tokio::time::timeout(Duration::from_secs(15), futures::future::join_all(workers))
            .await
            .expect("drained within 15 s");
    let per_worker: Vec<u64> = per_worker.into_iter().map(Result::unwrap).collect();
    assert_eq!(per_worker.iter().sum::<u64>(), 2000);
    assert!(
        per_worker.iter().all(|&n| n > 0),
        "every worker took part: {per_worker:?}"
    );

    let mut pages: BTreeMap<u64, u32> = BTreeMap::new();
    for line in exported(&seed).await {
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        *pages.entry(value["page"].as_u64().unwrap()).or_default() += 1;
    }
    assert_eq!(pages.len(), 2000, "none missing");
    assert!(pages.values().all(|&n| n == 1), "each page once");
    assert_eq!(pages.keys().next_back(), Some(&1999));
    let counts = seed.counts().await.unwrap();
    assert_eq!((counts.seen, counts.done, counts.items), (2000, 2000, 2000));
    assert_eq!(
        (counts.duplicates, counts.pending, counts.queued),
        (0, 0, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_slots_are_spaced_across_workers() {
    let server = RedisServer::start();
    let workers = [
        frontier(&server, "polite", Limits::default()).await,
        frontier(&server, "polite", Limits::default()).await,
        frontier(&server, "polite", Limits::default()).await,
    ];
    let interval = Duration::from_millis(20);
    let calls = (0..30).map(|i| {
        let f = workers[i % 3].clone();
        tokio::spawn(async move { f.reserve_host_slot("a.example", interval).await.unwrap() })
    });
    let mut slots = Vec::new();
    for call in calls {
        slots.push(call.await.unwrap());
    }
    let mut send_at: Vec<Duration> = slots.iter().map(|s| s.send_at).collect();
    send_at.sort_unstable();
    for pair in send_at.windows(2) {
        assert!(
            pair[1] - pair[0] >= interval,
            "sends {:?} apart",
            pair[1] - pair[0]
        );
    }
    let mut waits: Vec<Duration> = slots.iter().map(|s| s.wait).collect();
    waits.sort_unstable();
    assert!(
        waits[0] < Duration::from_millis(5),
        "the first goes at once"
    );
    assert!(waits[29] >= interval * 28, "the last waits for the others");
    assert!(waits[29] <= interval * 29 + Duration::from_millis(200));

    // Another host is not held up by a.example's queue.
    let other = workers[1]
        .reserve_host_slot("b.example", interval)
        .await
        .unwrap();
    assert!(other.wait < Duration::from_millis(5), "{other:?}");
    // After a pause longer than the interval, a host goes at once again.
    let third = workers[2]
        .reserve_host_slot("b.example", interval)
        .await
        .unwrap();
    assert!(third.wait > Duration::from_millis(10) && third.wait <= interval);
    tokio::time::sleep(interval * 2).await;
    let again = workers[0]
        .reserve_host_slot("b.example", interval)
        .await
        .unwrap();
    assert!(again.wait < Duration::from_millis(5), "{again:?}");
}

#[tokio::test]
async fn the_component_is_published_once_and_checked() {
    let server = RedisServer::start();
    let f = frontier(&server, "component", Limits::default()).await;
    let err = f.component().await.unwrap_err();
    assert!(matches!(err, Error::NoComponent { .. }), "{err}");
    assert!(err.to_string().contains("publish"));

    let wasm = b"\0asm\x01\0\0\0 a spider".to_vec();
    let hash = f.publish_component(&wasm).await.unwrap();
    assert_eq!(hash, blake3::hash(&wasm).to_hex().to_string());
    // Publishing the same again is fine; every worker gets it.
    assert_eq!(f.publish_component(&wasm).await.unwrap(), hash);
    let worker = frontier(&server, "component", Limits::default()).await;
    assert_eq!(
        worker.component().await.unwrap(),
        (hash.clone(), wasm.clone())
    );

    let err = worker
        .publish_component(b"\0asm another spider")
        .await
        .unwrap_err();
    match &err {
        Error::ComponentMismatch {
            published, crawl, ..
        } => assert_eq!((published, crawl.as_str()), (&hash, "component")),
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("already runs component"), "{err}");
    assert_eq!(f.component().await.unwrap().1, wasm, "still the first");

    // Bytes changed behind our back are detected.
    let client = redis::Client::open(server.url()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let bytes_key = format!("crawlbox:{{component}}:component:{hash}");
    let _: () = redis::cmd("SET")
        .arg(&bytes_key)
        .arg(b"\0asm evil".as_slice())
        .query_async(&mut raw)
        .await
        .unwrap();
    let err = worker.component().await.unwrap_err();
    match &err {
        Error::ComponentCorrupt {
            expected, found, ..
        } => {
            assert_eq!(expected, &hash);
            assert_eq!(found, &blake3::hash(b"\0asm evil").to_hex().to_string());
        }
        other => panic!("{other}"),
    }
    let _: () = redis::cmd("DEL")
        .arg(&bytes_key)
        .query_async(&mut raw)
        .await
        .unwrap();
    let err = worker.component().await.unwrap_err();
    assert!(
        matches!(&err, Error::ComponentCorrupt { found, .. } if found == "nothing"),
        "{err}"
    );
    // Publishing again repairs it.
    f.publish_component(&wasm).await.unwrap();
    assert_eq!(worker.component().await.unwrap().1, wasm);

    // Cleared, the crawl can start over with another component.
    assert!(f.clear().await.unwrap() >= 2);
    assert!(matches!(
        f.component().await.unwrap_err(),
        Error::NoComponent { .. }
    ));
    f.publish_component(b"\0asm another spider").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_pages_bounds_started_pages_across_consumers() {
    let server = RedisServer::start();
    let limits = Limits {
        max_pages: Some(5),
        max_depth: None,
    };
    let a = frontier(&server, "limited", limits).await;
    let b = frontier(&server, "limited", limits).await;
    a.push(
        (0..12)
            .map(|n| get(format!("http://a.example/{n}")))
            .collect(),
    )
    .await
    .unwrap();
    // Two consumers race for pages, 4 at a time: 5 in all.
    let (from_a, from_b) = tokio::join!(
        a.claim("a", 4, Duration::ZERO, LONG),
        b.claim("b", 4, Duration::ZERO, LONG)
    );
    let (from_a, from_b) = (from_a.unwrap(), from_b.unwrap());
    assert_eq!(from_a.len() + from_b.len(), 5, "{from_a:?} {from_b:?}");
    assert!(
        a.claim("a", 4, Duration::ZERO, LONG)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!a.is_finished().await.unwrap(), "five pages in flight");

    // Both "die" holding their pages: taking them over is within the limit.
    tokio::time::sleep(Duration::from_millis(60)).await;
    let reclaimed = a
        .claim("c", 10, Duration::ZERO, Duration::from_millis(50))
        .await
        .unwrap();
    assert_eq!(reclaimed.len(), 5);
    assert!(reclaimed.iter().all(|c| c.reclaimed));
    for page in &reclaimed {
        let done = a
            .complete(
                page,
                &item("x"),
                vec![get(format!("{}/next", page.entry.request.url)).depth(1)],
                None,
            )
            .await
            .unwrap();
        assert_eq!(done.follows, [Push::Added]);
    }
    let counts = a.counts().await.unwrap();
    assert_eq!((counts.started, counts.done, counts.items), (5, 5, 5));
    assert_eq!((counts.queued, counts.pending), (12, 0));
    assert!(a.is_finished().await.unwrap(), "the page limit is reached");
    assert!(b.is_finished().await.unwrap());
}

#[tokio::test]
async fn connect_errors_say_what_to_do() {
    // A port a server just left (dropping it kills it).
    let port = RedisServer::start().port();
    let url = format!("redis://127.0.0.1:{port}/");
    let started = Instant::now();
    let err = RedisFrontier::connect(&url, "c", Limits::default())
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(6));
    let message = err.to_string();
    assert!(matches!(err, Error::Connect { .. }), "{message}");
    assert!(
        message.starts_with(&format!("cannot reach Redis at {url}: ")),
        "{message}"
    );
    assert!(message.contains("is redis-server running"), "{message}");
    assert!(message.to_lowercase().contains("refused"), "{message}");

    let err = RedisFrontier::connect("redis://:secret@127.0.0.1:1/", "c", Limits::default())
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("secret"), "{err}");

    let err = RedisFrontier::connect("http://127.0.0.1/", "c", Limits::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BadUrl { .. }), "{err}");
    let err = RedisFrontier::connect(&url, "a}b", Limits::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BadCrawlName(_)), "{err}");
}

/// Every field of a request survives Redis: what a worker claims is what
/// was offered.
#[tokio::test]
async fn every_field_of_a_request_round_trips_through_redis() {
    let server = RedisServer::start();
    let f = frontier(&server, "fields", Limits::default()).await;
    let request = crawlbox_net::test_support::request_with_every_field();
    let offer = Offer::new(request.clone()).priority(3).depth(0).meta("m");
    assert_eq!(f.push(vec![offer]).await.unwrap(), [Push::Added]);
    let claimed = f
        .claim("w", 1, Duration::ZERO, Duration::from_secs(60))
        .await
        .unwrap();
    let [page] = claimed.as_slice() else {
        panic!("one page claimed: {claimed:?}")
    };
    assert_eq!(page.entry.request, request);
    assert_eq!(
        (
            page.entry.priority,
            page.entry.depth,
            page.entry.meta.as_str()
        ),
        (3, 0, "m")
    );
}

#[tokio::test]
async fn workers_adopt_the_limits_the_crawl_was_seeded_with() {
    let server = RedisServer::start();
    let seeded = Limits {
        max_pages: Some(100),
        max_depth: Some(3),
    };
    let seeder = frontier(&server, "limits", seeded).await;
    let mut worker = frontier(&server, "limits", Limits::default()).await;
    assert_eq!(worker.recorded_limits().await.unwrap(), None);
    assert_eq!(worker.adopt_limits().await.unwrap(), Limits::default());

    assert_eq!(seeder.record_limits().await.unwrap(), seeded);
    assert_eq!(worker.adopt_limits().await.unwrap(), seeded);
    assert_eq!(worker.limits(), seeded);
    // The first recorded limits win; "none" round-trips.
    let late = frontier(&server, "limits", Limits::default()).await;
    assert_eq!(late.record_limits().await.unwrap(), seeded);
    let open = frontier(&server, "open", Limits::default()).await;
    assert_eq!(open.record_limits().await.unwrap(), Limits::default());
    assert_eq!(
        open.recorded_limits().await.unwrap(),
        Some(Limits::default())
    );
    // Adopted limits apply: depth 4 is too deep now.
    let pushed = worker
        .push(vec![get("http://example.com/deep").depth(4)])
        .await
        .unwrap();
    assert_eq!(pushed, [Push::TooDeep]);
}
