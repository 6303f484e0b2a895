//! Hostile sites, and a plugin hogging a site's politeness turns, against
//! well-behaved crawlers: the host survives (no panic, its summary
//! printed), records are kept, and the well-behaved plugin is not held up.

use std::time::Duration;

use crawlbox_demo_site::{Site, SiteConfig};
use crawlbox_guest_artifacts as guests;
use serde_json::json;

use crate::support::{crawlbox, grant, tempfile};

/// The outcome and elapsed time in plugin `name`'s summary line,
/// `crawlbox: NAME OUTCOME in 1.23s`.
fn summary_of(stderr: &str, name: &str) -> Option<(String, Duration)> {
    stderr.lines().find_map(|line| {
        let rest = line.strip_prefix(&format!("crawlbox: {name} "))?;
        let (outcome, secs) = rest.split_once(" in ")?;
        let secs: f64 = secs.strip_suffix('s')?.parse().ok()?;
        Some((outcome.to_owned(), Duration::from_secs_f64(secs)))
    })
}

/// A robots.txt with `Crawl-delay: 1e30` used to panic the host (exit 101,
/// no summary, every plugin lost): `Duration::from_secs_f32(1e30)`
/// overflows. Now the delay is capped at 30 s: the first page is fetched at
/// once, the second would wait 30 s for its turn, so the run ends at its
/// 3 s time limit, with the first page's record kept and the summary
/// printed.
#[test]
fn a_crawl_delay_of_1e30_is_capped_and_the_host_survives() {
    let site = Site::start(SiteConfig {
        robots_txt: Some("User-agent: *\nCrawl-delay: 1e30\n"),
        ..SiteConfig::default()
    })
    .unwrap();
    let input = json!({ "start": [site.url("/page/0")], "max_pages": 2 }).to_string();
    let grant = grant(&site);
    let mut args = vec![
        "run",
        guests::EXAMPLE_CRAWLER,
        "--input",
        &input,
        "--time-limit",
        "3s",
    ];
    args.extend(grant.iter().map(String::as_str));
    let run = crawlbox(&args);
    assert_ne!(run.code, 101, "{}", run.stderr);
    let (outcome, elapsed) = summary_of(&run.stderr, "example-crawler")
        .unwrap_or_else(|| panic!("no summary:\n{}", run.stderr));
    assert_eq!(outcome, "wall-limit", "{}", run.stderr);
    assert!(elapsed < Duration::from_secs(10), "{}", run.stderr);
    assert_eq!(run.records.len(), 1, "{:?}", run.records);
    assert_eq!(run.records[0]["url"], site.url("/page/0"));
    assert_eq!(run.records[0]["status"], 200);
    assert!(
        run.stderr.contains("records            1"),
        "{}",
        run.stderr
    );
    let counters = site.counters();
    assert_eq!(counters.requests_for("/robots.txt"), 1);
    assert_eq!(counters.requests_for("/page/0"), 1);
    assert_eq!(
        counters.requests_for("/page/1"),
        0,
        "the crawl delay was not applied"
    );
}

/// Two example crawlers in one process on one site with a per-host delay
/// of 10 ms: "hog" queues 1,600 pages (16 s of turns), "good" wants 50.
/// Turns are shared between plugins in turn, so good takes every other
/// one: its 50 pages take about 100 turns (1 s), not a place behind the
/// hog's 1,600. (First come, first served, good's requests each waited
/// behind the hog's 64 in flight.) The hog is stopped by its 5 s time
/// limit, its records so far kept.
#[test]
fn a_plugin_queueing_1600_requests_does_not_hold_up_another_on_the_same_host() {
    const DELAY_MS: u64 = 10;
    const GOOD_PAGES: usize = 50;
    let site = Site::start(SiteConfig {
        pages: 2000,
        ..SiteConfig::default()
    })
    .unwrap();
    let dir = tempfile("fair-turns");
    std::fs::create_dir_all(&dir).unwrap();
    let network = format!(
        "[network]\nallowed_hosts = [\"{}\"]\nallowed_networks = [\"127.0.0.1\"]\n",
        site.base_url()
    );
    std::fs::write(dir.join("good.toml"), format!("name = \"good\"\n{network}")).unwrap();
    std::fs::write(
        dir.join("hog.toml"),
        format!("name = \"hog\"\n{network}[limits]\nwall_time = \"5s\"\n"),
    )
    .unwrap();
    let hog_start: Vec<String> = (0..1600).map(|i| site.url(&format!("/page/{i}"))).collect();
    let hog_input = json!({ "start": hog_start, "max_pages": 1600, "batch": 64 });
    let good_input = json!({ "start": [site.url("/page/0")], "max_pages": GOOD_PAGES });
    // The hog first: its 1,600 requests are queued before good's first.
    let jobs = format!(
        "[[job]]\nplugin = {plugin:?}\nmanifest = \"hog.toml\"\ninput_json = '{hog_input}'\n\n\
         [[job]]\nplugin = {plugin:?}\nmanifest = \"good.toml\"\ninput_json = '{good_input}'\n",
        plugin = guests::EXAMPLE_CRAWLER
    );
    let jobs_file = dir.join("jobs.toml");
    std::fs::write(&jobs_file, jobs).unwrap();
    let delay = format!("{DELAY_MS}ms");
    let run = crawlbox(&[
        "run",
        "--jobs",
        jobs_file.to_str().unwrap(),
        "--per-host-delay",
        &delay,
    ]);
    assert_ne!(run.code, 101, "{}", run.stderr);

    // Good got all its pages, well within 3× its time alone plus slack...
    let good = run.records_of("good");
    assert_eq!(good.len(), GOOD_PAGES, "{}", run.stderr);
    assert!(good.iter().all(|r| r["status"] == 200), "{good:?}");
    let (outcome, elapsed) = summary_of(&run.stderr, "good")
        .unwrap_or_else(|| panic!("no summary for good:\n{}", run.stderr));
    assert_eq!(outcome, "completed", "{}", run.stderr);
    let alone = Duration::from_millis(DELAY_MS) * GOOD_PAGES as u32;
    assert!(
        elapsed < alone * 3 + Duration::from_millis(2500),
        "good took {elapsed:?} (alone: {alone:?}):\n{}",
        run.stderr
    );

    // ...and the hog was served meanwhile (every other turn, then all of
    // them) until its time limit, its records kept.
    let (outcome, _) = summary_of(&run.stderr, "hog")
        .unwrap_or_else(|| panic!("no summary for hog:\n{}", run.stderr));
    assert_eq!(outcome, "wall-limit", "{}", run.stderr);
    let hog = run.records_of("hog");
    assert!(
        (GOOD_PAGES..1600).contains(&hog.len()),
        "the hog kept {} records",
        hog.len()
    );
    // The delay held for both together: one request per 10 ms. (Sends are
    // spaced by the client; arrivals, measured at the server, may bunch a
    // little on a busy machine, hence the allowance.)
    let arrivals = site.counters().arrivals();
    let close = arrivals
        .windows(2)
        .filter(|pair| pair[1] - pair[0] < Duration::from_millis(DELAY_MS / 2))
        .count();
    assert!(
        close <= arrivals.len() / 50,
        "{close} of {} requests came less than half the delay apart",
        arrivals.len()
    );
    eprintln!(
        "good: {elapsed:?} for {GOOD_PAGES} pages; hog: {} pages",
        hog.len()
    );
}
