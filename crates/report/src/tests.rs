//! The page, rendered from fixtures built here.

use std::collections::BTreeMap;

use crawlbox_net::traffic::{DURATION_BUCKETS, OTHER_HOSTS, STATUS_CLASSES, TIMELINE_BUCKETS};

use crate::svg::{Bucket, CLASSES};
use crate::*;

const HOSTILE: &str = "<script>alert(1)</script>\"'&";
const HOSTILE_ESCAPED: &str = "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;";

const SECTIONS: [&str; 10] = [
    "summary",
    "timeline",
    "latency",
    "statuses",
    "bytes",
    "connections",
    "politeness",
    "robots",
    "plugins",
    "crawl",
];

/// A distribution of `ms` (milliseconds), as a snapshot reads it.
fn dist(ms: &[f64]) -> Distribution {
    let mut v: Vec<f64> = ms.iter().map(|m| m / 1000.0).collect();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return Distribution {
            cumulative: vec![0; DURATION_BUCKETS.len()],
            ..Distribution::default()
        };
    }
    let q = |p: f64| v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    Distribution {
        count: v.len() as u64,
        // To the microsecond, as a snapshot has it (and JSON keeps it).
        sum: (v.iter().sum::<f64>() * 1e6).round() / 1e6,
        min: v[0],
        p50: q(0.5),
        p90: q(0.9),
        p99: q(0.99),
        max: v[v.len() - 1],
        cumulative: DURATION_BUCKETS
            .iter()
            .map(|b| v.iter().filter(|&&x| x <= b.as_secs_f64()).count() as u64)
            .collect(),
    }
}

/// `counts` (per status class) spread over `n` buckets, the `k`th
/// request of a class about `k / count` of the way.
fn spread(counts: Bucket, n: usize, offset: usize) -> Vec<Bucket> {
    let mut out = vec![[0; CLASSES]; n];
    for (class, &count) in counts.iter().enumerate() {
        for k in 0..count as usize {
            let at = (k * n / count as usize + offset + class * 3) % n;
            out[at][class] += 1;
        }
    }
    out
}

fn ms_range(n: usize, from: f64, step: f64, modulo: f64) -> Vec<f64> {
    (0..n).map(|i| from + (i as f64 * step) % modulo).collect()
}

