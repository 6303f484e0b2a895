//! robots.txt, per RFC 9309, parsed by `texting_robots`.
//!
//! Each site (scheme, host, port) has its robots.txt fetched once per
//! client, by the first request that needs it (concurrent requests wait for
//! that one fetch), and the rules for the client's user-agent token (the
//! `user_agent` up to the first `/` or space: `crawlbox` by default) are
//! kept for every later request, on both guest paths and every redirect hop.
//!
//! | robots.txt answer                        | rules                       |
//! |------------------------------------------|-----------------------------|
//! | 2xx                                      | parsed (first 500 KiB, at most 1,000 `$` rules) |
//! | redirects                                | followed (5 hops), then as the final answer |
//! | 4xx (none, forbidden, …)                 | everything allowed          |
//! | 5xx                                      | everything disallowed (`denied-by-robots`), tried again after 30 s |
//! | no connection, DNS, TLS error, timeout   | the same, but failing with that error (the site is down) |
//! | a timeout of the needing request's own, tighter limits | that request fails; nothing is cached |
//!
//! `Crawl-delay` widens the host's least delay between requests (capped at
//! 30 s, whatever the file says). The fetch itself is a request of the
//! session that needed it: it shows in that run's stats, obeys its egress
//! policy, and runs under the timeouts of the request that needed it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use texting_robots::Robot;
use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::pool::HostKey;
use crate::{ErrorKind, FetchError};

/// How long a site whose robots.txt could not be fetched stays disallowed
/// before the next try.
const UNREACHABLE_RETRY: Duration = Duration::from_secs(30);
/// The most of a robots.txt that is read (RFC 9309 asks for at least 500 KiB).
const MAX_ROBOTS_BYTES: usize = 500 * 1024;
/// Redirects followed to reach a robots.txt (RFC 9309: at least five).
pub(crate) const MAX_ROBOTS_REDIRECTS: u32 = 5;
/// The longest `Crawl-delay` honoured.
const MAX_CRAWL_DELAY: Duration = Duration::from_secs(30);
/// Rules with a `$` (each compiled to a regular expression) kept per
/// robots.txt; see [`bound_anchored_rules`].
const MAX_ANCHORED_RULES: usize = 1000;

/// What a site's robots.txt says for this client's agent.
#[derive(Debug)]
enum Rules {
    /// No robots.txt (4xx): everything allowed.
    AllowAll,
    /// Parsed rules.
    Parsed(Box<Robot>),
    /// robots.txt was unreachable: everything disallowed until `until`,
    /// failing with `error`'s kind.
    Unreachable { error: FetchError, until: Instant },
}

impl Rules {
    /// The rules of a robots.txt body.
    fn parse(agent: &str, body: &[u8]) -> Self {
        let body = &body[..body.len().min(MAX_ROBOTS_BYTES)];
        let body = bound_anchored_rules(body);
        match Robot::new(agent, &body) {
            Ok(robot) => Rules::Parsed(Box::new(robot)),
            // The parser is forgiving; what it still refuses holds no rules
            // we could follow.
            Err(_) => Rules::AllowAll,
        }
    }

    /// `Crawl-delay`, capped.
    fn crawl_delay(&self) -> Option<Duration> {
        match self {
            Rules::Parsed(robot) => robot.delay.and_then(crawl_delay),
            _ => None,
        }
    }

    /// `Ok` if `url` may be fetched.
    fn check(&self, url: &url::Url, origin: &HostKey, agent: &str) -> Result<(), FetchError> {
        match self {
            Rules::AllowAll => Ok(()),
            Rules::Parsed(robot) => {
                let path = match url.query() {
                    Some(query) => format!("{}?{query}", url.path()),
                    None => url.path().to_owned(),
                };
                if robot.allowed(&path) {
                    Ok(())
                } else {
                    Err(FetchError::new(
                        ErrorKind::DeniedByRobots,
                        format!(
                            "{url}: disallowed by {origin}/robots.txt for user agent \
                             {agent:?} (--ignore-robots to crawl it anyway)"
                        ),
                    ))
                }
            }
            Rules::Unreachable { error, .. } if error.kind == ErrorKind::DeniedByRobots => {
                Err(FetchError::new(
                    ErrorKind::DeniedByRobots,
                    format!(
                        "{url}: {origin}/robots.txt could not be fetched ({}), so the site \
                         counts as disallowed for now (RFC 9309); --ignore-robots to crawl anyway",
                        error.message
                    ),
                ))
            }
            // The site is down: say so, with the error the fetch met.
            Rules::Unreachable { error, .. } => Err(fetch_failed(
                origin,
                url,
                error,
                "the site counts as down: robots.txt is tried again 30 s after the failure",
            )),
        }
    }

