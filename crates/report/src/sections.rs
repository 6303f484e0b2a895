//! The page's sections, in their order. Every string of the model goes
//! through [`Esc`] (and the long ones through [`clip`]).

use std::collections::BTreeMap;
use std::iter;

use crawlbox_net::traffic::{
    DURATION_BUCKETS, Distribution, HostSnapshot, OTHER_HOSTS, STATUS_CLASSES, TIMELINE_BUCKETS,
};

use crate::format::{Esc, bytes, clip, dur, finite, int, pct, rate, ratio, raw, span};
use crate::svg::{self, Bucket, CLASSES};
use crate::{CrawlFigures, Report};

/// Characters shown of a name, a kind or a limit at most.
const MAX_TEXT: usize = 300;
/// Characters shown of a plugin's message at most.
const MAX_MESSAGE: usize = 4000;
/// Hosts with a small timeline of their own.
const MINI_HOSTS: usize = 12;
/// Latency buckets: one per bound, and one past the last.
const LATENCY_BUCKETS: usize = DURATION_BUCKETS.len() + 1;
/// The histograms' precision: a gap this much below the delay may be a
/// rounding, not a breach.
const GAP_TOLERANCE: f64 = 0.01;

/// The figures summed over hosts.
#[derive(Debug)]
pub(crate) struct Totals {
    pub(crate) requests: u64,
    pub(crate) responses: u64,
    pub(crate) failures: u64,
    pub(crate) bytes: u64,
    pub(crate) connections: u64,
    pub(crate) hosts: usize,
    pub(crate) elapsed: f64,
    pub(crate) rate: f64,
    pub(crate) statuses: BTreeMap<u16, u64>,
    pub(crate) errors: BTreeMap<String, u64>,
    /// Responses by status class, and failures last.
    pub(crate) classes: Bucket,
}

fn sum(values: impl IntoIterator<Item = u64>) -> u64 {
    values.into_iter().fold(0, u64::saturating_add)
}

fn add(into: &mut Bucket, from: &Bucket) {
    for (a, b) in into.iter_mut().zip(from) {
        *a = a.saturating_add(*b);
    }
}

impl Totals {
    pub(crate) fn of(report: &Report) -> Self {
        let hosts = &report.traffic.hosts;
        let requests = sum(hosts.iter().map(|h| h.requests));
        let elapsed = finite(report.traffic.elapsed_seconds).max(0.0);
        let mut statuses = BTreeMap::new();
        let mut errors = BTreeMap::new();
        let mut classes = [0; CLASSES];
        for h in hosts {
            for (&code, &n) in &h.statuses {
                let e: &mut u64 = statuses.entry(code).or_default();
                *e = e.saturating_add(n);
            }
            for (kind, &n) in &h.errors {
                let e: &mut u64 = errors.entry(kind.clone()).or_default();
                *e = e.saturating_add(n);
            }
            add(&mut classes, &host_classes(h));
        }
        Self {
            requests,
            responses: sum(statuses.values().copied()),
            failures: sum(hosts.iter().map(|h| h.unanswered)),
            bytes: sum(hosts.iter().map(|h| h.bytes)),
            connections: sum(hosts.iter().map(|h| h.connections)),
            hosts: hosts.len(),
            elapsed,
            rate: ratio(requests as f64, elapsed),
            statuses,
            errors,
            classes,
        }
    }
}

/// The status class of a code, as the timeline counts it.
fn class_of(code: u16) -> usize {
    match code {
        0..300 => 0,
        300..400 => 1,
        400..500 => 2,
        _ => 3,
    }
}

/// A host's responses by status class, and its failures last.
fn host_classes(h: &HostSnapshot) -> Bucket {
    let mut out: Bucket = [0; CLASSES];
    for (&code, &n) in &h.statuses {
        let c = &mut out[class_of(code)];
        *c = c.saturating_add(n);
    }
    out[CLASSES - 1] = h.unanswered;
    out
}

fn responses(h: &HostSnapshot) -> u64 {
    sum(h.statuses.values().copied())
}

