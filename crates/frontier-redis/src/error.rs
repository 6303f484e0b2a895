//! What can go wrong, each with what to do about it.

/// An error of a [`RedisFrontier`](crate::RedisFrontier) call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Redis URL does not parse.
    #[error(
        "invalid Redis URL {url}: {cause}; expected redis://[:password@]host[:port][/db] \
         (or rediss:// for TLS, unix:///path for a socket)"
    )]
    BadUrl {
        /// The URL, its password masked.
        url: String,
        /// Why (in the message already, so not a `source`: it would be
        /// printed twice).
        cause: redis::RedisError,
    },

    /// The first connection (and its `PING`) failed.
    #[error(
        "cannot reach Redis at {url}: {cause}; is redis-server running there, \
         and does the URL name the right host, port and password?"
    )]
    Connect {
        /// The URL, its password masked.
        url: String,
        /// Why (in the message already, so not a `source`: it would be
        /// printed twice).
        cause: redis::RedisError,
    },

    /// The server is too old for the commands this crate uses.
    #[error(
        "Redis at {url} is version {version}; crawlbox needs Redis 6.2 or later \
         (or a compatible server such as Valkey)"
    )]
    OldRedis {
        /// The URL, its password masked.
        url: String,
        /// The version the server reports.
        version: String,
    },

    /// A command failed after connecting (a lost connection is re-opened
    /// on the next call).
    #[error(
        "Redis command failed ({what}): {cause}; check that the server is up \
         and reachable (a lost connection is retried on the next call)"
    )]
    Redis {
        /// Which operation.
        what: &'static str,
        /// Why (in the message already, so not a `source`: it would be
        /// printed twice).
        cause: redis::RedisError,
    },

    /// The crawl name cannot be used in a key.
    #[error(
        "invalid crawl name {0:?}: use 1 to 100 characters among letters, \
         digits, '.', '_' and '-'"
    )]
    BadCrawlName(String),

    /// [`publish_component`](crate::RedisFrontier::publish_component) with a
    /// component other than the one the crawl already runs.
    #[error(
        "crawl {crawl:?} already runs component {published}, not {offered}: \
         workers of one crawl must run the same spider; use another crawl \
         name, or delete the crawl's keys (crawlbox:{{{crawl}}}:*) to start over"
    )]
    ComponentMismatch {
        /// The crawl.
        crawl: String,
        /// The BLAKE3 hash recorded for the crawl.
        published: String,
        /// The hash of the component offered.
        offered: String,
    },

    /// [`component`](crate::RedisFrontier::component) before any was
    /// published.
    #[error(
        "crawl {crawl:?} has no component: publish the spider first \
         (RedisFrontier::publish_component) before starting workers"
    )]
    NoComponent {
        /// The crawl.
        crawl: String,
    },

    /// The component's bytes are gone or do not match the recorded hash.
    #[error(
        "the component of crawl {crawl:?} in Redis is damaged: expected BLAKE3 \
         {expected}, found {found}; publish it again"
    )]
    ComponentCorrupt {
        /// The crawl.
        crawl: String,
        /// The hash recorded for the crawl.
        expected: String,
        /// What the stored bytes hash to (or "nothing" when they are gone).
        found: String,
    },

    /// Data in Redis that this crate did not write (or another version did).
    #[error(
        "malformed data in Redis ({what}): {detail}; was the key written by \
         another program or another crawlbox version?"
    )]
    Malformed {
        /// Which data.
        what: &'static str,
        /// What was wrong.
        detail: String,
    },

    /// Writing the export failed.
    #[error("cannot write the exported items: {0}")]
    Write(#[from] std::io::Error),
}

impl Error {
    pub(crate) fn redis(what: &'static str) -> impl FnOnce(redis::RedisError) -> Self {
        move |cause| Self::Redis { what, cause }
    }

    pub(crate) fn malformed(what: &'static str, detail: impl ToString) -> Self {
        Self::Malformed {
            what,
            detail: detail.to_string(),
        }
    }
}