fn fixture() -> Report {
    let buckets = 60;
    let mut a_latency = ms_range(113, 20.0, 37.0, 400.0);
    a_latency.extend([1200.0, 2500.0]);
    let a = HostSnapshot {
        host: "https://a.example:443".into(),
        requests: 117,
        statuses: BTreeMap::from([(200, 100), (301, 10), (404, 5)]),
        unanswered: 2,
        errors: BTreeMap::from([("timeout".into(), 2)]),
        bytes: 1_572_864,
        connections: 4,
        robots: RobotsDecisions {
            allowed: 117,
            disallowed: 3,
            failed: 0,
        },
        latency: dist(&a_latency),
        gaps: dist(&ms_range(116, 500.0, 53.0, 1000.0)),
        timeline: spread([100, 10, 5, 0, 2], buckets, 0),
    };
    let b = HostSnapshot {
        host: "http://b.example:80".into(),
        requests: 40,
        statuses: BTreeMap::from([(200, 30), (404, 2), (503, 8)]),
        unanswered: 0,
        errors: BTreeMap::new(),
        bytes: 204_800,
        connections: 2,
        robots: RobotsDecisions {
            allowed: 40,
            disallowed: 0,
            failed: 0,
        },
        latency: dist(&ms_range(40, 50.0, 71.0, 800.0)),
        gaps: dist(&ms_range(39, 100.0, 97.0, 900.0)),
        timeline: spread([30, 0, 2, 8, 0], buckets, 7),
    };
    let other = HostSnapshot {
        host: OTHER_HOSTS.into(),
        requests: 5,
        statuses: BTreeMap::from([(200, 5)]),
        bytes: 10_000,
        connections: 5,
        robots: RobotsDecisions {
            allowed: 5,
            disallowed: 0,
            failed: 0,
        },
        latency: dist(&[30.0, 40.0, 50.0, 60.0, 70.0]),
        gaps: dist(&[3.0, 5.0, 8.0, 13.0]),
        timeline: spread([5, 0, 0, 0, 0], buckets, 20),
        ..HostSnapshot::default()
    };
    Report {
        title: "crawlbox crawl example-spider".into(),
        generated_unix_seconds: 1_777_000_030.0,
        settings: Settings {
            concurrency: 16,
            per_host: 2,
            per_host_delay_seconds: 0.25,
            robots: true,
            autothrottle: false,
            retries: 2,
        },
        traffic: TrafficSnapshot {
            started_unix_seconds: 1_777_000_000.0,
            elapsed_seconds: 30.0,
            timeline_width_seconds: 0.5,
            hosts: vec![a, b, other],
        },
        plugins: vec![
            PluginRun {
                name: "example-spider".into(),
                outcome: "completed".into(),
                message: None,
                limits: BTreeMap::from([
                    ("cpu".into(), "10 s".into()),
                    ("memory".into(), "256 MiB".into()),
                    ("requests".into(), "1000".into()),
                ]),
                limits_hit: vec![],
                records: 42,
                elapsed_seconds: 29.5,
                requests: 150,
                responses: BTreeMap::from([(200, 130), (301, 10), (404, 7), (503, 1)]),
                errors: BTreeMap::from([("timeout".into(), 2)]),
                bytes: 1_700_000,
                latency_seconds: BTreeMap::from([("p50".into(), 0.08), ("p99".into(), 1.2)]),
            },
            PluginRun {
                name: "greedy-scraper".into(),
                outcome: "cpu-limit".into(),
                message: Some("fuel of 10000000000 spent after 10 s of CPU".into()),
                limits: BTreeMap::from([("cpu".into(), "10 s".into())]),
                limits_hit: vec!["cpu time of 10 s spent".into()],
                records: 3,
                elapsed_seconds: 10.2,
                requests: 12,
                responses: BTreeMap::from([(200, 11)]),
                errors: BTreeMap::from([("connect".into(), 1)]),
                bytes: 87_664,
                latency_seconds: BTreeMap::new(),
            },
        ],
        crawl: Some(CrawlFigures {
            pages: 150,
            failed_pages: 7,
            items: 42,
            queued: Some(12),
            done_in_all: Some(300),
            dropped_follows: BTreeMap::from([
                ("over_page_cap".into(), 3),
                ("queue_full".into(), 1),
            ]),
        }),
    }
}

/// The `data-value` of the figure `name`.
fn figure(doc: &str, name: &str) -> Option<String> {
    let key = format!("data-figure=\"{name}\" data-value=\"");
    let at = doc.find(&key)? + key.len();
    let end = doc[at..].find('"')?;
    Some(doc[at..at + end].to_owned())
}

/// The text of the figure `name`.
fn figure_text(doc: &str, name: &str) -> Option<String> {
    let key = format!("data-figure=\"{name}\" data-value=\"");
    let at = doc.find(&key)?;
    let start = at + doc[at..].find('>')? + 1;
    let end = doc[start..].find('<')?;
    Some(doc[start..start + end].to_owned())
}

/// The markup of the row that starts with `start`, to its `</tr>`.
fn row<'a>(doc: &'a str, start: &str) -> &'a str {
    let at = doc.find(start).expect("the row is there");
    let end = doc[at..].find("</tr>").expect("the row ends");
    &doc[at..at + end]
}

/// The row of host `host` in section `section`.
fn host_row<'a>(doc: &'a str, section: &str, host: &str) -> &'a str {
    let at = doc
        .find(&format!("<section id=\"{section}\""))
        .expect("the section is there");
    let section_doc = &doc[at..];
    let cell = format!("<td class=\"host\">{host}</td>");
    let cell_at = section_doc.find(&cell).expect("the host's row is there");
    let start = section_doc[..cell_at].rfind("<tr").expect("a row");
    let end = section_doc[cell_at..].find("</tr>").expect("the row ends");
    &section_doc[start..cell_at + end]
}

fn assert_no_nan(doc: &str) {
    assert!(!doc.contains("NaN"), "NaN in the page");
    assert!(!doc.contains("inf"), "inf in the page");
}