    fn expired(&self, now: Instant) -> bool {
        matches!(self, Rules::Unreachable { until, .. } if *until <= now)
    }

    /// What to make of a robots.txt fetch that failed with `err`: `None`
    /// when the failure says nothing about the site (the run's own policy
    /// or budget refused it), so nothing is cached.
    fn from_error(err: &FetchError) -> Option<Self> {
        match err.kind {
            ErrorKind::Denied | ErrorKind::InvalidRequest | ErrorKind::DeniedByRobots => None,
            // An endless or over-long redirect chain: as if there were none.
            // A replay of a run that did not fetch robots.txt (it ignored
            // it): the recording holds what the site allowed then.
            ErrorKind::TooManyRedirects | ErrorKind::NotRecorded => Some(Rules::AllowAll),
            _ => Some(Rules::unreachable(err.clone())),
        }
    }

    /// The rules for an answer with `status` and `body`.
    fn from_response(agent: &str, status: u16, body: &[u8]) -> Self {
        match status {
            200..=299 => Rules::parse(agent, body),
            400..=499 => Rules::AllowAll,
            _ => Rules::unreachable(FetchError::new(
                ErrorKind::DeniedByRobots,
                format!("status {status}"),
            )),
        }
    }

    fn unreachable(error: FetchError) -> Self {
        Rules::Unreachable {
            error,
            until: Instant::now() + UNREACHABLE_RETRY,
        }
    }
}

/// Why a robots.txt fetch brought no answer.
#[derive(Debug)]
pub(crate) enum RobotsFailure {
    /// The fetch failed (or was refused before it was sent): what that says
    /// about the site is [`Rules::from_error`]'s to decide.
    Fetch(FetchError),
    /// A limit of the request that needed robots.txt, tighter than the
    /// client's own (a guest's short timeout), ran out. That says nothing
    /// about the site, so nothing is cached: otherwise one plugin's 1 ms
    /// timeout would make a shared site count as down for every plugin for
    /// 30 s. The request that needed it fails; the next one tries again.
    OwnLimit(FetchError),
}

/// The error of a request that was not sent because `origin`'s robots.txt
/// could not be fetched: it reads as the robots.txt fetch's failure (its
/// URL first), keeps that failure's kind and timeout phase, and says what
/// happens next (`then`).
fn fetch_failed(origin: &HostKey, url: &url::Url, error: &FetchError, then: &str) -> FetchError {
    // The fetch's own messages start with the robots.txt URL: say it once.
    let inner = match error.message.split_once("/robots.txt: ") {
        Some((head, rest)) if !head.contains(' ') => rest,
        _ => &error.message,
    };
    FetchError {
        kind: error.kind,
        message: format!(
            "{origin}/robots.txt: the robots.txt fetch failed, so {url} was not sent \
             ({then}): {inner}"
        ),
        timeout: error.timeout,
    }
}

/// The robots.txt rules of every site this client has met.
#[derive(Debug)]
pub(crate) struct RobotsCache {
    agent: String,
    sites: Mutex<HashMap<HostKey, Arc<OnceCell<Rules>>>>,
}

impl RobotsCache {
    pub(crate) fn new(user_agent: &str) -> Self {
        Self {
            agent: agent_token(user_agent),
            sites: Mutex::new(HashMap::new()),
        }
    }

