//! A spider crawl's frontier in Redis: worker processes, on one machine or
//! several, share one crawl.
//!
//! It mirrors the in-process [`crawlbox_frontier::Frontier`]: the same
//! [`Request`]s and [`Entry`]s, the same dedup
//! ([`crawlbox_frontier::fingerprint`]: method, canonical URL, body hash),
//! the same [`Limits`] and [`Push`] outcomes. Every state change is one Lua
//! script, so it is atomic however many workers race.
//!
//! # Data model
//!
//! Every key of crawl `C` starts with `crawlbox:{C}:` (the braces make
//! `{C}` the hash tag: all of a crawl's keys live in one cluster slot; the
//! scripts build key names themselves, so use a standalone Redis, 6.2 or
//! later, or a single shard).
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `seen` | set | fingerprints of every request ever queued: the dedup |
//! | `done` | set | fingerprints of every page committed (fetched and parsed, or failed) |
//! | `priorities` | sorted set | the priority values that have a queue (member and score: the priority) |
//! | `queue:{P}` | stream, consumer group `workers` | requests of priority `P`, field `entry` (the [`Entry`] as JSON); an entry is deleted when its page is committed |
//! | `items` | stream | committed items in commit order, field `item` (the JSON text as given) |
//! | `failures` | stream, capped near 10 000 | failed pages: fields `fp`, `url`, `error` |
//! | `stats` | hash | counters `seen`, `started`, `done`, `failed`, `items`, `duplicates` |
//! | `wake` | stream, 1 entry | bumped when work is queued or the crawl ends: what blocked [`RedisFrontier::claim`] calls wait on |
//! | `host:{H}` | string | for host `H`, the earliest time (µs since the Unix epoch, Redis's clock) of its next send; expires when idle |
//! | `component` | string | the BLAKE3 hash (hex) of the crawl's spider component |
//! | `component:{hash}` | string | the component's bytes |
//!
//! # Guarantees
//!
//! * **Dedup**: a request is queued at most once per crawl (the `seen` set).
//! * **At-least-once pages, exactly-once items**: a claimed page stays
//!   pending in its stream's consumer group until committed; a worker that
//!   dies leaves it pending, and after `reclaim_after` another worker's
//!   [`claim`](RedisFrontier::claim) takes it over (`XAUTOCLAIM`). A page
//!   may so be fetched twice, but only the first commit of a fingerprint
//!   writes items and follow-ups; a later one (the dead worker was only
//!   slow) is acknowledged, counted in [`Counts::duplicates`] and writes
//!   nothing.
//! * **Priorities**: one stream per distinct priority value; a claim takes
//!   from the highest non-empty stream first, so across workers higher
//!   priorities go first, and equal priorities are breadth-first (FIFO).
//!   Reclaimed pages come before new ones. Use a few distinct priorities:
//!   each is a stream a claim looks at.
//! * **Page limit**: [`Limits::max_pages`] bounds the pages *started*
//!   (claimed for the first time), counted atomically in the claim script:
//!   at most `max_pages` distinct pages are ever started, and so committed,
//!   exactly, whatever the number of workers. Pages re-fetched after a
//!   reclaim are the same pages, so fetches may exceed it by the number of
//!   reclaims.
//! * **Depth limit and invalid URLs** are checked by the worker before
//!   anything reaches Redis; give every worker of a crawl the same
//!   [`Limits`].
//! * **Politeness**: [`reserve_host_slot`](RedisFrontier::reserve_host_slot)
//!   hands out send times per host at least `interval` apart on Redis's
//!   clock, across all workers.
//!
//! Durability is Redis's: with persistence off, a restarted Redis forgets
//! the crawl.

mod error;
mod scripts;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use crawlbox_frontier::{Entry, Limits, Offer, Push, Request};
pub use error::Error;
use redis::AsyncConnectionConfig;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};

use scripts::Scripts;

/// How long the first connection may take. Default for every connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a command may take (a large component upload included).
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// Items fetched per `XRANGE` by [`RedisFrontier::export`].
pub const EXPORT_PAGE: usize = 1000;
/// Idle connections kept for blocking waits.
const IDLE_BLOCKING_CONNECTIONS: usize = 8;
/// The shortest wait between two looks for reclaimable pages.
const MIN_RECLAIM_TICK: Duration = Duration::from_millis(10);

