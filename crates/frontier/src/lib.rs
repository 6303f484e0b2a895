//! The crawl frontier of crawlbox's spider mode.
//!
//! * **Dedup**: a request is identified by its method, its canonical URL (no
//!   fragment, lower-case scheme and host, default port dropped, query
//!   parameters sorted) and a hash of its body; one seen before is dropped.
//! * **Order**: higher priority first; equal priorities breadth-first (in
//!   the order they were added).
//! * **Limits**: pages (started, so in-flight pages count) and depth.
//! * **Caps** ([`Caps`]): the frontier lives in host memory (and, with a
//!   journal, on disk), outside any limit of the spider's own, so what a
//!   spider can queue is bounded: requests queued (count and bytes), `meta`
//!   per request, follows per page. A request the page limit can never
//!   reach (as many requests are queued, in flight or done as the limit
//!   allows) is dropped instead of queued. Each drop is a [`Push`] outcome
//!   the caller counts and reports.
//! * **Resuming**: with [`Frontier::open`], every addition and every finished
//!   page (with its items) is appended to `journal.jsonl` before the page's
//!   items are written anywhere else. Killed and opened again on the same
//!   directory, the frontier knows every request it has seen and every page
//!   it finished: unfinished pages are queued again, finished ones are never
//!   fetched again, and [`Frontier::items_after`] gives the items a crashed
//!   run had committed but maybe not yet written out.
//!
//! Data reaches the kernel with each page, so a killed process loses
//! nothing; [`Frontier::sync`] (called at least every second, and at the end)
//! also makes it survive a power cut.

use std::collections::{BinaryHeap, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use url::Url;

pub use crawlbox_net::{Request, TextDecoding};

/// A request offered to a frontier: what a spider yields (a start request
/// or a follow), with where it goes in the crawl.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// The request, checked (see [`Request::new`]).
    pub request: Request,
    /// Data for the `parse` of its page, opaque to the host.
    pub meta: String,
    /// Higher first.
    pub priority: i32,
    /// Start requests are depth 0; a follow of a page one deeper.
    pub depth: u32,
}

impl Offer {
    /// An offer of `request` with no meta, priority 0, depth 0.
    pub fn new(request: Request) -> Self {
        Self {
            request,
            meta: String::new(),
            priority: 0,
            depth: 0,
        }
    }

    /// With this priority.
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// At this depth.
    pub fn depth(mut self, depth: u32) -> Self {
        self.depth = depth;
        self
    }

    /// With this meta.
    pub fn meta(mut self, meta: impl Into<String>) -> Self {
        self.meta = meta.into();
        self
    }
}

/// A request waiting in (or taken from) the frontier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(rename = "fp")]
    pub fingerprint: String,
    #[serde(rename = "req")]
    pub request: Request,
    #[serde(default)]
    pub meta: String,
    #[serde(rename = "pri", default)]
    pub priority: i32,
    #[serde(default)]
    pub depth: u32,
}

/// Limits of a crawl. Default: none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// Pages started at most (finished plus in flight).
    pub max_pages: Option<u64>,
    /// Deepest page, start requests being depth 0.
    pub max_depth: Option<u32>,
}

/// Default [`Caps::max_queued`]: requests waiting at once.
pub const DEFAULT_MAX_QUEUED: u64 = 1_000_000;
/// Default [`Caps::max_queued_bytes`]: 256 MiB of requests waiting at once.
pub const DEFAULT_MAX_QUEUED_BYTES: u64 = 256 << 20;
/// Default [`Caps::max_meta_bytes`]: 64 KiB of `meta` per request.
pub const DEFAULT_MAX_META_BYTES: u64 = 64 << 10;
/// Default [`Caps::max_follows_per_page`].
pub const DEFAULT_MAX_FOLLOWS_PER_PAGE: usize = 10_000;
/// What a queued entry costs beyond its strings, body and headers: the
/// entry itself, its fingerprint (twice: the entry and the seen set), the
/// heap slot and the allocations (an estimate).
pub const ENTRY_OVERHEAD: u64 = size_of::<Entry>() as u64 + 160;
/// What one slot of a request's header map costs (the map allocates
/// slots for headers in advance; an estimate).
pub const HEADER_SLOT: u64 = 128;

