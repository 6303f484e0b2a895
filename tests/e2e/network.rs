//! Scraping-grade networking, end to end: HTTP/2 over TLS (ALPN, a private
//! CA) and without (h2c), politeness between plugins, retries.

use std::time::Duration;

use crawlbox_demo_site::{Site, SiteConfig};
use crawlbox_guest_artifacts::EXAMPLE_CRAWLER;

use crate::support::{crawl_input, crawlbox, grant, site, tempfile};

#[test]
fn https_with_a_private_ca_speaks_http2_over_one_connection() {
    let (site, ca) = Site::start_tls(SiteConfig {
        pages: 100,
        page_delay: Duration::from_millis(2),
        ..SiteConfig::default()
    })
    .unwrap();
    let base = format!("https://127.0.0.1:{}", site.addr().port());
    let input =
        serde_json::json!({ "start": [format!("{base}/page/0")], "max_pages": 40, "batch": 16 })
            .to_string();
    let ca_file = tempfile("ca.pem");
    std::fs::write(&ca_file, ca).unwrap();
    let grant = ["--allow-host", &base, "--allow-network", "127.0.0.1"];

    // Without the CA, the certificate is refused: a tls error, no page.
    let mut args = vec!["run", EXAMPLE_CRAWLER, "--input", &input];
    args.extend(grant);
    let run = crawlbox(&args);
    // Nothing fetched: exit 3, the summary says why.
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("(tls: "), "{}", run.stderr);
    assert_eq!(run.records.len(), 1);
    assert_eq!(run.records[0]["error"], "tls", "{}", run.records[0]);
    assert_eq!(site.counters().requests(), 0);

    // With it: every page, all over HTTP/2, multiplexed on one connection.
    args.extend(["--ca-cert", ca_file.to_str().unwrap()]);
    let run = crawlbox(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.records.len(), 40, "{}", run.stderr);
    assert!(run.records.iter().all(|r| r["status"] == 200));
    assert_eq!(site.counters().requests(), 40);
    assert_eq!(site.counters().http2_requests(), 40);
    // The refused handshake above, then one connection.
    assert_eq!(site.counters().connections(), 2);
}

#[test]
fn h2c_by_prior_knowledge_is_opt_in_per_host() {
    let site = site(100, Duration::from_millis(2));
    let authority = format!("127.0.0.1:{}", site.addr().port());
    let grant = grant(&site);
    let mut args = vec!["run", EXAMPLE_CRAWLER, "--input"];
    let input = crawl_input(&site, 40, 16);
    args.push(&input);
    args.extend(grant.iter().map(String::as_str));
    args.extend(["--h2c", &authority, "--concurrency", "8"]);
    let run = crawlbox(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.records.len(), 40);
    assert_eq!(site.counters().http2_requests(), 40);
    assert_eq!(site.counters().connections(), 1);
    // Streams on that one connection still count against the cap.
    assert!(site.counters().peak_in_flight() <= 8);
}

#[test]
fn politeness_holds_across_plugins_on_one_host() {
    let site = site(100, Duration::ZERO);
    let grant = grant(&site);
    let input = crawl_input(&site, 10, 10);
    // Two crawlers of the same host, each asking for 10 pages at once.
    let mut args = vec!["run", EXAMPLE_CRAWLER, EXAMPLE_CRAWLER, "--input", &input];
    args.extend(grant.iter().map(String::as_str));
    args.extend(["--per-host-delay", "40ms"]);
    let run = crawlbox(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.records.len(), 20);
    let arrivals = site.counters().arrivals();
    assert_eq!(arrivals.len(), 20);
    // The server stamps each arrival when its thread gets to it: on a
    // loaded machine one stamp can come late and make the next gap look
    // short, though the host sent them 40 ms apart. So: no gap near zero
    // (two requests at once), and the whole run spaced out as the delay says.
    for pair in arrivals.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(15),
            "two requests {gap:?} apart"
        );
    }
    let span = arrivals[arrivals.len() - 1] - arrivals[0];
    assert!(
        span >= Duration::from_millis(19 * 38),
        "20 requests over {span:?}"
    );
}

#[test]
fn retries_show_in_the_response_and_the_stats() {
    let site = site(10, Duration::ZERO);
    let grant = grant(&site);
    let input = serde_json::json!({ "urls": [site.url("/flaky/2?key=e2e")] }).to_string();
    let mut args = vec![
        "run",
        crawlbox_guest_artifacts::HOSTILE_PROBE,
        "--input",
        &input,
    ];
    args.extend(grant.iter().map(String::as_str));
    let run = crawlbox(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // fetch retried twice and got the 200; wasi:http (no retries) then got it at once.
    assert_eq!(run.records[1]["status"], 200, "{:?}", run.records);
    assert!(
        run.stderr.contains("retries            2"),
        "{}",
        run.stderr
    );
    assert_eq!(site.counters().requests(), 4);
}

#[test]
fn robots_txt_is_obeyed_by_default_and_ignored_on_request() {
    let site = Site::start(SiteConfig {
        pages: 100,
        robots_txt: Some("User-agent: crawlbox\nDisallow: /page/1\n"),
        ..SiteConfig::default()
    })
    .unwrap();
    let grant = grant(&site);
    let input = crawl_input(&site, 100, 16);
    let mut args = vec!["run", EXAMPLE_CRAWLER, "--input", &input];
    args.extend(grant.iter().map(String::as_str));
    let run = crawlbox(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // /page/1 and /page/10 to /page/19 are disallowed: the plugin gets a
    // denied-by-robots error for each it tried, and the server sees none.
    let denied: Vec<_> = run
        .records
        .iter()
        .filter(|r| r["error"] == "denied-by-robots")
        .collect();
    assert_eq!(denied.len(), 11, "{:?}", run.records);
    assert_eq!(site.counters().requests_for("/page/1"), 0);
    assert_eq!(site.counters().requests_for("/page/15"), 0);
    assert_eq!(site.counters().requests_for("/robots.txt"), 1);
    assert_eq!(site.counters().requests(), 89);

    args.push("--ignore-robots");
    let run = crawlbox(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.records.iter().all(|r| r["status"] == 200));
    assert_eq!(site.counters().requests_for("/page/1"), 1);
    assert_eq!(
        site.counters().requests_for("/robots.txt"),
        1,
        "not fetched again"
    );
}