/// A page taken by [`RedisFrontier::claim`]: give it back to
/// [`RedisFrontier::complete`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// Its stream entry id.
    pub id: String,
    /// The request.
    pub entry: Entry,
    /// How many times it was handed out, this time included (1 for a page
    /// claimed the first time).
    pub deliveries: u64,
    /// Whether it was taken over from a consumer that held it longer than
    /// `reclaim_after`.
    pub reclaimed: bool,
}

/// What [`RedisFrontier::complete`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The page had been committed before (by a consumer that held it
    /// earlier): nothing was written, and the follow-ups were dropped (each
    /// reported [`Push::Seen`] unless too deep or invalid).
    pub duplicate: bool,
    /// What became of each follow-up, in order.
    pub follows: Vec<Push>,
}

/// A send time granted by [`RedisFrontier::reserve_host_slot`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostSlot {
    /// How long to wait before sending.
    pub wait: Duration,
    /// The send time granted, since the Unix epoch on Redis's clock: those
    /// of one host are at least the interval apart.
    pub send_at: Duration,
}

/// Counts of a crawl, across all workers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests ever queued.
    pub seen: u64,
    /// Pages claimed at least once.
    pub started: u64,
    /// Pages committed (fetched and parsed, or failed).
    pub done: u64,
    /// Of those, failed ones.
    pub failed: u64,
    /// Requests never claimed yet.
    pub queued: u64,
    /// Pages claimed and not committed yet (in flight, or held by a dead
    /// worker until reclaimed).
    pub pending: u64,
    /// Items committed.
    pub items: u64,
    /// Late commits of pages committed before (nothing written).
    pub duplicates: u64,
}

/// See the [crate docs](crate). Cheap to clone: clones share the
/// connection.
#[derive(Clone)]
pub struct RedisFrontier {
    crawl: String,
    prefix: String,
    url: String,
    limits: Limits,
    client: redis::Client,
    conn: ConnectionManager,
    scripts: Arc<Scripts>,
    /// Connections for `XREAD BLOCK`, which would hold up the shared one.
    blocking: Arc<Mutex<Vec<MultiplexedConnection>>>,
}