    /// Checks `url` (at `origin`) against that site's rules, getting them
    /// with `fetch` first if no request has yet: `fetch` answers the status
    /// and body of the site's robots.txt, or why it could not get them (a
    /// refusal that is not the site's caches nothing, and the request goes
    /// on to meet its own refusal; a failure under the request's own
    /// tighter limits caches nothing and fails the request).
    pub(crate) async fn check<F, Fut>(
        &self,
        origin: &HostKey,
        url: &url::Url,
        fetch: F,
    ) -> Result<Option<Duration>, FetchError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(u16, bytes::Bytes), RobotsFailure>>,
    {
        if url.path() == "/robots.txt" {
            return Ok(None);
        }
        let cell = {
            let mut sites = self.sites.lock().expect("robots lock");
            let cell = sites.entry(origin.clone()).or_default();
            if cell
                .get()
                .is_some_and(|rules| rules.expired(Instant::now()))
            {
                *cell = Arc::default();
            }
            cell.clone()
        };
        let mut fresh = false;
        let rules = cell
            .get_or_try_init(|| async {
                fresh = true;
                match fetch().await {
                    Ok((status, body)) => Ok(Rules::from_response(&self.agent, status, &body)),
                    Err(RobotsFailure::Fetch(e)) => Rules::from_error(&e).ok_or(None),
                    Err(RobotsFailure::OwnLimit(e)) => Err(Some(e)),
                }
            })
            .await;
        match rules {
            Ok(rules) => {
                rules.check(url, origin, &self.agent)?;
                // Only the fetch that got the rules reports the crawl delay.
                Ok(if fresh { rules.crawl_delay() } else { None })
            }
            Err(None) => Ok(None),
            Err(Some(e)) => Err(fetch_failed(
                origin,
                url,
                &e,
                "under this request's own, tighter timeouts; nothing is cached, \
                 the next request tries again",
            )),
        }
    }
}

/// A `Crawl-delay` value (seconds, as the site wrote it) as a delay: capped
/// at [`MAX_CRAWL_DELAY`]. The value is the site's, so anything goes:
/// `Duration::from_secs_f32` panics on `1e30`, which would take the whole
/// process (every plugin) down for one hostile robots.txt. A value too
/// large for a `Duration` (or infinite) is the cap; zero, negative, NaN and
/// values that round to nothing mean no delay.
fn crawl_delay(seconds: f32) -> Option<Duration> {
    if seconds.is_nan() || seconds <= 0.0 {
        return None;
    }
    let delay = Duration::try_from_secs_f64(f64::from(seconds)).unwrap_or(MAX_CRAWL_DELAY);
    Some(delay.min(MAX_CRAWL_DELAY)).filter(|d| !d.is_zero())
}