/// Bounds on what a spider can make the host hold for it. The frontier
/// lives in host memory (and in the journal), outside the spider's memory
/// limit: without them, a spider returning 200,000 follows per page grows
/// the host by gigabytes. Past a cap, a request is dropped (not queued, not
/// marked seen: it may be offered again once there is room), and the drop
/// is reported as a [`Push`] outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Requests waiting at once ([`Push::QueueFull`] past it). Default
    /// [`DEFAULT_MAX_QUEUED`].
    pub max_queued: u64,
    /// Bytes of requests waiting at once, as [`Entry::cost`] counts them
    /// (URL, method, headers, body, meta, plus [`ENTRY_OVERHEAD`])
    /// ([`Push::QueueBytesFull`] past it). Default
    /// [`DEFAULT_MAX_QUEUED_BYTES`].
    pub max_queued_bytes: u64,
    /// Bytes of `meta` of one request ([`Push::MetaTooLarge`] past it).
    /// Default [`DEFAULT_MAX_META_BYTES`].
    pub max_meta_bytes: u64,
    /// Follows one page may yield; the caller keeps the first ones
    /// ([`Caps::cap_follows`]). Default [`DEFAULT_MAX_FOLLOWS_PER_PAGE`].
    pub max_follows_per_page: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Self {
            max_queued: DEFAULT_MAX_QUEUED,
            max_queued_bytes: DEFAULT_MAX_QUEUED_BYTES,
            max_meta_bytes: DEFAULT_MAX_META_BYTES,
            max_follows_per_page: DEFAULT_MAX_FOLLOWS_PER_PAGE,
        }
    }
}

impl Caps {
    /// Keeps the first [`max_follows_per_page`](Self::max_follows_per_page)
    /// of a page's follows (before anything else looks at them: the rest
    /// cost nothing more); returns how many were dropped.
    pub fn cap_follows<T>(&self, follows: &mut Vec<T>) -> usize {
        let dropped = follows.len().saturating_sub(self.max_follows_per_page);
        follows.truncate(self.max_follows_per_page);
        dropped
    }

    /// `Some(Push::MetaTooLarge)` when a request's `meta` is over
    /// [`max_meta_bytes`](Self::max_meta_bytes): the rule of every
    /// frontier, this one and Redis's.
    pub fn check_meta(&self, meta: &str) -> Option<Push> {
        let bytes = meta.len() as u64;
        (bytes > self.max_meta_bytes).then_some(Push::MetaTooLarge(bytes))
    }
}

/// What became of a request offered with [`Frontier::push`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Push {
    /// Queued.
    Added,
    /// Seen before: dropped.
    Seen,
    /// Deeper than the limit: dropped.
    TooDeep,
    /// The page limit cannot use it: as many requests are queued, in flight
    /// or done as [`Limits::max_pages`] allows, so it would never be
    /// fetched. Dropped, not marked seen.
    PageLimit,
    /// Its `meta` is this many bytes, over [`Caps::max_meta_bytes`]: dropped.
    MetaTooLarge(u64),
    /// [`Caps::max_queued`] requests are waiting: dropped, not marked seen.
    QueueFull,
    /// It would take the queued bytes over [`Caps::max_queued_bytes`]:
    /// dropped, not marked seen.
    QueueBytesFull,
}

impl Push {
    /// Whether the request was dropped by a cap or the page limit (rather
    /// than queued, seen before, too deep or invalid).
    pub fn is_capped(&self) -> bool {
        matches!(
            self,
            Push::PageLimit | Push::MetaTooLarge(_) | Push::QueueFull | Push::QueueBytesFull
        )
    }
}

/// Counts for the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests ever queued.
    pub seen: u64,
    /// Pages finished (fetched and parsed, or failed).
    pub done: u64,
    /// Pages waiting.
    pub queued: u64,
    /// Bytes of the pages waiting ([`Entry::cost`]).
    pub queued_bytes: u64,
    /// Pages taken and not finished yet.
    pub in_flight: u64,
    /// Items committed.
    pub items: u64,
}