impl fmt::Debug for RedisFrontier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisFrontier")
            .field("url", &self.url)
            .field("prefix", &self.prefix)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl RedisFrontier {
    /// Connects to the Redis at `url` (`redis://[:password@]host[:port][/db]`)
    /// for the crawl named `crawl` (letters, digits, `.`, `_`, `-`): all its
    /// keys are prefixed `crawlbox:{crawl}:`. `limits` as in
    /// [`crawlbox_frontier`]: give every worker of a crawl the same.
    ///
    /// Fails at once (within [`CONNECT_TIMEOUT`]) if Redis cannot be reached
    /// or is older than 6.2; commands time out after [`RESPONSE_TIMEOUT`],
    /// and a lost connection is re-opened on the next call.
    pub async fn connect(url: &str, crawl: &str, limits: Limits) -> Result<Self, Error> {
        let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if crawl.is_empty() || crawl.len() > 100 || !crawl.chars().all(valid) {
            return Err(Error::BadCrawlName(crawl.to_owned()));
        }
        let shown = mask_password(url);
        let client = redis::Client::open(url).map_err(|cause| Error::BadUrl {
            url: shown.clone(),
            cause,
        })?;
        let connect_error = |cause| Error::Connect {
            url: shown.clone(),
            cause,
        };
        let mut probe = client
            .get_multiplexed_async_connection_with_config(&blocking_config())
            .await
            .map_err(connect_error)?;
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut probe)
            .await
            .map_err(connect_error)?;
        let version = info
            .lines()
            .find_map(|line| line.strip_prefix("redis_version:"))
            .unwrap_or("0")
            .trim()
            .to_owned();
        let mut numbers = version.split('.').map(|n| n.parse::<u32>().unwrap_or(0));
        let (major, minor) = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
        if (major, minor) < (6, 2) {
            return Err(Error::OldRedis {
                url: shown,
                version,
            });
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let conn = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .map_err(connect_error)?;
        Ok(Self {
            crawl: crawl.to_owned(),
            prefix: format!("crawlbox:{{{crawl}}}:"),
            url: shown,
            limits,
            client,
            conn,
            scripts: Arc::new(Scripts::new()),
            blocking: Arc::new(Mutex::new(vec![probe])),
        })
    }

    /// The crawl's name.
    pub fn crawl(&self) -> &str {
        &self.crawl
    }

    /// The limits in force (given to [`connect`](Self::connect), or
    /// [adopted](Self::adopt_limits) from the crawl).
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Records this connection's limits as the crawl's, unless the crawl has
    /// limits already; returns the crawl's limits (the first recorded win).
    /// The seeder calls this, so that workers can [adopt](Self::adopt_limits)
    /// them instead of being given the same flags.
    pub async fn record_limits(&self) -> Result<Limits, Error> {
        let key = self.key("limits");
        let mut conn = self.conn.clone();
        let encode = |v: Option<u64>| v.map_or_else(|| "none".to_owned(), |v| v.to_string());
        let _: () = redis::pipe()
            .atomic()
            .cmd("HSETNX")
            .arg(&key)
            .arg("max_pages")
            .arg(encode(self.limits.max_pages))
            .ignore()
            .cmd("HSETNX")
            .arg(&key)
            .arg("max_depth")
            .arg(encode(self.limits.max_depth.map(u64::from)))
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(Error::redis("recording the crawl's limits"))?;
        Ok(self.recorded_limits().await?.unwrap_or(self.limits))
    }

    /// The limits the crawl was seeded with, if it recorded any.
    pub async fn recorded_limits(&self) -> Result<Option<Limits>, Error> {
        let values: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(self.key("limits"))
            .arg(&["max_pages", "max_depth"])
            .query_async(&mut self.conn.clone())
            .await
            .map_err(Error::redis("reading the crawl's limits"))?;
        let decode = |v: &Option<String>| -> Result<Option<u64>, Error> {
            match v.as_deref() {
                None | Some("none") => Ok(None),
                Some(n) => n
                    .parse()
                    .map(Some)
                    .map_err(|e| Error::malformed("a recorded limit", e)),
            }
        };
        if values.iter().all(Option::is_none) {
            return Ok(None);
        }
        let max_depth = decode(&values[1])?
            .map(|d| u32::try_from(d).map_err(|e| Error::malformed("a recorded limit", e)))
            .transpose()?;
        Ok(Some(Limits {
            max_pages: decode(&values[0])?,
            max_depth,
        }))
    }

    /// Uses the crawl's recorded limits from now on, if it has any; returns
    /// the limits in force.
    pub async fn adopt_limits(&mut self) -> Result<Limits, Error> {
        if let Some(limits) = self.recorded_limits().await? {
            self.limits = limits;
        }
        Ok(self.limits)
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn max_pages_arg(&self) -> i64 {
        self.limits
            .max_pages
            .map_or(-1, |max| i64::try_from(max).unwrap_or(i64::MAX))
    }

    /// Stores the spider component under its content hash (BLAKE3, hex) and
    /// records it as the crawl's component; returns the hash. Publishing the
    /// same component again is harmless; a different one is refused
    /// ([`Error::ComponentMismatch`]).
    pub async fn publish_component(&self, wasm: &[u8]) -> Result<String, Error> {
        let hash = blake3::hash(wasm).to_hex().to_string();
        let current: Option<String> = self
            .scripts
            .publish
            .key(self.key("component"))
            .key(self.key(&format!("component:{hash}")))
            .arg(&hash)
            .arg(wasm)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(Error::redis("publishing the component"))?;
        match current {
            Some(published) => Err(Error::ComponentMismatch {
                crawl: self.crawl.clone(),
                published,
                offered: hash,
            }),
            None => Ok(hash),
        }
    }

    /// The crawl's component: its hash and bytes, the bytes checked against
    /// the hash ([`Error::NoComponent`] if none was published,
    /// [`Error::ComponentCorrupt`] if they do not match).
    pub async fn component(&self) -> Result<(String, Vec<u8>), Error> {
        let mut conn = self.conn.clone();
        let hash: Option<String> = redis::cmd("GET")
            .arg(self.key("component"))
            .query_async(&mut conn)
            .await
            .map_err(Error::redis("reading the component hash"))?;
        let Some(hash) = hash else {
            return Err(Error::NoComponent {
                crawl: self.crawl.clone(),
            });
        };
        let bytes: Option<Vec<u8>> = redis::cmd("GET")
            .arg(self.key(&format!("component:{hash}")))
            .query_async(&mut conn)
            .await
            .map_err(Error::redis("reading the component"))?;
        let found = bytes.as_deref().map_or_else(
            || "nothing".to_owned(),
            |b| blake3::hash(b).to_hex().to_string(),
        );
        match bytes {
            Some(bytes) if found == hash => Ok((hash, bytes)),
            _ => Err(Error::ComponentCorrupt {
                crawl: self.crawl.clone(),
                expected: hash,
                found,
            }),
        }
    }

    /// Checks offers locally (depth) and lays out the valid ones as
    /// script arguments: `None` where Redis decides.
    fn prepare(&self, offers: Vec<Offer>) -> Result<(Vec<Option<Push>>, Vec<String>), Error> {
        let mut outcomes = Vec::with_capacity(offers.len());
        let mut args = Vec::new();
        for offer in offers {
            if self.limits.max_depth.is_some_and(|max| offer.depth > max) {
                outcomes.push(Some(Push::TooDeep));
                continue;
            }
            let fingerprint = crawlbox_frontier::fingerprint(&offer.request);
            let entry = Entry {
                fingerprint,
                request: offer.request,
                meta: offer.meta,
                priority: offer.priority,
                depth: offer.depth,
            };
            let json =
                serde_json::to_string(&entry).map_err(|e| Error::malformed("an entry", e))?;
            args.push(entry.fingerprint);
            args.push(entry.priority.to_string());
            args.push(json);
            outcomes.push(None);
        }
        Ok((outcomes, args))
    }

    /// Fills in Redis's answers (1 queued, 0 seen).
    fn outcomes(prepared: Vec<Option<Push>>, answers: &[i64]) -> Result<Vec<Push>, Error> {
        let mut answers = answers.iter();
        prepared
            .into_iter()
            .map(|outcome| match outcome {
                Some(push) => Ok(push),
                None => match answers.next() {
                    Some(1) => Ok(Push::Added),
                    Some(_) => Ok(Push::Seen),
                    None => Err(Error::malformed("a push reply", "too few answers")),
                },
            })
            .collect()
    }

    /// Queues requests, like [`crawlbox_frontier::Frontier::push`] for a
    /// batch, in one atomic step: one [`Push`] per offer, in order. A request
    /// seen before (in this crawl, by any worker, or earlier in the batch)
    /// is [`Push::Seen`].
    pub async fn push(&self, offers: Vec<Offer>) -> Result<Vec<Push>, Error> {
        let (prepared, args) = self.prepare(offers)?;
        if args.is_empty() {
            return Self::outcomes(prepared, &[]);
        }
        let mut invocation = self.scripts.push.arg(&self.prefix);
        for arg in &args {
            invocation.arg(arg);
        }
        let answers: Vec<i64> = invocation
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(Error::redis("queueing requests"))?;
        Self::outcomes(prepared, &answers)
    }

    /// Takes up to `max` pages for `consumer` (a name unique among the
    /// crawl's live workers, e.g. host and process id): first pages that
    /// other consumers have held for longer than `reclaim_after` (they died,
    /// or are too slow), then new ones, highest priority first, within
    /// [`Limits::max_pages`].
    ///
    /// When there is nothing to take, waits up to `block` for requests to be
    /// queued (looking for reclaimable pages again every half
    /// `reclaim_after`, at most every 10 ms); empty after that, and at once
    /// when the crawl [is finished](Self::is_finished).
    ///
    /// Commit each page with [`complete`](Self::complete) well within
    /// `reclaim_after`, or another consumer takes it over (or this one gets
    /// it again: a page held that long counts as lost, whoever holds it).
    /// Push the start requests before workers claim: a crawl nothing was
    /// pushed to is finished.
    pub async fn claim(
        &self,
        consumer: &str,
        max: usize,
        block: Duration,
        reclaim_after: Duration,
    ) -> Result<Vec<Claimed>, Error> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let deadline = Instant::now() + block;
        let tick = (reclaim_after / 2).max(MIN_RECLAIM_TICK);
        let min_idle = u64::try_from(reclaim_after.as_millis()).unwrap_or(u64::MAX);
        loop {
            type Reply = (Vec<(String, String, u64, u8)>, String, u8);
            let (rows, wake_id, finished): Reply = self
                .scripts
                .claim
                .arg(&self.prefix)
                .arg(consumer)
                .arg(max)
                .arg(self.max_pages_arg())
                .arg(min_idle)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(Error::redis("claiming pages"))?;
            if !rows.is_empty() {
                let claimed = rows
                    .into_iter()
                    .map(|(id, json, deliveries, reclaimed)| {
                        let entry = serde_json::from_str(&json)
                            .map_err(|e| Error::malformed("a queued entry", e))?;
                        Ok(Claimed {
                            id,
                            entry,
                            deliveries,
                            reclaimed: reclaimed == 1,
                        })
                    })
                    .collect::<Result<Vec<_>, Error>>()?;
                let reclaimed = claimed.iter().filter(|c| c.reclaimed).count();
                if reclaimed > 0 {
                    tracing::debug!(consumer, reclaimed, "took over pages of another consumer");
                }
                return Ok(claimed);
            }
            let now = Instant::now();
            if finished == 1 || now >= deadline {
                return Ok(Vec::new());
            }
            self.wait_for_wake(&wake_id, (deadline - now).min(tick))
                .await?;
        }
    }

    /// Waits up to `wait` for the `wake` stream to move past `seen`.
    async fn wait_for_wake(&self, seen: &str, wait: Duration) -> Result<(), Error> {
        let idle = self.blocking.lock().ok().and_then(|mut idle| idle.pop());
        let mut conn = match idle {
            Some(conn) => conn,
            None => self
                .client
                .get_multiplexed_async_connection_with_config(&blocking_config())
                .await
                .map_err(Error::redis("connecting for a blocking wait"))?,
        };
        let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut read = redis::cmd("XREAD");
        read.arg("BLOCK")
            .arg(ms)
            .arg("STREAMS")
            .arg(self.key("wake"))
            .arg(seen);
        let read = read.query_async::<redis::Value>(&mut conn);
        match tokio::time::timeout(wait + CONNECT_TIMEOUT, read).await {
            Ok(Ok(_)) => {
                if let Ok(mut idle) = self.blocking.lock()
                    && idle.len() < IDLE_BLOCKING_CONNECTIONS
                {
                    idle.push(conn);
                }
                Ok(())
            }
            Ok(Err(e)) => Err(Error::redis("waiting for work")(e)),
            // A server that does not answer in time: drop the connection,
            // the caller's next command tells whether it is gone.
            Err(_elapsed) => Ok(()),
        }
    }

    /// Commits a finished page atomically: unless its fingerprint was
    /// committed before, records it done, appends `items` (JSON texts, one
    /// stream entry each) to the crawl's items in order, queues the
    /// `follows` (dedup'd and depth-limited as by [`push`](Self::push)),
    /// and acknowledges it. A page committed before (a consumer that held it
    /// earlier, thought dead, finished after all) is only acknowledged and
    /// counted a duplicate: items are written once per page.
    ///
    /// With `error`, the page counts as failed: its items are ignored, the
    /// error is kept in the `failures` stream, follow-ups are still queued.
    pub async fn complete(
        &self,
        claimed: &Claimed,
        items: &[String],
        follows: Vec<Offer>,
        error: Option<&str>,
    ) -> Result<Completion, Error> {
        let (prepared, args) = self.prepare(follows)?;
        let items = if error.is_some() { &[][..] } else { items };
        let entry = &claimed.entry;
        let mut invocation = self.scripts.complete.arg(&self.prefix);
        invocation
            .arg(&entry.fingerprint)
            .arg(entry.priority)
            .arg(&claimed.id)
            .arg(self.max_pages_arg())
            .arg(error.unwrap_or_default())
            .arg(entry.request.url.as_str())
            .arg(items.len());
        for item in items {
            invocation.arg(item);
        }
        for arg in &args {
            invocation.arg(arg);
        }
        let (duplicate, answers): (u8, Vec<i64>) = invocation
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(Error::redis("committing a page"))?;
        if duplicate == 1 {
            let follows = prepared
                .into_iter()
                .map(|outcome| outcome.unwrap_or(Push::Seen))
                .collect();
            return Ok(Completion {
                duplicate: true,
                follows,
            });
        }
        Ok(Completion {
            duplicate: false,
            follows: Self::outcomes(prepared, &answers)?,
        })
    }

    /// Reserves the next send to `host` for all workers of the crawl: sends
    /// granted for one host are at least `interval` apart on Redis's clock
    /// (the first one, or one after a pause, at once). Wait
    /// [`HostSlot::wait`] before sending. Different hosts do not delay each
    /// other.
    pub async fn reserve_host_slot(
        &self,
        host: &str,
        interval: Duration,
    ) -> Result<HostSlot, Error> {
        let micros = u64::try_from(interval.as_micros()).unwrap_or(u64::MAX);
        let (wait, at): (u64, u64) = self
            .scripts
            .host_slot
            .arg(&self.prefix)
            .arg(host)
            .arg(micros)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(Error::redis("reserving a host slot"))?;
        Ok(HostSlot {
            wait: Duration::from_micros(wait),
            send_at: Duration::from_micros(at),
        })
    }

    /// Whether the crawl is over: nothing pending (claimed and not
    /// committed), and nothing queued or the page limit reached. True for a
    /// crawl nothing was ever pushed to.
    pub async fn is_finished(&self) -> Result<bool, Error> {
        let counts = self.counts().await?;
        let limit_reached = self
            .limits
            .max_pages
            .is_some_and(|max| counts.started >= max);
        Ok(counts.pending == 0 && (counts.queued == 0 || limit_reached))
    }

    /// The crawl's counts, read at one instant.
    pub async fn counts(&self) -> Result<Counts, Error> {
        let values: Vec<Option<u64>> = redis::cmd("HMGET")
            .arg(self.key("stats"))
            .arg(&["seen", "started", "done", "failed", "items", "duplicates"])
            .query_async(&mut self.conn.clone())
            .await
            .map_err(Error::redis("reading the counts"))?;
        let get = |i: usize| values.get(i).copied().flatten().unwrap_or(0);
        let (seen, started, done) = (get(0), get(1), get(2));
        Ok(Counts {
            seen,
            started,
            done,
            failed: get(3),
            queued: seen.saturating_sub(started),
            pending: started.saturating_sub(done),
            items: get(4),
            duplicates: get(5),
        })
    }

    /// Writes every committed item, in commit order, to `out` as JSON Lines
    /// (each item as stored, then a newline), [`EXPORT_PAGE`] items per
    /// Redis call; returns how many.
    pub async fn export(&self, out: &mut (dyn std::io::Write + Send)) -> Result<u64, Error> {
        let key = self.key("items");
        let mut conn = self.conn.clone();
        let mut start = "-".to_owned();
        let mut written = 0u64;
        loop {
            let page: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
                .arg(&key)
                .arg(&start)
                .arg("+")
                .arg("COUNT")
                .arg(EXPORT_PAGE)
                .query_async(&mut conn)
                .await
                .map_err(Error::redis("reading the items"))?;
            let full = page.len() == EXPORT_PAGE;
            for (id, fields) in &page {
                let item = match fields.as_slice() {
                    [name, item] if name == "item" => item,
                    _ => return Err(Error::malformed("an item", format!("entry {id}"))),
                };
                out.write_all(item.as_bytes())?;
                out.write_all(b"\n")?;
                written += 1;
            }
            match page.last() {
                Some((id, _)) if full => start = format!("({id}"),
                _ => break,
            }
        }
        out.flush()?;
        Ok(written)
    }

    /// Deletes every key of the crawl (to start it over); returns how many.
    pub async fn clear(&self) -> Result<u64, Error> {
        let mut conn = self.conn.clone();
        let pattern = format!("{}*", self.prefix.replace('{', "\\{").replace('}', "\\}"));
        let mut cursor = 0u64;
        let mut deleted = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .map_err(Error::redis("listing the crawl's keys"))?;
            if !keys.is_empty() {
                let n: u64 = redis::cmd("UNLINK")
                    .arg(&keys)
                    .query_async(&mut conn)
                    .await
                    .map_err(Error::redis("deleting the crawl's keys"))?;
                deleted += n;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }
}

/// For connections that block: no response timeout of their own.
fn blocking_config() -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(None)
}

/// The URL with its password (if any) masked, for messages.
fn mask_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.into()
        }
        Ok(_) => url.to_owned(),
        Err(_) => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            mask_password("redis://:hunter2@example.com:6380/1"),
            "redis://:***@example.com:6380/1"
        );
        assert_eq!(mask_password("redis://127.0.0.1/"), "redis://127.0.0.1/");
    }
}
