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
//! | 2xx                                      | parsed (first 500 KiB)      |
//! | redirects                                | followed (5 hops), then as the final answer |
//! | 4xx (none, forbidden, …)                 | everything allowed          |
//! | 5xx                                      | everything disallowed (`denied-by-robots`), tried again after 30 s |
//! | no connection, DNS, TLS error, timeout   | the same, but failing with that error (the site is down) |
//!
//! `Crawl-delay` widens the host's least delay between requests (capped at
//! 30 s). The fetch itself is a request of the session that needed it: it
//! shows in that run's stats, and obeys its egress policy.

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
        match Robot::new(agent, body) {
            Ok(robot) => Rules::Parsed(Box::new(robot)),
            // The parser is forgiving; what it still refuses holds no rules
            // we could follow.
            Err(_) => Rules::AllowAll,
        }
    }

    /// `Crawl-delay`, capped.
    fn crawl_delay(&self) -> Option<Duration> {
        match self {
            Rules::Parsed(robot) => robot
                .delay
                .filter(|d| d.is_finite() && *d > 0.0)
                .map(|d| Duration::from_secs_f32(d).min(MAX_CRAWL_DELAY)),
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
            // The site is down: say so, as the request itself would have.
            Rules::Unreachable { error, .. } => Err(FetchError::new(
                error.kind,
                format!(
                    "{url}: fetching {origin}/robots.txt first: {}",
                    error.message
                ),
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
            ErrorKind::TooManyRedirects => Some(Rules::AllowAll),
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
    /// failure that is not the site's caches nothing, and the request goes
    /// on to meet its own refusal).
    pub(crate) async fn check<F, Fut>(
        &self,
        origin: &HostKey,
        url: &url::Url,
        fetch: F,
    ) -> Result<Option<Duration>, FetchError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(u16, bytes::Bytes), FetchError>>,
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
                    Err(e) => Rules::from_error(&e).ok_or(()),
                }
            })
            .await;
        match rules {
            Ok(rules) => {
                rules.check(url, origin, &self.agent)?;
                // Only the fetch that got the rules reports the crawl delay.
                Ok(if fresh { rules.crawl_delay() } else { None })
            }
            Err(()) => Ok(None),
        }
    }
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
        assert!(err.message.contains("robots.txt first: refused"), "{err}");
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
                    Err(FetchError::new(ErrorKind::Denied, "never asked"))
                })
                .await
                .is_ok()
        );
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