/// `body` with at most [`MAX_ANCHORED_RULES`] lines holding a `$`.
///
/// texting_robots compiles each rule with a `$` into a regular expression
/// (~10 KB and ~80 µs each, measured): 500 KiB of `Disallow: /a*b$` lines,
/// a robots.txt any site can serve, cost the host ~200 MB and 2 s of the
/// thread that parses it, per site. With the cap: ~10 MB and 0.1 s. Past the cap, lines are made cheaper in the
/// safe direction: an `Allow` is dropped (less is allowed), any other line
/// loses its `$` (a `Disallow` then matches every URL it matched, and more).
fn bound_anchored_rules(body: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let anchored = body
        .split(|&b| b == b'\n')
        .filter(|line| line.contains(&b'$'))
        .count();
    if anchored <= MAX_ANCHORED_RULES {
        return std::borrow::Cow::Borrowed(body);
    }
    let mut out = Vec::with_capacity(body.len());
    let mut kept = 0;
    for line in body.split(|&b| b == b'\n') {
        if line.contains(&b'$') {
            kept += 1;
            if kept > MAX_ANCHORED_RULES {
                let key = line.split(|&b| b == b':').next().unwrap_or_default();
                if key.trim_ascii().eq_ignore_ascii_case(b"allow") {
                    continue;
                }
                out.extend(line.iter().filter(|&&b| b != b'$'));
                out.push(b'\n');
                continue;
            }
        }
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    std::borrow::Cow::Owned(out)
}

/// `crawlbox` of `crawlbox/0.1 (+https://…)`.
fn agent_token(user_agent: &str) -> String {
    let token: String = user_agent
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .collect();
    if token.is_empty() {
        "crawlbox".to_owned()
    } else {
        token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROBOTS: &[u8] = b"User-agent: *\nDisallow: /private\n\n\
        User-agent: crawlbox\nDisallow: /page/1\nAllow: /page/10\nCrawl-delay: 0.5\n";

    fn origin() -> HostKey {
        HostKey::from_uri(&"http://example.com/".parse().unwrap()).unwrap()
    }

    fn url(path: &str) -> url::Url {
        url::Url::parse(&format!("http://example.com{path}")).unwrap()
    }

    #[test]
    fn agent_token_is_the_product() {
        assert_eq!(agent_token(crate::config::DEFAULT_USER_AGENT), "crawlbox");
        assert_eq!(agent_token("MyBot/2.0"), "MyBot");
        assert_eq!(agent_token("/"), "crawlbox");
    }

    #[test]
    fn rules_for_our_group_win() {
        let rules = Rules::from_response("crawlbox", 200, ROBOTS);
        assert!(rules.check(&url("/page/2"), &origin(), "crawlbox").is_ok());
        let err = rules
            .check(&url("/page/1"), &origin(), "crawlbox")
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::DeniedByRobots);
        assert!(err.message.contains("--ignore-robots"), "{err}");
        assert!(rules.check(&url("/page/10"), &origin(), "crawlbox").is_ok());
        // The `*` group does not apply to an agent with a group of its own.
        assert!(rules.check(&url("/private"), &origin(), "crawlbox").is_ok());
        assert_eq!(rules.crawl_delay(), Some(Duration::from_millis(500)));
        let other = Rules::from_response("otherbot", 200, ROBOTS);
        assert!(
            other
                .check(&url("/private/x"), &origin(), "crawlbox")
                .is_err()
        );
    }

    #[test]
    fn statuses_per_rfc_9309() {
        assert!(matches!(
            Rules::from_response("a", 404, b""),
            Rules::AllowAll
        ));
        assert!(matches!(
            Rules::from_response("a", 403, b""),
            Rules::AllowAll
        ));
        let down = Rules::from_response("a", 503, b"");
        let err = down.check(&url("/"), &origin(), "crawlbox").unwrap_err();
        assert!(err.message.contains("status 503"), "{err}");
        assert_eq!(err.kind, ErrorKind::DeniedByRobots);
        let refused = FetchError::new(ErrorKind::Connect, "refused");
        let down = Rules::from_error(&refused).unwrap();
        let err = down.check(&url("/x"), &origin(), "crawlbox").unwrap_err();
        assert_eq!(err.kind, ErrorKind::Connect);
        assert!(
            err.message.starts_with(
                "http://example.com:80/robots.txt: the robots.txt fetch failed, \
                 so http://example.com/x was not sent"
            ),
            "{err}"
        );
        assert!(err.message.ends_with("): refused"), "{err}");
        let denied = FetchError::new(ErrorKind::Denied, "budget");
        assert!(Rules::from_error(&denied).is_none());
    }

    #[tokio::test]
    async fn fetched_once_then_cached() {
        let cache = RobotsCache::new("crawlbox/1");
        let fetches = std::sync::atomic::AtomicU32::new(0);
        let fetch = || async {
            fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::task::yield_now().await;
            Ok((200, bytes::Bytes::from_static(ROBOTS)))
        };
        let (origin, a_url, b_url) = (origin(), url("/a"), url("/b"));
        let (a, b) = tokio::join!(
            cache.check(&origin, &a_url, fetch),
            cache.check(&origin, &b_url, fetch)
        );
        assert!(a.is_ok() && b.is_ok());
        assert!(cache.check(&origin, &url("/page/1"), fetch).await.is_err());
        assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 1);
        // robots.txt itself is never checked.
        assert!(
            cache
                .check(&origin, &url("/robots.txt"), || async {
                    Err(RobotsFailure::Fetch(FetchError::new(
                        ErrorKind::Denied,
                        "never asked",
                    )))
                })
                .await
                .is_ok()
        );
    }

    #[test]
    fn hostile_crawl_delays_neither_panic_nor_exceed_the_cap() {
        // Straight from the function, for values texting_robots may or may
        // not hand over...
        for (value, expected) in [
            (1e30, Some(MAX_CRAWL_DELAY)),
            (f32::MAX, Some(MAX_CRAWL_DELAY)),
            (f32::INFINITY, Some(MAX_CRAWL_DELAY)),
            (1e10, Some(MAX_CRAWL_DELAY)),
            (31.0, Some(MAX_CRAWL_DELAY)),
            (2.5, Some(Duration::from_millis(2500))),
            (f32::NAN, None),
            (-f32::NAN, None),
            (-1.0, None),
            (-1e30, None),
            (f32::NEG_INFINITY, None),
            (0.0, None),
            (-0.0, None),
            (1e-30, None),
        ] {
            assert_eq!(crawl_delay(value), expected, "Crawl-delay: {value}");
        }
        // ...and as a robots.txt says them.
        for (line, expected) in [
            ("1e30", Some(MAX_CRAWL_DELAY)),
            ("1e39", Some(MAX_CRAWL_DELAY)),
            ("inf", Some(MAX_CRAWL_DELAY)),
            ("NaN", None),
            ("-1", None),
            ("-inf", None),
            ("0", None),
            ("0.25", Some(Duration::from_millis(250))),
        ] {
            let body = format!("User-agent: *\nDisallow: /private\nCrawl-delay: {line}\n");
            let rules = Rules::from_response("crawlbox", 200, body.as_bytes());
            assert_eq!(rules.crawl_delay(), expected, "Crawl-delay: {line}");
            // The rest of the file still applies.
            assert!(
                rules
                    .check(&url("/private"), &origin(), "crawlbox")
                    .is_err()
            );
        }
    }

    #[test]
    fn a_robots_txt_of_regexes_is_bounded_and_errs_on_the_side_of_disallowing() {
        let mut body = String::from("User-agent: *\nAllow: /open$\nDisallow: /shut$\n");
        let mut rules = 2;
        // Just short of the 500 KiB read, so that the last lines count.
        while body.len() < MAX_ROBOTS_BYTES - 100 {
            body.push_str(&format!("Disallow: /a*b*{rules}$\n"));
            rules += 1;
        }
        body.push_str("Allow: /late$\nDisallow: /private$\n");
        let started = std::time::Instant::now();
        let rules = Rules::from_response("crawlbox", 200, body.as_bytes());
        // Unbounded: ~2 s and ~200 MB on a 2-core test machine.
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        let allowed = |path: &str| rules.check(&url(path), &origin(), "crawlbox").is_ok();
        // Within the cap, rules are as written...
        assert!(allowed("/open") && !allowed("/shut") && allowed("/shut/x"));
        assert!(!allowed("/a/b/7") && allowed("/a/b/7/x"));
        // ...past it, an Allow is gone and a Disallow covers more, not less.
        assert!(!allowed("/private") && !allowed("/private/x"));
        assert!(allowed("/late"), "no rule disallows it");
        assert!(!allowed("/a/b/99999") && !allowed("/a/b/99999/x"));
        // A file under the cap is parsed as it is.
        let small = b"User-agent: *\nDisallow: /x$\n";
        assert!(matches!(
            bound_anchored_rules(small),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[tokio::test]
    async fn a_failure_under_the_requests_own_limit_fails_it_and_caches_nothing() {
        let cache = RobotsCache::new("crawlbox");
        let timed_out = || async {
            Err(RobotsFailure::OwnLimit(FetchError::timeout(
                crate::TimeoutKind::FirstByte,
                "http://example.com/robots.txt: no response headers in time",
            )))
        };
        let err = cache
            .check(&origin(), &url("/a"), timed_out)
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Timeout);
        assert_eq!(err.timeout, Some(crate::TimeoutKind::FirstByte));
        assert!(
            err.message
                .starts_with("http://example.com:80/robots.txt: the robots.txt fetch failed"),
            "{err}"
        );
        assert!(err.message.contains("nothing is cached"), "{err}");
        assert!(
            err.message.ends_with("): no response headers in time"),
            "{err}"
        );
        // Nothing was cached: the next request fetches robots.txt itself.
        let ok = || async { Ok((200, bytes::Bytes::from_static(ROBOTS))) };
        assert!(cache.check(&origin(), &url("/a"), ok).await.is_ok());

        // A timeout under the client's own limits says the site is down:
        // cached, and every request meanwhile fails with it.
        let cache = RobotsCache::new("crawlbox");
        let down = || async {
            Err(RobotsFailure::Fetch(FetchError::timeout(
                crate::TimeoutKind::Connect,
                "connecting to http://example.com:80 took longer than 10s",
            )))
        };
        let err = cache.check(&origin(), &url("/a"), down).await.unwrap_err();
        assert_eq!(err.timeout, Some(crate::TimeoutKind::Connect));
        assert!(err.message.contains("the site counts as down"), "{err}");
        let never = || async { Ok((200, bytes::Bytes::new())) };
        let again = cache.check(&origin(), &url("/b"), never).await.unwrap_err();
        assert!(again.message.contains("http://example.com/b"), "{again}");
    }

    #[tokio::test(start_paused = true)]
    async fn unreachable_is_tried_again_later() {
        let cache = RobotsCache::new("crawlbox");
        let down = || async { Ok((500, bytes::Bytes::new())) };
        assert!(cache.check(&origin(), &url("/"), down).await.is_err());
        tokio::time::advance(UNREACHABLE_RETRY + Duration::from_secs(1)).await;
        let up = || async { Ok((404, bytes::Bytes::new())) };
        assert!(cache.check(&origin(), &url("/"), up).await.is_ok());
    }
}