#[test]
fn every_section_is_there_in_order() {
    let doc = render(&fixture());
    assert!(doc.starts_with("<!DOCTYPE html>"));
    assert!(doc.ends_with("</html>\n"));
    assert!(doc.contains("<meta charset=\"utf-8\">"));
    assert!(doc.contains(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
    ));
    assert!(doc.contains("<title>crawlbox crawl example-spider</title>"));
    let mut last = 0;
    for id in SECTIONS {
        let tag = format!("<section id=\"{id}\"><h2>");
        assert_eq!(doc.matches(&tag).count(), 1, "{id}");
        let at = doc.find(&tag).expect("section");
        assert!(at > last, "{id} out of order");
        last = at;
    }
    assert_eq!(doc.matches("<section").count(), SECTIONS.len());
    assert_no_nan(&doc);
}

#[test]
fn the_figures_are_the_models_sums() {
    let report = fixture();
    let doc = render(&report);
    let hosts = &report.traffic.hosts;
    let requests: u64 = hosts.iter().map(|h| h.requests).sum();
    let responses: u64 = hosts.iter().flat_map(|h| h.statuses.values()).sum();
    let failures: u64 = hosts.iter().map(|h| h.unanswered).sum();
    let bytes: u64 = hosts.iter().map(|h| h.bytes).sum();
    let connections: u64 = hosts.iter().map(|h| h.connections).sum();
    let figures = [
        ("requests", requests),
        ("responses", responses),
        ("failures", failures),
        ("bytes", bytes),
        ("connections", connections),
        ("hosts", hosts.len() as u64),
        ("pages", 150),
        ("items", 42),
        ("queued", 12),
    ];
    for (name, value) in figures {
        assert_eq!(figure(&doc, name), Some(value.to_string()), "{name}");
        assert_eq!(doc.matches(&format!("data-figure=\"{name}\"")).count(), 1);
    }
    assert_eq!((requests, responses, failures), (162, 160, 2));
    assert_eq!(figure_text(&doc, "requests").as_deref(), Some("162"));
    assert_eq!(figure_text(&doc, "bytes").as_deref(), Some("1.7 MiB"));
    assert_eq!(figure_text(&doc, "seconds").as_deref(), Some("30.0 s"));
    let seconds: f64 = figure(&doc, "seconds")
        .expect("seconds")
        .parse()
        .expect("a number");
    assert_eq!(seconds, 30.0);
    let rate: f64 = figure(&doc, "rate")
        .expect("rate")
        .parse()
        .expect("a number");
    assert!((rate - 162.0 / 30.0).abs() < 1e-9, "{rate}");
    assert_eq!(figure_text(&doc, "rate").as_deref(), Some("5.40/s"));
    // The outcomes' line.
    assert!(doc.contains("<span class=\"badge ok\">1 completed</span>"));
    assert!(doc.contains("<span class=\"badge bad\">1 cpu-limit</span>"));
}

#[test]
fn without_a_crawl_there_is_no_crawl_section_nor_its_figures() {
    let mut report = fixture();
    report.crawl = None;
    let doc = render(&report);
    assert!(!doc.contains("id=\"crawl\""));
    for name in ["pages", "items", "queued"] {
        assert_eq!(figure(&doc, name), None, "{name}");
    }
    // Queued unknown: no figure either.
    let mut report = fixture();
    if let Some(c) = report.crawl.as_mut() {
        c.queued = None;
    }
    let doc = render(&report);
    assert_eq!(figure(&doc, "queued"), None);
    assert_eq!(figure(&doc, "pages").as_deref(), Some("150"));
}

#[test]
fn each_plugin_has_its_row() {
    let doc = render(&fixture());
    let done = row(&doc, "<tr data-plugin=\"example-spider\"");
    assert!(done.contains("class=\"ok\""), "{done}");
    assert!(done.contains("<td data-field=\"outcome\"><span class=\"badge ok\">completed</span>"));
    assert!(done.contains("data-field=\"records\" data-value=\"42\">42<"));
    assert!(done.contains("data-field=\"requests\" data-value=\"150\">150<"));
    assert!(done.contains("data-field=\"errors\" data-value=\"2\">2<"));
    assert!(done.contains("data-field=\"elapsed\" data-value=\"29.5\">29.50 s<"));
    assert!(done.contains("data-field=\"limits\"><span>cpu <b>10 s</b></span>"));
    assert!(done.contains("data-field=\"limits_hit\">none</td>"));

    let greedy = row(&doc, "<tr data-plugin=\"greedy-scraper\"");
    assert!(greedy.contains("class=\"bad\""), "{greedy}");
    assert!(greedy.contains("<span class=\"badge bad\">cpu-limit</span>"));
    assert!(greedy.contains("cpu time of 10 s spent"));
    assert!(greedy.contains("data-field=\"errors\" data-value=\"1\""));
    // The message, under the row.
    let at = doc.find("<tr data-plugin=\"greedy-scraper\"").expect("row");
    let message = doc[at..]
        .find("fuel of 10000000000 spent after 10 s of CPU")
        .expect("the message");
    let next_row = doc[at + 1..].find("<tr data-plugin").unwrap_or(usize::MAX);
    assert!(message < next_row);
    assert_eq!(doc.matches("<tr data-plugin=").count(), 2);
}