impl Entry {
    /// What the entry costs the host while queued, as
    /// [`Caps::max_queued_bytes`] counts it: its strings, body and headers
    /// (each slot of its header map at [`HEADER_SLOT`]), plus
    /// [`ENTRY_OVERHEAD`].
    pub fn cost(&self) -> u64 {
        let request = &self.request;
        let headers: usize = request
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len())
            .sum::<usize>()
            + request.headers.capacity() * HEADER_SLOT as usize;
        let text = match &request.text {
            Some(TextDecoding::Charset(label)) => label.len(),
            _ => 0,
        };
        (request.method.as_str().len()
            + request.url.as_str().len()
            + headers
            + request.body.len()
            + text
            + self.meta.len()
            + self.fingerprint.len()) as u64
            + ENTRY_OVERHEAD
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Queued {
    priority: i32,
    seq: u64,
    entry: Entry,
}

impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Max-heap: higher priority first, then lower sequence (FIFO).
        self.priority
            .cmp(&other.priority)
            .then(other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Record {
    Add(Box<Entry>),
    Done {
        fp: String,
        items: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

/// See the [crate docs](crate).
#[derive(Debug)]
pub struct Frontier {
    limits: Limits,
    caps: Caps,
    queue: BinaryHeap<Queued>,
    seen: HashSet<String>,
    seq: u64,
    counts: Counts,
    journal: Option<Journal>,
}

#[derive(Debug)]
struct Journal {
    path: PathBuf,
    file: BufWriter<File>,
    synced: Instant,
}

impl Frontier {
    /// A frontier in memory only.
    pub fn in_memory(limits: Limits) -> Self {
        Self {
            limits,
            caps: Caps::default(),
            queue: BinaryHeap::new(),
            seen: HashSet::new(),
            seq: 0,
            counts: Counts::default(),
            journal: None,
        }
    }

    /// With these caps instead of the defaults. They bound what is offered
    /// from now on: requests a resumed journal had queued stay queued even
    /// if they are over them.
    pub fn with_caps(mut self, caps: Caps) -> Self {
        self.caps = caps;
        self
    }

    /// The caps in force.
    pub fn caps(&self) -> Caps {
        self.caps
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// A frontier journaled in `dir` (created if needed), resumed from the
    /// journal there if there is one.
    ///
    /// # How large the journal grows
    ///
    /// One `add` line per request ever queued, one `done` line per page
    /// finished (with its items), nothing else. A request is queued only
    /// within the caps, so the journal holds at most, for what is waiting,
    /// [`Caps::max_queued_bytes`] of requests, and for what the crawl did,
    /// each page fetched (its request again) and its items. JSON encodes a
    /// byte of a string or body in at most 6 bytes (`\u0000`), so a line is
    /// at most 6 × the entry's [`cost`](Entry::cost) (`meta` bounded by
    /// [`Caps::max_meta_bytes`]). With [`Limits::max_pages`] = N, requests
    /// past what N pages can use are never queued: at most N + the start
    /// requests `add` lines ever.
    pub fn open(dir: &Path, limits: Limits) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("journal.jsonl");
        let mut frontier = Self::in_memory(limits);
        if path.exists() {
            frontier.replay(&path)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        frontier.journal = Some(Journal {
            path,
            file: BufWriter::new(file),
            synced: Instant::now(),
        });
        Ok(frontier)
    }

    fn replay(&mut self, path: &Path) -> io::Result<()> {
        let mut pending: HashMap<String, (u64, Entry)> = HashMap::new();
        let mut reader = BufReader::new(File::open(path)?);
        let mut valid_end = 0u64;
        let mut line = String::new();
        loop {
            line.clear();
            let read = reader.read_line(&mut line)?;
            // A line torn by a crash is the last one: it never committed,
            // and is cut off below so that appending starts clean.
            if read == 0 || !line.ends_with('\n') {
                break;
            }
            let record = match serde_json::from_str::<Record>(line.trim_end()) {
                Ok(record) => record,
                // A whole line of JSON that is no record (a request that is
                // no longer valid, from another version): skipped, kept.
                Err(_)
                    if serde_json::from_str::<serde::de::IgnoredAny>(line.trim_end()).is_ok() =>
                {
                    valid_end += read as u64;
                    continue;
                }
                Err(_) => break,
            };
            valid_end += read as u64;
            match record {
                Record::Add(entry) => {
                    self.seen.insert(entry.fingerprint.clone());
                    self.seq += 1;
                    pending.insert(entry.fingerprint.clone(), (self.seq, *entry));
                }
                Record::Done { fp, items, .. } => {
                    pending.remove(&fp);
                    self.counts.done += 1;
                    self.counts.items += items.len() as u64;
                }
            }
        }
        OpenOptions::new()
            .write(true)
            .open(path)?
            .set_len(valid_end)?;
        self.counts.seen = self.seen.len() as u64;
        for (seq, entry) in pending.into_values() {
            self.counts.queued_bytes += entry.cost();
            self.queue.push(Queued {
                priority: entry.priority,
                seq,
                entry,
            });
        }
        self.counts.queued = self.queue.len() as u64;
        Ok(())
    }

    /// Whether nothing was ever queued (a new crawl, not a resumed one).
    pub fn is_new(&self) -> bool {
        self.counts.seen == 0
    }

    /// Counts so far.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Whether the page limit can use no more requests: as many are queued,
    /// in flight or done as [`Limits::max_pages`] allows (each of those will
    /// be fetched before the limit stops the crawl, so a new one never
    /// would). Check it before preparing requests to offer.
    pub fn is_full_for_pages(&self) -> bool {
        let claimed = self.counts.queued + self.counts.in_flight + self.counts.done;
        self.limits.max_pages.is_some_and(|max| claimed >= max)
    }

    /// Offers a request. Checked in this order: depth, the page limit,
    /// `meta` size, dedup, then the queue's caps; only an added request is
    /// marked seen (and journaled).
    ///
    /// With [`Limits::max_pages`], a request offered once enough are queued
    /// to reach the limit is dropped ([`Push::PageLimit`]) whatever its
    /// priority: the crawl fetches the first `max_pages` requests accepted,
    /// highest priority first among them.
    pub fn push(&mut self, offer: Offer) -> io::Result<Push> {
        let Offer {
            request,
            meta,
            priority,
            depth,
        } = offer;
        if self.limits.max_depth.is_some_and(|max| depth > max) {
            return Ok(Push::TooDeep);
        }
        if self.is_full_for_pages() {
            return Ok(Push::PageLimit);
        }
        if let Some(dropped) = self.caps.check_meta(&meta) {
            return Ok(dropped);
        }
        let fingerprint = fingerprint(&request);
        if self.seen.contains(&fingerprint) {
            return Ok(Push::Seen);
        }
        if self.counts.queued >= self.caps.max_queued {
            return Ok(Push::QueueFull);
        }
        let entry = Entry {
            fingerprint,
            request,
            meta,
            priority,
            depth,
        };
        let cost = entry.cost();
        if self.counts.queued_bytes.saturating_add(cost) > self.caps.max_queued_bytes {
            return Ok(Push::QueueBytesFull);
        }
        self.write(&Record::Add(Box::new(entry.clone())))?;
        self.seen.insert(entry.fingerprint.clone());
        self.seq += 1;
        self.queue.push(Queued {
            priority,
            seq: self.seq,
            entry,
        });
        self.counts.seen += 1;
        self.counts.queued += 1;
        self.counts.queued_bytes += cost;
        Ok(Push::Added)
    }

    /// The next page to fetch, unless the queue is empty or the page limit
    /// is reached.
    pub fn pop(&mut self) -> Option<Entry> {
        let started = self.counts.done + self.counts.in_flight;
        if self.limits.max_pages.is_some_and(|max| started >= max) {
            return None;
        }
        let next = self.queue.pop()?.entry;
        self.counts.queued -= 1;
        self.counts.queued_bytes = self.counts.queued_bytes.saturating_sub(next.cost());
        self.counts.in_flight += 1;
        Some(next)
    }

    /// Commits a finished page with its items (or the error that ended it),
    /// in the journal when there is one. Write the items elsewhere only after.
    pub fn complete(
        &mut self,
        entry: &Entry,
        items: &[String],
        error: Option<&str>,
    ) -> io::Result<()> {
        self.write(&Record::Done {
            fp: entry.fingerprint.clone(),
            items: items.to_vec(),
            error: error.map(str::to_owned),
        })?;
        self.counts.in_flight -= 1;
        self.counts.done += 1;
        self.counts.items += items.len() as u64;
        Ok(())
    }

    /// Items committed in the journal, after the first `skip`, in order:
    /// what a resumed crawl still has to write out.
    pub fn items_after(&self, skip: u64) -> io::Result<Vec<String>> {
        let Some(journal) = &self.journal else {
            return Ok(Vec::new());
        };
        let mut items = Vec::new();
        let mut seen = 0u64;
        for line in BufReader::new(File::open(&journal.path)?).lines() {
            let Ok(Record::Done { items: page, .. }) = serde_json::from_str::<Record>(&line?)
            else {
                continue;
            };
            for item in page {
                seen += 1;
                if seen > skip {
                    items.push(item);
                }
            }
        }
        Ok(items)
    }

    /// Makes the journal durable against a power cut.
    pub fn sync(&mut self) -> io::Result<()> {
        if let Some(journal) = &mut self.journal {
            journal.file.flush()?;
            journal.file.get_ref().sync_data()?;
            journal.synced = Instant::now();
        }
        Ok(())
    }

    fn write(&mut self, record: &Record) -> io::Result<()> {
        let Some(journal) = &mut self.journal else {
            return Ok(());
        };
        serde_json::to_writer(&mut journal.file, record)?;
        journal.file.write_all(b"\n")?;
        // In the kernel with every record: a killed process loses nothing.
        journal.file.flush()?;
        if journal.synced.elapsed() > Duration::from_secs(1) {
            journal.file.get_ref().sync_data()?;
            journal.synced = Instant::now();
        }
        Ok(())
    }
}

/// Method, canonical URL and body hash, hashed: what identifies a request
/// for dedup (32 hex digits). An error for a URL that is not absolute
/// http(s).
pub fn fingerprint(request: &Request) -> String {
    let url = canonical(request.url.clone());
    let mut hasher = blake3::Hasher::new();
    hasher.update(request.method.as_str().to_ascii_uppercase().as_bytes());
    hasher.update(b" ");
    hasher.update(url.as_bytes());
    hasher.update(b"\n");
    hasher.update(blake3::hash(&request.body).as_bytes());
    hasher.finalize().to_hex()[..32].to_owned()
}

/// The URL without fragment, with sorted query parameters (the URL parser
/// already lower-cases scheme and host and drops a default port).
pub fn canonical_url(url: &str) -> Result<String, String> {
    let url = Url::parse(url).map_err(|e| format!("invalid URL {url:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{url} is not an http or https URL"));
    }
    Ok(canonical(url))
}

fn canonical(mut url: Url) -> String {
    url.set_fragment(None);
    if url.query().is_some() {
        let mut pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        pairs.sort();
        if pairs.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(pairs);
        }
    }
    url.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(url: &str) -> Request {
        Request::get(url).unwrap()
    }

    fn post(url: &str, body: &[u8]) -> Request {
        Request::new("POST", url).unwrap().body(body.to_vec())
    }

    /// `f.push` of `request` with `meta` at `priority` and `depth`.
    fn push(
        f: &mut Frontier,
        request: Request,
        meta: String,
        priority: i32,
        depth: u32,
    ) -> io::Result<Push> {
        f.push(Offer {
            request,
            meta,
            priority,
            depth,
        })
    }

    #[test]
    fn canonical_urls_compare_equal() {
        assert_eq!(
            canonical_url("HTTP://Example.com:80/a?b=2&a=1#frag").unwrap(),
            "http://example.com/a?a=1&b=2"
        );
        assert!(canonical_url("ftp://example.com/").is_err());
    }

    #[test]
    fn dedup_order_and_limits() {
        let mut f = Frontier::in_memory(Limits {
            max_pages: Some(3),
            max_depth: Some(1),
        });
        assert_eq!(
            push(&mut f, get("http://a/1"), String::new(), 0, 0).unwrap(),
            Push::Added
        );
        assert_eq!(
            push(&mut f, get("http://a/1#x"), String::new(), 0, 0).unwrap(),
            Push::Seen
        );
        assert_eq!(
            push(&mut f, get("http://a/2"), String::new(), 0, 1).unwrap(),
            Push::Added
        );
        assert_eq!(
            push(&mut f, get("http://a/3"), String::new(), 5, 1).unwrap(),
            Push::Added
        );
        assert_eq!(
            push(&mut f, get("http://a/4"), String::new(), 0, 2).unwrap(),
            Push::TooDeep
        );
        // Three are queued: the page limit can use no more.
        assert_eq!(
            push(&mut f, get("http://a/5"), String::new(), 0, 1).unwrap(),
            Push::PageLimit
        );
        // Priority first, then breadth-first.
        let order: Vec<String> = std::iter::from_fn(|| f.pop())
            .map(|e| e.request.url.to_string())
            .collect();
        assert_eq!(
            order,
            ["http://a/3", "http://a/1", "http://a/2"],
            "page limit 3"
        );
        let mut f = Frontier::in_memory(Limits::default());
        push(&mut f, get("http://a/1"), String::new(), 0, 0).unwrap();
        let post = post("http://a/1", b"x");
        assert_eq!(
            push(&mut f, post, String::new(), 0, 0).unwrap(),
            Push::Added
        );
    }

    #[test]
    fn a_resumed_frontier_skips_finished_pages_and_requeues_the_rest() {
        let dir = std::env::temp_dir().join(format!("crawlbox-frontier-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let mut f = Frontier::open(&dir, Limits::default()).unwrap();
            assert!(f.is_new());
            for n in 0..4 {
                push(&mut f, get(&format!("http://a/{n}")), format!("m{n}"), 0, 0).unwrap();
            }
            let first = f.pop().unwrap();
            f.complete(&first, &["{\"n\":0}".into()], None).unwrap();
            let _in_flight_when_killed = f.pop().unwrap();
        }
        // Simulate a torn last line.
        let journal = dir.join("journal.jsonl");
        let mut text = std::fs::read_to_string(&journal).unwrap();
        text.push_str("{\"done\":{\"fp\":\"tor");
        std::fs::write(&journal, text).unwrap();

        let mut f = Frontier::open(&dir, Limits::default()).unwrap();
        assert!(!f.is_new());
        assert_eq!(f.counts().done, 1);
        assert_eq!(f.counts().queued, 3);
        assert_eq!(
            push(&mut f, get("http://a/0"), String::new(), 0, 0).unwrap(),
            Push::Seen
        );
        let rest: Vec<Entry> = std::iter::from_fn(|| f.pop()).collect();
        let metas: Vec<&str> = rest.iter().map(|e| e.meta.as_str()).collect();
        assert_eq!(metas, ["m1", "m2", "m3"]);
        f.complete(&rest[0], &["{\"n\":1}".into()], None).unwrap();
        assert_eq!(f.items_after(0).unwrap(), ["{\"n\":0}", "{\"n\":1}"]);
        assert_eq!(f.items_after(1).unwrap(), ["{\"n\":1}"]);
        drop(f);
        // The torn line was cut off: a third opening reads everything.
        let f = Frontier::open(&dir, Limits::default()).unwrap();
        assert_eq!((f.counts().done, f.counts().queued), (2, 2));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("crawlbox-frontier-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn meta_over_the_cap_is_dropped_and_not_marked_seen() {
        let caps = Caps {
            max_meta_bytes: 10,
            ..Caps::default()
        };
        let mut f = Frontier::in_memory(Limits::default()).with_caps(caps);
        assert_eq!(
            push(&mut f, get("http://a/1"), "x".repeat(11), 0, 0).unwrap(),
            Push::MetaTooLarge(11)
        );
        assert!(Push::MetaTooLarge(11).is_capped());
        assert_eq!(f.counts().queued, 0);
        // Not marked seen: offered again within the cap, it is queued.
        assert_eq!(
            push(&mut f, get("http://a/1"), "x".repeat(10), 0, 0).unwrap(),
            Push::Added
        );
    }

    #[test]
    fn the_queue_holds_at_most_max_queued_requests() {
        let caps = Caps {
            max_queued: 2,
            ..Caps::default()
        };
        let mut f = Frontier::in_memory(Limits::default()).with_caps(caps);
        for n in 0..2 {
            let url = format!("http://a/{n}");
            assert_eq!(
                push(&mut f, get(&url), String::new(), 0, 0).unwrap(),
                Push::Added
            );
        }
        assert_eq!(
            push(&mut f, get("http://a/2"), String::new(), 0, 0).unwrap(),
            Push::QueueFull
        );
        // A duplicate is still a duplicate.
        assert_eq!(
            push(&mut f, get("http://a/0"), String::new(), 0, 0).unwrap(),
            Push::Seen
        );
        // Taking a page makes room; the dropped request was not marked seen.
        f.pop().unwrap();
        assert_eq!(
            push(&mut f, get("http://a/2"), String::new(), 0, 0).unwrap(),
            Push::Added
        );
        assert_eq!(f.counts().queued, 2);
    }

    #[test]
    fn the_queue_holds_at_most_max_queued_bytes() {
        let entry_cost = |url: &str, meta: &str| {
            Entry {
                fingerprint: fingerprint(&get(url)),
                request: get(url),
                meta: meta.into(),
                priority: 0,
                depth: 0,
            }
            .cost()
        };
        let one = entry_cost("http://a/0", "0123456789");
        assert!(one > ENTRY_OVERHEAD + 10 + 10, "{one}");
        let caps = Caps {
            max_queued_bytes: 3 * one,
            ..Caps::default()
        };
        let mut f = Frontier::in_memory(Limits::default()).with_caps(caps);
        for n in 0..3 {
            let url = format!("http://a/{n}");
            assert_eq!(
                push(&mut f, get(&url), "0123456789".into(), 0, 0).unwrap(),
                Push::Added
            );
        }
        assert_eq!(f.counts().queued_bytes, 3 * one);
        assert_eq!(
            push(&mut f, get("http://a/3"), "0123456789".into(), 0, 0).unwrap(),
            Push::QueueBytesFull
        );
        // A body counts too.
        let post = post("http://a/4", &[0; 1000]);
        f.pop().unwrap();
        assert_eq!(f.counts().queued_bytes, 2 * one);
        assert_eq!(
            push(&mut f, post, String::new(), 0, 0).unwrap(),
            Push::QueueBytesFull
        );
        assert_eq!(
            push(&mut f, get("http://a/3"), "0123456789".into(), 0, 0).unwrap(),
            Push::Added
        );
    }

    #[test]
    fn follows_the_page_limit_cannot_use_are_not_queued() {
        let mut f = Frontier::in_memory(Limits {
            max_pages: Some(3),
            max_depth: None,
        });
        for n in 0..3 {
            let url = format!("http://a/{n}");
            assert_eq!(
                push(&mut f, get(&url), String::new(), 0, 0).unwrap(),
                Push::Added
            );
        }
        assert!(f.is_full_for_pages());
        assert_eq!(
            push(&mut f, get("http://a/3"), String::new(), 9, 0).unwrap(),
            Push::PageLimit
        );
        // In flight and done count as much as queued.
        let first = f.pop().unwrap();
        assert_eq!(
            push(&mut f, get("http://a/4"), String::new(), 0, 1).unwrap(),
            Push::PageLimit
        );
        f.complete(&first, &[], None).unwrap();
        assert_eq!(
            push(&mut f, get("http://a/5"), String::new(), 0, 1).unwrap(),
            Push::PageLimit
        );
        assert_eq!(f.counts().queued, 2);
        assert_eq!(f.counts().seen, 3);
        // Every request queued is fetched: exactly the page limit.
        let rest: Vec<Entry> = std::iter::from_fn(|| f.pop()).collect();
        assert_eq!(rest.len(), 2);
    }

    #[test]
    fn a_page_keeps_at_most_max_follows_per_page() {
        let caps = Caps {
            max_follows_per_page: 3,
            ..Caps::default()
        };
        let mut follows: Vec<u32> = (0..10).collect();
        assert_eq!(caps.cap_follows(&mut follows), 7);
        assert_eq!(follows, [0, 1, 2]);
        let mut few = vec![1, 2];
        assert_eq!(caps.cap_follows(&mut few), 0);
        assert_eq!(few, [1, 2]);
    }

    /// 200,000 follows a page with a page limit of 10: the journal holds
    /// the 10 requests that will be fetched, and nothing of the rest.
    #[test]
    fn the_journal_holds_only_what_the_caps_let_in() {
        let dir = temp_dir("journal-bound");
        let mut f = Frontier::open(
            &dir,
            Limits {
                max_pages: Some(10),
                max_depth: None,
            },
        )
        .unwrap();
        let meta = "m".repeat(1000);
        let mut pushed = 0;
        for page in 0..3 {
            for n in 0..200_000 {
                let url = format!("http://a/{page}/{n}");
                if push(&mut f, get(&url), meta.clone(), 0, 1).unwrap() == Push::Added {
                    pushed += 1;
                }
            }
            if let Some(entry) = f.pop() {
                f.complete(&entry, &["{}".into()], None).unwrap();
            }
        }
        assert_eq!(pushed, 10);
        drop(f);
        let size = std::fs::metadata(dir.join("journal.jsonl")).unwrap().len();
        // 10 `add` lines of about 1.1 KB and 3 `done` lines.
        assert!(size < 20_000, "journal is {size} bytes");
        // Resumed, the queued bytes are counted again.
        let f = Frontier::open(&dir, Limits::default()).unwrap();
        assert_eq!(f.counts().queued, 7);
        assert!(f.counts().queued_bytes >= 7 * 1000, "{:?}", f.counts());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Every field of a queued request survives the journal: a resumed
    /// crawl fetches exactly what was offered.
    #[test]
    fn every_field_of_a_request_round_trips_through_the_journal() {
        let dir = temp_dir("fields");
        let request = crawlbox_net::test_support::request_with_every_field();
        let offer = Offer::new(request).meta("m").priority(3).depth(2);
        {
            let mut f = Frontier::open(&dir, Limits::default()).unwrap();
            assert_eq!(f.push(offer.clone()).unwrap(), Push::Added);
        }
        let mut f = Frontier::open(&dir, Limits::default()).unwrap();
        let entry = f.pop().unwrap();
        assert_eq!(entry.request, offer.request);
        assert_eq!(
            (entry.meta.as_str(), entry.priority, entry.depth),
            ("m", 3, 2)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A journal line that is whole JSON but no valid record (a request no
    /// longer valid) is skipped, and the lines after it are kept: only a
    /// torn last line is cut off.
    #[test]
    fn a_journal_line_that_is_no_valid_record_is_skipped_not_cut() {
        let dir = temp_dir("invalid-line");
        {
            let mut f = Frontier::open(&dir, Limits::default()).unwrap();
            push(&mut f, get("http://a/1"), String::new(), 0, 0).unwrap();
        }
        let journal = dir.join("journal.jsonl");
        let mut text = std::fs::read_to_string(&journal).unwrap();
        text.push_str(r#"{"add":{"fp":"x","req":{"method":"GET","url":"ftp://a/"}}}"#);
        text.push('\n');
        std::fs::write(&journal, text).unwrap();
        {
            let mut f = Frontier::open(&dir, Limits::default()).unwrap();
            push(&mut f, get("http://a/2"), String::new(), 0, 0).unwrap();
        }
        let mut f = Frontier::open(&dir, Limits::default()).unwrap();
        let urls: Vec<String> = std::iter::from_fn(|| f.pop())
            .map(|e| e.request.url.to_string())
            .collect();
        assert_eq!(urls, ["http://a/1", "http://a/2"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