fn open(out: &mut String, id: &str, title: &str) {
    put!(out, r#"<section id="{id}"><h2>{title}</h2>"#);
}

fn close(out: &mut String) {
    out.push_str("</section>\n");
}

fn host_name(h: &HostSnapshot) -> String {
    Esc(&clip(&h.host, MAX_TEXT)).to_string()
}

fn host_cell(out: &mut String, h: &HostSnapshot) {
    let other = if h.host == OTHER_HOSTS { " other" } else { "" };
    put!(out, r#"<td class="host{other}">{}</td>"#, host_name(h));
}

/// A numeric cell.
fn num(out: &mut String, text: &str) {
    put!(out, r#"<td class="n">{}</td>"#, Esc(text));
}

fn empty(out: &mut String, text: &str) {
    put!(out, r#"<p class="empty">{text}</p>"#);
}

fn legend(out: &mut String, counts: Option<&Bucket>) {
    out.push_str(r#"<ul class="legend">"#);
    for (c, name) in STATUS_CLASSES.iter().enumerate() {
        put!(out, r#"<li><span class="sw k{c}"></span>{name}"#);
        if let Some(counts) = counts {
            put!(out, " <b>{}</b>", int(counts[c]));
        }
        out.push_str("</li>");
    }
    out.push_str("</ul>");
}

/// A summary figure: `data-figure` names it, `data-value` holds it raw
/// and the text is for people.
fn figure(out: &mut String, name: &str, value: &str, text: &str, label: &str, tone: &str) {
    put!(
        out,
        r#"<div class="tile"><div class="num{tone}" data-figure="{name}" data-value="{value}">{}</div><div class="lbl">{}</div></div>"#,
        Esc(text),
        Esc(label)
    );
}

/// A figure without a name (the crawl section's).
fn stat(out: &mut String, text: &str, label: &str, tone: &str) {
    put!(
        out,
        r#"<div class="tile"><div class="num{tone}">{}</div><div class="lbl">{}</div></div>"#,
        Esc(text),
        Esc(label)
    );
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", int(n), if n == 1 { one } else { many })
}

pub(crate) fn summary(out: &mut String, r: &Report, t: &Totals) {
    open(out, "summary", "Summary");
    if t.requests == 0 {
        out.push_str(r#"<p class="lead">No request was sent."#);
    } else {
        put!(
            out,
            r#"<p class="lead"><b>{}</b> to <b>{}</b> in <b>{}</b>: {} ({} of them 2xx), {}, {} of response bodies."#,
            plural(t.requests, "request", "requests"),
            plural(t.hosts as u64, "host", "hosts"),
            span(t.elapsed),
            plural(t.responses, "response", "responses"),
            Esc(&pct(t.classes[0], t.responses)),
            plural(t.failures, "failure", "failures"),
            bytes(t.bytes)
        );
    }
    out.push_str("</p><div class=\"tiles\">");
    figure(
        out,
        "requests",
        &t.requests.to_string(),
        &int(t.requests),
        "requests sent",
        "",
    );
    figure(
        out,
        "responses",
        &t.responses.to_string(),
        &int(t.responses),
        "responses",
        "",
    );
    figure(
        out,
        "failures",
        &t.failures.to_string(),
        &int(t.failures),
        "requests failed",
        if t.failures > 0 { " bad" } else { "" },
    );
    figure(
        out,
        "bytes",
        &t.bytes.to_string(),
        &bytes(t.bytes),
        "body bytes received",
        "",
    );
    figure(
        out,
        "connections",
        &t.connections.to_string(),
        &int(t.connections),
        "connections opened",
        "",
    );
    figure(
        out,
        "hosts",
        &t.hosts.to_string(),
        &int(t.hosts as u64),
        "hosts",
        "",
    );
    figure(
        out,
        "seconds",
        &raw(t.elapsed),
        &span(t.elapsed),
        "elapsed",
        "",
    );
    figure(
        out,
        "rate",
        &raw(t.rate),
        &rate(t.rate),
        "requests per second",
        "",
    );
    if let Some(c) = &r.crawl {
        figure(
            out,
            "pages",
            &c.pages.to_string(),
            &int(c.pages),
            "pages",
            "",
        );
        figure(
            out,
            "items",
            &c.items.to_string(),
            &int(c.items),
            "items",
            "",
        );
        if let Some(q) = c.queued {
            figure(
                out,
                "queued",
                &q.to_string(),
                &int(q),
                "queued at the end",
                "",
            );
        }
    }
    out.push_str("</div>");

    out.push_str(r#"<p class="outcomes"><span class="lbl">Plugins</span> "#);
    if r.plugins.is_empty() {
        out.push_str("none ran");
    } else {
        let mut outcomes: BTreeMap<&str, u64> = BTreeMap::new();
        for p in &r.plugins {
            *outcomes.entry(p.outcome.as_str()).or_default() += 1;
        }
        let mut outcomes: Vec<_> = outcomes.into_iter().collect();
        outcomes.sort_by_key(|&(o, _)| (o != "completed", o));
        for (outcome, n) in outcomes {
            let tone = if outcome == "completed" { "ok" } else { "bad" };
            put!(
                out,
                r#"<span class="badge {tone}">{} {}</span> "#,
                int(n),
                Esc(&clip(outcome, MAX_TEXT))
            );
        }
    }
    out.push_str("</p>");
    close(out);
}

/// Bars in the timeline of all hosts, and in each host's, at most: more
/// would be too thin to read, and each would count too few requests to
/// show a rate (a 4 ms delay in 10 ms buckets reads as 200, 300, 200/s).
const TIMELINE_BARS: usize = 80;
const MINI_BARS: usize = 40;

/// `buckets` with at most `most` of them (neighbours merged if need be),
/// and the time each then covers.
fn folded(buckets: &[Bucket], width: f64, most: usize) -> (Vec<Bucket>, f64) {
    let most = most.clamp(1, TIMELINE_BUCKETS);
    if buckets.len() <= most {
        return (buckets.to_vec(), width);
    }
    let factor = buckets.len().div_ceil(most);
    let merged = buckets
        .chunks(factor)
        .map(|chunk| {
            let mut sum = [0; CLASSES];
            for b in chunk {
                add(&mut sum, b);
            }
            sum
        })
        .collect();
    (merged, width * factor as f64)
}

/// The seconds a timeline bucket covers (a guess from the elapsed time
/// if the snapshot's is unusable).
fn bucket_width(r: &Report, buckets: usize) -> f64 {
    let width = r.traffic.timeline_width_seconds;
    if width.is_finite() && width > 0.0 {
        return width;
    }
    let guess = ratio(finite(r.traffic.elapsed_seconds), buckets as f64);
    if guess > 0.0 { guess } else { 1.0 }
}

pub(crate) fn timeline(out: &mut String, r: &Report) {
    open(out, "timeline", "Requests over time");
    let hosts = &r.traffic.hosts;
    let len = hosts.iter().map(|h| h.timeline.len()).max().unwrap_or(0);
    let mut all = vec![[0; CLASSES]; len];
    for h in hosts {
        for (a, b) in all.iter_mut().zip(&h.timeline) {
            add(a, b);
        }
    }
    let width = bucket_width(r, len);
    let (all, all_width) = folded(&all, width, TIMELINE_BARS);
    let mut totals = [0; CLASSES];
    for b in &all {
        add(&mut totals, b);
    }
    if totals.iter().all(|&n| n == 0) {
        empty(out, "No request was recorded over time.");
        close(out);
        return;
    }
    put!(
        out,
        r#"<figure><figcaption>All hosts: requests per second by status class, in steps of {}.</figcaption>"#,
        Esc(&dur(all_width))
    );
    svg::timeline(
        out,
        &all,
        all_width,
        &svg::TIMELINE,
        "Requests per second over time, all hosts, by status class",
        false,
    );
    legend(out, Some(&totals));
    out.push_str("</figure>");

    out.push_str(
        r#"<h3>Per host</h3><p class="note">Each host on its own scale: x in seconds since the start, y in requests per second.</p><div class="multiples">"#,
    );
    for h in hosts.iter().take(MINI_HOSTS) {
        let (buckets, w) = folded(&h.timeline, width, MINI_BARS);
        let peak = buckets
            .iter()
            .map(|b| sum(b.iter().copied()))
            .max()
            .unwrap_or(0);
        let name = host_name(h);
        put!(
            out,
            r#"<div class="mini-card"><div class="h" title="{name}">{name}</div>"#
        );
        svg::timeline(
            out,
            &buckets,
            w,
            &svg::MINI,
            &format!("Requests per second over time: {}", clip(&h.host, MAX_TEXT)),
            true,
        );
        put!(
            out,
            r#"<div class="cap">{} · peak {}</div></div>"#,
            plural(h.requests, "request", "requests"),
            rate(ratio(peak as f64, w))
        );
    }
    out.push_str("</div>");
    if hosts.len() > MINI_HOSTS {
        let more = (hosts.len() - MINI_HOSTS) as u64;
        put!(
            out,
            r#"<p class="note">{} not shown here (the tables below list every host).</p>"#,
            plural(more, "more host", "more hosts")
        );
    }
    close(out);
}

/// A distribution's count per latency bucket (not cumulative), the last
/// past [`DURATION_BUCKETS`]' largest bound.
pub(crate) fn latency_buckets(d: &Distribution) -> [u64; LATENCY_BUCKETS] {
    let mut out = [0; LATENCY_BUCKETS];
    if d.cumulative.is_empty() {
        // Not bucketed (a malformed snapshot): nothing to draw.
        return out;
    }
    let mut previous = 0;
    for (i, slot) in out.iter_mut().take(DURATION_BUCKETS.len()).enumerate() {
        let at = d
            .cumulative
            .get(i)
            .copied()
            .unwrap_or(previous)
            .max(previous);
        *slot = at - previous;
        previous = at;
    }
    out[LATENCY_BUCKETS - 1] = d.count.saturating_sub(previous);
    out
}

fn latency_labels() -> Vec<String> {
    let last = DURATION_BUCKETS[DURATION_BUCKETS.len() - 1];
    DURATION_BUCKETS
        .iter()
        .map(|b| {
            let ms = b.as_millis();
            if ms < 1000 {
                format!("{ms}ms")
            } else {
                format!("{:.1}s", b.as_secs_f64())
            }
        })
        .chain(iter::once(format!("> {:.1}s", last.as_secs_f64())))
        .collect()
}

/// A distribution's figure, or a dash when it has no value.
fn figure_of(d: &Distribution, value: f64) -> String {
    if d.count == 0 {
        "—".to_owned()
    } else {
        dur(value)
    }
}

pub(crate) fn latency(out: &mut String, r: &Report) {
    open(out, "latency", "Latency");
    out.push_str(
        r#"<p class="note">From sending a request to the end of its response body. The buckets double, from 1 ms to 65.5 s.</p>"#,
    );
    let hosts = &r.traffic.hosts;
    let mut all = [0u64; LATENCY_BUCKETS];
    for h in hosts {
        for (a, b) in all.iter_mut().zip(latency_buckets(&h.latency)) {
            *a = a.saturating_add(b);
        }
    }
    if all.iter().all(|&n| n == 0) {
        empty(out, "No response was timed.");
    } else {
        let labels = latency_labels();
        out.push_str("<figure><figcaption>All hosts: responses by latency.</figcaption>");
        svg::histogram(
            out,
            &all,
            &labels,
            &svg::HISTOGRAM,
            "Latency histogram, all hosts",
            "latency (each bar: up to its bound)",
            "responses",
        );
        out.push_str("</figure>");
    }
    if hosts.is_empty() {
        close(out);
        return;
    }
    out.push_str(
        r#"<div class="scroll"><table><thead><tr><th>Host</th><th class="n">Timed</th><th class="n">Min</th><th class="n">p50</th><th class="n">p90</th><th class="n">p99</th><th class="n">Max</th><th class="n">Mean</th><th>Histogram (1 ms … 65.5 s)</th></tr></thead><tbody>"#,
    );
    for h in hosts {
        let d = &h.latency;
        out.push_str("<tr>");
        host_cell(out, h);
        num(out, &int(d.count));
        for value in [d.min, d.p50, d.p90, d.p99, d.max] {
            num(out, &figure_of(d, value));
        }
        num(out, &figure_of(d, ratio(d.sum, d.count as f64)));
        out.push_str("<td>");
        svg::spark(
            out,
            &latency_buckets(d),
            &format!("Latency histogram: {}", clip(&h.host, MAX_TEXT)),
        );
        out.push_str("</td></tr>");
    }
    out.push_str("</tbody></table></div>");
    close(out);
}

pub(crate) fn statuses(out: &mut String, r: &Report, t: &Totals) {
    open(out, "statuses", "Statuses and errors");
    let hosts = &r.traffic.hosts;
    if t.responses == 0 && t.failures == 0 && t.errors.is_empty() {
        empty(out, "No response and no failure.");
        close(out);
        return;
    }
    out.push_str(
        r#"<div class="cols"><div><h3>Responses by status</h3><table><thead><tr><th class="n">Status</th><th>Class</th><th class="n">Responses</th><th class="n">Share</th></tr></thead><tbody>"#,
    );
    for (&code, &n) in &t.statuses {
        let class = class_of(code);
        put!(
            out,
            r#"<tr><td class="n">{code}</td><td><span class="sw k{class}"></span>{}</td>"#,
            STATUS_CLASSES[class]
        );
        num(out, &int(n));
        num(out, &pct(n, t.responses));
        out.push_str("</tr>");
    }
    if t.statuses.is_empty() {
        out.push_str(r#"<tr><td colspan="4" class="empty">No response.</td></tr>"#);
    }
    out.push_str("</tbody></table></div><div><h3>Failures by kind</h3>");
    if t.errors.is_empty() {
        empty(out, "No failure.");
    } else {
        out.push_str(
            r#"<table><thead><tr><th>Kind</th><th class="n">Count</th><th class="n">Share of requests</th></tr></thead><tbody>"#,
        );
        for (kind, &n) in &t.errors {
            put!(
                out,
                r#"<tr><td class="kind">{}</td>"#,
                Esc(&clip(kind, MAX_TEXT))
            );
            num(out, &int(n));
            num(out, &pct(n, t.requests));
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table>");
        out.push_str(
            r#"<p class="note">Requests that got no response, and bodies that broke off.</p>"#,
        );
    }
    out.push_str("</div></div>");

    out.push_str(
        r#"<h3>Per host</h3><div class="scroll"><table><thead><tr><th>Host</th><th class="n">Requests</th><th class="n">2xx</th><th class="n">3xx</th><th class="n">4xx</th><th class="n">5xx</th><th class="n">Failed</th><th class="wide">Mix</th></tr></thead><tbody>"#,
    );
    for h in hosts {
        let classes = host_classes(h);
        out.push_str("<tr>");
        host_cell(out, h);
        num(out, &int(h.requests));
        for n in classes {
            num(out, &int(n));
        }
        out.push_str("<td>");
        let segments: Vec<(u64, String)> = classes
            .iter()
            .enumerate()
            .map(|(c, &n)| (n, format!("k{c}")))
            .collect();
        let segments: Vec<(u64, &str)> = segments.iter().map(|(n, c)| (*n, c.as_str())).collect();
        let title = STATUS_CLASSES
            .iter()
            .zip(classes)
            .map(|(name, n)| format!("{name} {}", int(n)))
            .collect::<Vec<_>>()
            .join(", ");
        svg::hbar(
            out,
            &segments,
            sum(classes),
            &format!("{}: {title}", clip(&h.host, MAX_TEXT)),
        );
        out.push_str("</td></tr>");
    }
    out.push_str("</tbody></table></div>");
    legend(out, None);
    close(out);
}

pub(crate) fn bytes_section(out: &mut String, r: &Report, t: &Totals) {
    open(out, "bytes", "Bytes received");
    let hosts = &r.traffic.hosts;
    let mean = |b: u64, n: u64| {
        if n == 0 {
            "—".to_owned()
        } else {
            bytes((b as f64 / n as f64).round() as u64)
        }
    };
    put!(
        out,
        r#"<p class="lead"><b>{}</b> of response bodies in {}: <b>{}</b> per response on average.</p>"#,
        bytes(t.bytes),
        plural(t.responses, "response", "responses"),
        mean(t.bytes, t.responses)
    );
    if hosts.is_empty() {
        close(out);
        return;
    }
    let largest = hosts.iter().map(|h| h.bytes).max().unwrap_or(0);
    out.push_str(
        r#"<div class="scroll"><table><thead><tr><th>Host</th><th class="n">Bytes</th><th class="n">Share</th><th class="n">Responses</th><th class="n">Per response</th><th class="wide">Bytes (bar: the largest host fills it)</th></tr></thead><tbody>"#,
    );
    for h in hosts {
        let n = responses(h);
        out.push_str("<tr>");
        host_cell(out, h);
        put!(
            out,
            r#"<td class="n" title="{} bytes">{}</td>"#,
            h.bytes,
            bytes(h.bytes)
        );
        num(out, &pct(h.bytes, t.bytes));
        num(out, &int(n));
        num(out, &mean(h.bytes, n));
        out.push_str("<td>");
        svg::hbar(
            out,
            &[(h.bytes, "fill")],
            largest,
            &format!("{}: {}", clip(&h.host, MAX_TEXT), bytes(h.bytes)),
        );
        out.push_str("</td></tr>");
    }
    put!(
        out,
        r#"</tbody><tfoot><tr><td>All hosts</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td></td></tr></tfoot></table></div>"#,
        bytes(t.bytes),
        Esc(&pct(t.bytes, t.bytes)),
        int(t.responses),
        mean(t.bytes, t.responses)
    );
    close(out);
}

fn per_connection(requests: u64, connections: u64) -> String {
    if connections == 0 {
        "—".to_owned()
    } else {
        format!("{:.1}", requests as f64 / connections as f64)
    }
}

pub(crate) fn connections(out: &mut String, r: &Report, t: &Totals) {
    open(out, "connections", "Connections");
    let hosts = &r.traffic.hosts;
    put!(
        out,
        r#"<p class="lead"><b>{}</b> opened for {}: <b>{}</b> requests per connection (at most {} at a time per host).</p>"#,
        plural(t.connections, "connection", "connections"),
        plural(t.requests, "request", "requests"),
        per_connection(t.requests, t.connections),
        int(r.settings.per_host)
    );
    if hosts.is_empty() {
        close(out);
        return;
    }
    let most = hosts.iter().map(|h| h.connections).max().unwrap_or(0);
    out.push_str(
        r#"<div class="scroll"><table><thead><tr><th>Host</th><th class="n">Connections</th><th class="n">Requests</th><th class="n">Requests per connection</th><th class="wide">Connections (bar: the most fills it)</th></tr></thead><tbody>"#,
    );
    for h in hosts {
        out.push_str("<tr>");
        host_cell(out, h);
        num(out, &int(h.connections));
        num(out, &int(h.requests));
        num(out, &per_connection(h.requests, h.connections));
        out.push_str("<td>");
        svg::hbar(
            out,
            &[(h.connections, "fill")],
            most,
            &format!(
                "{}: {}",
                clip(&h.host, MAX_TEXT),
                plural(h.connections, "connection", "connections")
            ),
        );
        out.push_str("</td></tr>");
    }
    put!(
        out,
        r#"</tbody><tfoot><tr><td>All hosts</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td></td></tr></tfoot></table></div>"#,
        int(t.connections),
        int(t.requests),
        per_connection(t.requests, t.connections)
    );
    close(out);
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// What became of the configured delay at one host: the row's class, the
/// badge's tone and its text.
fn verdict(h: &HostSnapshot, delay: f64) -> (&'static str, &'static str, &'static str) {
    if delay <= 0.0 {
        ("", "neutral", "no delay configured")
    } else if h.host == OTHER_HOSTS {
        ("", "neutral", "not one host")
    } else if h.gaps.count > 0 && finite(h.gaps.min) < delay * (1.0 - GAP_TOLERANCE) {
        ("warn", "warn", "below the delay")
    } else {
        ("", "ok", "held")
    }
}

pub(crate) fn politeness(out: &mut String, r: &Report) {
    open(out, "politeness", "Politeness");
    let s = &r.settings;
    let delay = finite(s.per_host_delay_seconds).max(0.0);
    out.push_str(r#"<dl class="settings">"#);
    let items = [
        ("Concurrency", int(s.concurrency)),
        ("Connections per host", int(s.per_host)),
        (
            "Delay per host",
            if delay > 0.0 {
                dur(delay)
            } else {
                "none".to_owned()
            },
        ),
        (
            "robots.txt",
            if s.robots { "obeyed" } else { "off" }.to_owned(),
        ),
        ("Autothrottle", on_off(s.autothrottle).to_owned()),
        ("Retries", int(s.retries)),
    ];
    for (name, value) in items {
        put!(out, "<div><dt>{name}</dt><dd>{}</dd></div>", Esc(&value));
    }
    out.push_str("</dl>");
    let hosts = &r.traffic.hosts;
    if delay > 0.0 {
        let below = hosts
            .iter()
            .filter(|h| verdict(h, delay).0 == "warn")
            .count() as u64;
        let judged = hosts.iter().filter(|h| h.host != OTHER_HOSTS).count() as u64;
        if below == 0 {
            put!(
                out,
                r#"<p class="lead">Every host held the configured delay of <b>{}</b>{}.</p>"#,
                dur(delay),
                if s.autothrottle {
                    " (autothrottle may have lengthened it)"
                } else {
                    ""
                }
            );
        } else {
            put!(
                out,
                r#"<p class="lead"><span class="badge warn">{} of {}</span> went below the configured delay of <b>{}</b>.</p>"#,
                int(below),
                plural(judged, "host", "hosts"),
                dur(delay)
            );
        }
    } else {
        out.push_str(r#"<p class="lead">No delay configured between two requests to a host"#);
        if !hosts.is_empty() {
            out.push_str(": the gaps below are what the concurrency made of it");
        }
        out.push_str(".</p>");
    }
    if hosts.is_empty() {
        close(out);
        return;
    }
    put!(
        out,
        r#"<p class="note">A gap is the time between two requests sent to one host, one after the other. A smallest gap more than {}% below the delay (the histograms' precision) is flagged. “{}” mixes several hosts' requests, so its gaps are not judged.</p>"#,
        GAP_TOLERANCE * 100.0,
        Esc(OTHER_HOSTS)
    );
    out.push_str(
        r#"<div class="scroll"><table><thead><tr><th>Host</th><th class="n">Requests</th><th class="n">Gaps</th><th class="n">Smallest gap</th><th class="n">Median gap</th><th class="n">p90 gap</th><th class="n">Delay</th><th>Verdict</th></tr></thead><tbody>"#,
    );
    for h in hosts {
        let (row, tone, text) = verdict(h, delay);
        if row.is_empty() {
            out.push_str("<tr>");
        } else {
            put!(out, r#"<tr class="{row}">"#);
        }
        host_cell(out, h);
        num(out, &int(h.requests));
        num(out, &int(h.gaps.count));
        for value in [h.gaps.min, h.gaps.p50, h.gaps.p90] {
            num(out, &figure_of(&h.gaps, value));
        }
        num(
            out,
            &if delay > 0.0 {
                dur(delay)
            } else {
                "—".to_owned()
            },
        );
        put!(
            out,
            r#"<td data-verdict="{tone}"><span class="badge {tone}">{text}</span></td></tr>"#
        );
    }
    out.push_str("</tbody></table></div>");
    close(out);
}

pub(crate) fn robots(out: &mut String, r: &Report) {
    open(out, "robots", "robots.txt");
    let hosts = &r.traffic.hosts;
    if r.settings.robots {
        out.push_str(
            r#"<p class="lead">robots.txt was obeyed: each request was checked against its site's rules first. A disallowed one was refused; one whose robots.txt could not be had failed.</p>"#,
        );
    } else {
        out.push_str(
            r#"<p class="lead"><span class="badge warn">off</span> robots.txt was not obeyed (off): requests were sent without checking the sites' rules.</p>"#,
        );
    }
    let checked = sum(hosts
        .iter()
        .map(|h| sum([h.robots.allowed, h.robots.disallowed, h.robots.failed])));
    if hosts.is_empty() || (checked == 0 && !r.settings.robots) {
        close(out);
        return;
    }
    if checked == 0 {
        empty(out, "No request was checked.");
        close(out);
        return;
    }
    out.push_str(
        r#"<div class="scroll"><table><thead><tr><th>Host</th><th class="n">Allowed</th><th class="n">Disallowed</th><th class="n">Failed</th><th class="wide">Decisions</th></tr></thead><tbody>"#,
    );
    let mut totals = [0u64; 3];
    for h in hosts {
        let d = [h.robots.allowed, h.robots.disallowed, h.robots.failed];
        for (t, n) in totals.iter_mut().zip(d) {
            *t = t.saturating_add(n);
        }
        out.push_str("<tr>");
        host_cell(out, h);
        for n in d {
            num(out, &int(n));
        }
        out.push_str("<td>");
        svg::hbar(
            out,
            &[(d[0], "k0"), (d[1], "k3"), (d[2], "k4")],
            sum(d),
            &format!(
                "{}: allowed {}, disallowed {}, failed {}",
                clip(&h.host, MAX_TEXT),
                int(d[0]),
                int(d[1]),
                int(d[2])
            ),
        );
        out.push_str("</td></tr>");
    }
    put!(
        out,
        r#"</tbody><tfoot><tr><td>All hosts</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td></td></tr></tfoot></table></div>"#,
        int(totals[0]),
        int(totals[1]),
        int(totals[2])
    );
    out.push_str(
        r#"<ul class="legend"><li><span class="sw k0"></span>allowed</li><li><span class="sw k3"></span>disallowed</li><li><span class="sw k4"></span>failed</li></ul>"#,
    );
    close(out);
}

pub(crate) fn plugins(out: &mut String, r: &Report) {
    open(out, "plugins", "Plugins");
    if r.plugins.is_empty() {
        empty(out, "No plugin ran.");
        close(out);
        return;
    }
    out.push_str(
        r#"<div class="scroll"><table class="plugins"><thead><tr><th>Plugin</th><th>Outcome</th><th class="n">Records</th><th class="n">Requests</th><th class="n">Responses</th><th class="n">Errors</th><th class="n">Bytes</th><th class="n">Elapsed</th><th>Limits</th><th>Limits hit</th></tr></thead><tbody>"#,
    );
    for p in &r.plugins {
        let name = Esc(&clip(&p.name, 1000)).to_string();
        let ok = p.outcome == "completed";
        let tone = if ok { "ok" } else { "bad" };
        let errors = sum(p.errors.values().copied());
        let responses = sum(p.responses.values().copied());
        put!(
            out,
            r#"<tr data-plugin="{name}" class="{tone}"><td class="name">{name}</td><td data-field="outcome"><span class="badge {tone}">{}</span></td>"#,
            Esc(&clip(&p.outcome, MAX_TEXT))
        );
        for (field, value, text) in [
            ("records", p.records, int(p.records)),
            ("requests", p.requests, int(p.requests)),
            ("responses", responses, int(responses)),
            ("errors", errors, int(errors)),
            ("bytes", p.bytes, bytes(p.bytes)),
        ] {
            let bad = if field == "errors" && value > 0 {
                " bad"
            } else {
                ""
            };
            put!(
                out,
                r#"<td class="n{bad}" data-field="{field}" data-value="{value}">{text}</td>"#
            );
        }
        put!(
            out,
            r#"<td class="n" data-field="elapsed" data-value="{}">{}</td><td class="list" data-field="limits">"#,
            raw(p.elapsed_seconds),
            dur(finite(p.elapsed_seconds).max(0.0))
        );
        if p.limits.is_empty() {
            out.push_str("none");
        }
        for (limit, value) in &p.limits {
            put!(
                out,
                "<span>{} <b>{}</b></span>",
                Esc(&clip(limit, MAX_TEXT)),
                Esc(&clip(value, MAX_TEXT))
            );
        }
        out.push_str(r#"</td><td class="list" data-field="limits_hit">"#);
        if p.limits_hit.is_empty() {
            out.push_str("none");
        }
        for hit in &p.limits_hit {
            put!(
                out,
                r#"<span class="hit">{}</span>"#,
                Esc(&clip(hit, MAX_TEXT))
            );
        }
        out.push_str("</td></tr>");
        if let Some(message) = &p.message {
            put!(
                out,
                r#"<tr class="msg {tone}"><td colspan="10"><span class="lbl">{name}:</span> {}</td></tr>"#,
                Esc(&clip(message, MAX_MESSAGE))
            );
        }
    }
    out.push_str("</tbody></table></div>");
    close(out);
}

pub(crate) fn crawl(out: &mut String, c: &CrawlFigures) {
    open(out, "crawl", "Crawl");
    let unknown = || "unknown".to_owned();
    out.push_str(r#"<div class="tiles">"#);
    stat(out, &int(c.pages), "pages committed", "");
    stat(
        out,
        &int(c.failed_pages),
        &format!("failed pages ({})", pct(c.failed_pages, c.pages)),
        if c.failed_pages > 0 { " bad" } else { "" },
    );
    stat(out, &int(c.items), "items committed", "");
    stat(
        out,
        &c.queued.map_or_else(unknown, int),
        "queued at the end",
        "",
    );
    stat(
        out,
        &c.done_in_all.map_or_else(unknown, int),
        "pages done in all",
        "",
    );
    out.push_str("</div><h3>Dropped follows</h3>");
    if c.dropped_follows.values().all(|&n| n == 0) {
        empty(out, "No follow was dropped.");
    } else {
        out.push_str(
            r#"<table class="narrow"><thead><tr><th>Reason</th><th class="n">Follows</th></tr></thead><tbody>"#,
        );
        for (reason, &n) in &c.dropped_follows {
            put!(
                out,
                r#"<tr><td class="kind">{}</td>"#,
                Esc(&clip(reason, MAX_TEXT))
            );
            num(out, &int(n));
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table>");
    }
    close(out);
}