#[test]
fn politeness_flags_a_gap_below_the_delay() {
    let doc = render(&fixture());
    let a = host_row(&doc, "politeness", "https://a.example:443");
    assert!(a.contains(">held<"), "{a}");
    assert!(!a.contains("warn"), "{a}");
    let b = host_row(&doc, "politeness", "http://b.example:80");
    assert!(b.starts_with("<tr class=\"warn\">"), "{b}");
    assert!(b.contains(">below the delay<"), "{b}");
    assert!(b.contains(">100 ms<"), "the smallest gap: {b}");
    assert!(doc.contains("1 of 2 hosts</span> went below the configured delay of <b>250 ms</b>"));

    let mut report = fixture();
    report.settings.per_host_delay_seconds = 0.0;
    let doc = render(&report);
    let b = host_row(&doc, "politeness", "http://b.example:80");
    assert!(b.contains(">no delay configured<"), "{b}");
    assert!(!doc.contains(">below the delay<"));
}

#[test]
fn robots_off_is_said() {
    let doc = render(&fixture());
    assert!(doc.contains("robots.txt was obeyed"));
    let a = host_row(&doc, "robots", "https://a.example:443");
    assert!(
        a.contains("<td class=\"n\">117</td><td class=\"n\">3</td><td class=\"n\">0</td>"),
        "{a}"
    );
    let mut report = fixture();
    report.settings.robots = false;
    let doc = render(&report);
    assert!(doc.contains("robots.txt was not obeyed (off)"));
}

#[test]
fn statuses_latency_bytes_and_connections_are_tabled() {
    let doc = render(&fixture());
    // Status codes, overall.
    assert!(doc.contains("<tr><td class=\"n\">200</td><td><span class=\"sw k0\"></span>2xx</td><td class=\"n\">135</td><td class=\"n\">84.4%</td></tr>"));
    assert!(doc.contains("<tr><td class=\"n\">503</td><td><span class=\"sw k3\"></span>5xx</td><td class=\"n\">8</td>"));
    assert!(doc.contains("<tr><td class=\"kind\">timeout</td><td class=\"n\">2</td>"));
    // The histogram's labels.
    for label in [
        ">1ms<",
        ">2ms<",
        ">512ms<",
        ">1.0s<",
        ">65.5s<",
        ">&gt; 65.5s<",
    ] {
        assert!(doc.contains(label), "{label}");
    }
    let a = host_row(&doc, "latency", "https://a.example:443");
    assert!(
        a.contains("<td class=\"n\">115</td><td class=\"n\">20.0 ms</td>"),
        "{a}"
    );
    assert!(a.contains("<svg class=\"spark\""));
    let a = host_row(&doc, "bytes", "https://a.example:443");
    assert!(a.contains(">1.5 MiB<"), "{a}");
    let b = host_row(&doc, "connections", "http://b.example:80");
    assert!(
        b.contains("<td class=\"n\">2</td><td class=\"n\">40</td><td class=\"n\">20.0</td>"),
        "{b}"
    );
    // One small timeline per host.
    assert_eq!(doc.matches("<svg class=\"chart mini\"").count(), 3);
    for class in STATUS_CLASSES {
        assert!(doc.contains(&format!("</span>{class} <b>")), "{class}");
    }
}

#[test]
fn latency_buckets_are_not_cumulative() {
    let d = dist(&[0.5, 1.5, 1.7, 3.0, 70_000.0]);
    let b = sections::latency_buckets(&d);
    assert_eq!(b[0], 1);
    assert_eq!(b[1], 2);
    assert_eq!(b[2], 1);
    assert_eq!(b[17], 1);
    assert_eq!(b.iter().sum::<u64>(), 5);
    assert_eq!(sections::latency_buckets(&Distribution::default()), [0; 18]);
}

#[test]
fn hostile_strings_appear_only_escaped() {
    let mut report = fixture();
    report.title = HOSTILE.into();
    report.traffic.hosts[0].host = HOSTILE.into();
    report.traffic.hosts[0].errors.insert(HOSTILE.into(), 1);
    report.traffic.hosts[1].statuses.insert(999, 1);
    report.plugins[1].name = HOSTILE.into();
    report.plugins[1].outcome = HOSTILE.into();
    report.plugins[1].message = Some(HOSTILE.into());
    report.plugins[1]
        .limits
        .insert(HOSTILE.into(), HOSTILE.into());
    report.plugins[1].limits_hit.push(HOSTILE.into());
    if let Some(c) = report.crawl.as_mut() {
        c.dropped_follows.insert(HOSTILE.into(), 1);
    }
    let doc = render(&report);
    assert!(!doc.contains(HOSTILE));
    assert!(!doc.to_ascii_lowercase().contains("<script"));
    assert!(!doc.contains("alert(1)<"));
    assert!(doc.contains(&format!("<title>{HOSTILE_ESCAPED}</title>")));
    assert!(doc.contains(&format!("<tr data-plugin=\"{HOSTILE_ESCAPED}\"")));
    assert!(doc.contains(&format!("<td class=\"host\">{HOSTILE_ESCAPED}</td>")));
    assert!(doc.contains(&format!("title=\"{HOSTILE_ESCAPED}\"")));
    // Every occurrence of its words is an escaped one.
    assert_eq!(
        doc.matches("alert(1)").count(),
        doc.matches("&lt;script&gt;alert(1)&lt;/script&gt;").count()
    );
    assert!(doc.matches(HOSTILE_ESCAPED).count() >= 10);
    assert_no_nan(&doc);
}

#[test]
fn a_huge_message_is_cut() {
    let mut report = fixture();
    report.plugins[1].message = Some("x".repeat(1_000_000));
    let doc = render(&report);
    assert!(doc.len() < 200_000, "{}", doc.len());
    assert!(doc.contains("more characters)"));
}

#[test]
fn nothing_is_loaded_from_anywhere() {
    let report = fixture();
    let mut doc = render(&report);
    for needle in [
        "src=",
        "href=",
        "url(",
        "@import",
        "<script",
        "<img",
        "<link",
        "<iframe",
        "<object",
        "<embed",
        "xlink",
        "javascript:",
        "onload",
        "srcset",
    ] {
        assert!(!doc.contains(needle), "{needle}");
    }
    // URLs come only from host names (escaped).
    for h in &report.traffic.hosts {
        doc = doc.replace(&h.host, "");
    }
    assert!(!doc.contains("http://"));
    assert!(!doc.contains("https://"));
    assert!(!doc.contains("//"), "no protocol-relative URL either");
}

#[test]
fn an_empty_report_renders() {
    let doc = render(&Report::default());
    assert_no_nan(&doc);
    for id in &SECTIONS[..SECTIONS.len() - 1] {
        assert!(doc.contains(&format!("<section id=\"{id}\">")), "{id}");
    }
    assert!(!doc.contains("id=\"crawl\""));
    for name in [
        "requests",
        "responses",
        "failures",
        "bytes",
        "connections",
        "hosts",
    ] {
        assert_eq!(figure(&doc, name).as_deref(), Some("0"), "{name}");
    }
    assert_eq!(figure(&doc, "seconds").as_deref(), Some("0"));
    assert_eq!(figure(&doc, "rate").as_deref(), Some("0"));
    assert!(doc.contains("<title>crawlbox report</title>"));
    assert!(doc.contains("No request was sent."));
    assert!(doc.contains("robots.txt was not obeyed (off)"));
}

#[test]
fn hosts_without_traffic_and_broken_numbers_render() {
    let mut report = fixture();
    report.traffic.elapsed_seconds = f64::NAN;
    report.traffic.timeline_width_seconds = f64::INFINITY;
    report.traffic.hosts.push(HostSnapshot {
        host: "http://idle.example:80".into(),
        ..HostSnapshot::default()
    });
    let d = &mut report.traffic.hosts[0].latency;
    d.p50 = f64::NAN;
    d.sum = f64::INFINITY;
    report.traffic.hosts[1].gaps.min = f64::NEG_INFINITY;
    report.settings.per_host_delay_seconds = f64::NAN;
    report.plugins[0].elapsed_seconds = f64::NAN;
    report.generated_unix_seconds = f64::NAN;
    let doc = render(&report);
    assert_no_nan(&doc);
    assert_eq!(figure(&doc, "seconds").as_deref(), Some("0"));
    assert_eq!(figure(&doc, "rate").as_deref(), Some("0"));
    assert_eq!(figure(&doc, "hosts").as_deref(), Some("4"));
    // Every host, all requests in one bucket, or none at all.
    let mut report = fixture();
    report.traffic.timeline_width_seconds = 0.0;
    for h in &mut report.traffic.hosts {
        h.timeline = vec![[3, 0, 0, 0, 1]];
    }
    assert_no_nan(&render(&report));
    let mut report = fixture();
    for h in &mut report.traffic.hosts {
        h.timeline.clear();
    }
    let doc = render(&report);
    assert_no_nan(&doc);
    assert!(doc.contains("No request was recorded over time."));
}

/// A snapshot as big as the client makes one: 50 hosts and the others,
/// 240 buckets each, every status class busy.
fn big() -> Report {
    let mut report = fixture();
    report.traffic.timeline_width_seconds = 5.12;
    report.traffic.elapsed_seconds = 5.12 * TIMELINE_BUCKETS as f64;
    let template = report.traffic.hosts[0].clone();
    report.traffic.hosts = (0..51)
        .map(|i| {
            let mut h = template.clone();
            h.host = if i == 50 {
                OTHER_HOSTS.into()
            } else {
                format!("https://host-number-{i}.some-long-domain-name.example:443")
            };
            h.requests = 10_000 + i;
            h.timeline = (0..TIMELINE_BUCKETS as u64)
                .map(|b| [b * 7 % 13 + i, b % 5, b % 3, b % 7, b % 2 + 1])
                .collect();
            h
        })
        .collect();
    report.plugins = (0..10)
        .map(|i| PluginRun {
            name: format!("plugin-{i}"),
            ..report.plugins[1].clone()
        })
        .collect();
    report
}

#[test]
fn a_big_report_stays_small() {
    let doc = render(&big());
    assert!(doc.len() < 1_000_000, "{} bytes", doc.len());
    assert!(doc.len() < 1_500_000);
    assert_eq!(doc.matches("<svg class=\"chart mini\"").count(), 12);
    assert!(doc.contains("39 more hosts not shown"));
    assert_no_nan(&doc);
}

#[test]
fn a_longer_timeline_is_folded() {
    let mut report = fixture();
    for h in &mut report.traffic.hosts {
        h.timeline = vec![[1, 1, 1, 1, 1]; 10 * TIMELINE_BUCKETS];
    }
    let doc = render(&report);
    assert!(doc.len() < 400_000, "{}", doc.len());
    // 2,400 buckets of 0.5 s drawn as 80 bars: thirty merged into each.
    assert!(doc.contains("in steps of 15.00 s"), "steps");
}

#[test]
fn a_report_roundtrips_through_json() {
    let report = fixture();
    let json = serde_json::to_string(&report).expect("serialises");
    let back: Report = serde_json::from_str(&json).expect("deserialises");
    assert_eq!(back, report);
    assert_eq!(render(&back), render(&report));
    let empty: Report =
        serde_json::from_str(&serde_json::to_string(&Report::default()).expect("serialises"))
            .expect("deserialises");
    assert_eq!(empty, Report::default());
}

#[test]
fn a_sample_is_written() {
    let path = std::env::temp_dir().join("report-sample.html");
    std::fs::write(&path, render(&fixture())).expect("writes the sample");
    let big_path = std::env::temp_dir().join("report-sample-big.html");
    std::fs::write(&big_path, render(&big())).expect("writes the big sample");
    let empty_path = std::env::temp_dir().join("report-sample-empty.html");
    std::fs::write(&empty_path, render(&Report::default())).expect("writes the empty sample");
}
