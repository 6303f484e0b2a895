//! Command-line arguments.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use crawlbox_frontier as frontier;
use crawlbox_net::{self as net, ClientConfig};

use crate::manifest::LimitOverrides;
use crate::units::{
    format_duration, format_size, parse_duration, parse_size, static_str, with_default,
};

#[cfg(test)]
mod docs;

/// Default `--reclaim-after`: pages a worker holds longer are taken over.
pub const DEFAULT_RECLAIM_AFTER: Duration = Duration::from_secs(120);

/// Run untrusted web-scraping plugins (WebAssembly components) through one
/// pooled, capped HTTP client. Records go to stdout (or --out) as JSON Lines;
/// logs, progress and the final stats go to stderr.
#[derive(Debug, Parser)]
#[command(name = "crawlbox", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a plugin.
    Run(RunArgs),
    /// Start the built-in demo site on 127.0.0.1 and crawl it with the
    /// example plugin, or with PLUGIN.wasm (a scraper or a spider).
    Demo(DemoArgs),
    /// Compile plugins ahead of time into the compile cache, so that `run`
    /// starts them without compiling.
    Compile(CompileArgs),
    /// Crawl with a spider (crawlbox:plugin/spider): the host owns the
    /// frontier; with --state DIR the crawl survives a crash and resumes;
    /// with --redis URL it is shared with `crawlbox worker`s.
    Crawl(CrawlArgs),
    /// Work on a crawl kept in Redis (started by `crawlbox crawl --redis`),
    /// beside any number of other workers on any machines.
    Worker(WorkerArgs),
    /// Write the items of a crawl kept in Redis as JSON Lines.
    Export(ExportArgs),
    /// Start a plugin project: its source, the SDK, the WIT, pinned build
    /// tools and a crawlbox.toml, ready for `crawlbox build`.
    New(NewArgs),
    /// Build the plugin project in DIR into DIR/NAME.wasm, with cargo,
    /// componentize-py or componentize-js (installed on first use).
    Build(BuildArgs),
    /// Write the crawlbox:plugin WIT (and the WASI packages it uses), for
    /// tools that want it.
    Wit(WitArgs),
    /// Fetch one URL and show what the spider's `parse` makes of it: its
    /// items and its follow requests.
    Parse(ParseCommandArgs),
    /// Render the HTML report of a run from its `--stats` file.
    Report(ReportArgs),
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The `--stats` file of a run, crawl, worker or demo.
    #[arg(value_name = "STATS.json")]
    pub stats: PathBuf,

    /// Where to write the report.
    #[arg(long, short, value_name = "FILE.html")]
    pub out: PathBuf,
}

/// A plugin's language, for `crawlbox new`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LanguageArg {
    Rust,
    Python,
    #[value(alias = "javascript")]
    Js,
}

impl From<LanguageArg> for crawlbox_kit::Language {
    fn from(lang: LanguageArg) -> Self {
        match lang {
            LanguageArg::Rust => crawlbox_kit::Language::Rust,
            LanguageArg::Python => crawlbox_kit::Language::Python,
            LanguageArg::Js => crawlbox_kit::Language::Js,
        }
    }
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The plugin's name: lower-case letters, digits and `-` (e.g. shop-spider).
    pub name: String,

    /// The language to write it in.
    #[arg(long, value_enum)]
    pub lang: LanguageArg,

    /// A spider (crawlbox:plugin/spider: the host drives the crawl, run with
    /// `crawlbox crawl`) instead of a scraper (the plugin drives it, `crawlbox run`).
    #[arg(long)]
    pub spider: bool,

    /// The folder to write [default: ./NAME].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Where the build tools are installed.
#[derive(Debug, Args)]
pub struct ToolsArgs {
    /// Install the build tools (componentize-py, componentize-js) here
    /// [default: $XDG_CACHE_HOME/crawlbox/tools, else ~/.cache/crawlbox/tools].
    #[arg(long, value_name = "DIR", env = "CRAWLBOX_TOOLS_DIR")]
    pub tools_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The project (the folder with its crawlbox.toml).
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,

    #[command(flatten)]
    pub tools: ToolsArgs,

    /// Print only errors.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct WitArgs {
    /// The folder to write the WIT into.
    #[arg(value_name = "DIR", default_value = "wit")]
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ParseCommandArgs {
    /// The spider: a component of the crawlbox:plugin/spider world.
    #[arg(value_name = "SPIDER.wasm")]
    pub spider: PathBuf,

    /// The page to fetch and parse. It is fetched as the spider's first
    /// start request asks (its headers and extraction), with this URL; its
    /// origin is allowed for this command.
    #[arg(value_name = "URL")]
    pub url: String,

    /// The spider's input, for its `start` (default: the manifest's `input`, else null).
    #[arg(long, value_name = "JSON", conflicts_with = "input_file")]
    pub input: Option<String>,

    /// Read the spider's input (JSON) from a file.
    #[arg(long, value_name = "FILE")]
    pub input_file: Option<PathBuf>,

    /// The meta handed to `parse` with the page, as a follow would carry it.
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub meta: String,

    /// Print the items and follows as one JSON object instead.
    #[arg(long)]
    pub json: bool,

    /// The manifest to use instead of `crawlbox.toml` beside the spider.
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,

    #[command(flatten)]
    pub plugin: PluginArgs,

    #[command(flatten)]
    pub common: CommonArgs,
}

/// Where a shared crawl lives.
#[derive(Debug, Args)]
pub struct RedisArgs {
    /// The Redis server keeping the crawl, e.g. redis://10.0.0.5:6379/0.
    #[arg(long, value_name = "URL", env = "CRAWLBOX_REDIS")]
    pub redis: String,

    /// The crawl's name: several crawls can share one Redis.
    #[arg(long = "crawl", value_name = "NAME", default_value = "default")]
    pub crawl: String,
}

/// How a process takes part in a shared crawl.
#[derive(Debug, Args)]
pub struct SharedCrawlArgs {
    /// Pages held by a worker and not committed after this long are taken
    /// over by another (the first worker died). Keep it well above --timeout.
    #[arg(
        long,
        default_value = static_str!(format_duration(DEFAULT_RECLAIM_AFTER)),
        value_parser = parse_duration,
        value_name = "DURATION"
    )]
    pub reclaim_after: Duration,

    /// This worker's name in the crawl [default: HOSTNAME-PID].
    #[arg(long, value_name = "NAME")]
    pub worker_name: Option<String>,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub redis: RedisArgs,

    #[command(flatten)]
    pub shared: SharedCrawlArgs,

    /// A manifest granting hosts and setting limits (the spider itself
    /// comes from Redis; give every worker the same grants).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,

    /// Pages to fetch at most, over all workers [default: the crawl's, as
    /// given to `crawlbox crawl --redis`].
    #[arg(long, value_name = "N")]
    pub max_pages: Option<u64>,

    /// Deepest page to fetch [default: the crawl's].
    #[arg(long, value_name = "N")]
    pub max_depth: Option<u32>,

    #[command(flatten)]
    pub frontier: FrontierArgs,

    #[command(flatten)]
    pub parse: ParseArgs,

    #[command(flatten)]
    pub plugin: PluginArgs,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub redis: RedisArgs,

    /// Write to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CrawlArgs {
    /// The spider: a component of the crawlbox:plugin/spider world.
    #[arg(value_name = "SPIDER.wasm")]
    pub spider: PathBuf,

    /// The spider's input, as JSON text (default: the manifest's `input`, else null).
    #[arg(long, value_name = "JSON", conflicts_with = "input_file")]
    pub input: Option<String>,

    /// Read the spider's input (JSON) from a file.
    #[arg(long, value_name = "FILE")]
    pub input_file: Option<PathBuf>,

    /// The manifest to use instead of `crawlbox.toml` beside the spider.
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,

    /// Keep the crawl's state (frontier, seen set, finished pages) here; run
    /// again with the same DIR to resume. Items go to DIR/items.jsonl unless
    /// --out says otherwise; output is appended, never rewritten.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,

    /// Pages to fetch at most (over all resumed runs).
    #[arg(long, value_name = "N")]
    pub max_pages: Option<u64>,

    /// Deepest page to fetch, start requests being depth 0.
    #[arg(long, value_name = "N")]
    pub max_depth: Option<u32>,

    #[command(flatten)]
    pub frontier: FrontierArgs,

    #[command(flatten)]
    pub parse: ParseArgs,

    /// A fresh spider instance for every page instead of one for the whole
    /// crawl: pages cannot see one another's state, at a cost per page.
    #[arg(long, conflicts_with = "redis")]
    pub fresh_instance: bool,

    /// Keep the crawl in Redis instead (e.g. redis://10.0.0.5/): publish the
    /// spider there, seed it, and work on it; `crawlbox worker --redis URL`
    /// processes on any machine join in. Items stay in Redis: `crawlbox export`.
    #[arg(
        long,
        value_name = "URL",
        env = "CRAWLBOX_REDIS",
        conflicts_with = "state"
    )]
    pub redis: Option<String>,

    /// The crawl's name in Redis.
    #[arg(
        long = "crawl",
        value_name = "NAME",
        default_value = "default",
        requires = "redis"
    )]
    pub crawl_name: String,

    /// With --redis: publish and seed the crawl, then leave the work to workers.
    #[arg(long, requires = "redis")]
    pub seed_only: bool,

    #[command(flatten)]
    pub shared: SharedCrawlArgs,

    #[command(flatten)]
    pub plugin: PluginArgs,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct CompileArgs {
    /// Plugins to compile.
    #[arg(value_name = "PLUGIN.wasm", required = true)]
    pub plugins: Vec<PathBuf>,

    #[command(flatten)]
    pub cache: CacheArgs,
}

/// Where compiled plugins are kept.
#[derive(Debug, Args, Default)]
pub struct CacheArgs {
    /// The compile cache [default: $XDG_CACHE_HOME/crawlbox, else ~/.cache/crawlbox].
    #[arg(long, value_name = "DIR", env = "CRAWLBOX_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Compile every plugin afresh, without the cache.
    #[arg(long, conflicts_with = "cache_dir")]
    pub no_cache: bool,
}

impl CacheArgs {
    /// The cache directory to use, if any.
    pub fn dir(&self) -> Option<PathBuf> {
        if self.no_cache {
            return None;
        }
        self.cache_dir.clone().or_else(|| {
            let base = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
            Some(base.join("crawlbox").join("compiled"))
        })
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Plugins: WebAssembly components (.wasm) built for crawlbox:plugin/scraper.
    /// Several run at once in one process, sharing the HTTP client and its caps.
    #[arg(value_name = "PLUGIN.wasm", required_unless_present = "jobs")]
    pub plugins: Vec<PathBuf>,

    /// Run the plugins listed in a jobs file (TOML, `[[job]]` tables with
    /// `plugin`, `manifest`, `name`, `input`).
    #[arg(long, value_name = "FILE", conflicts_with = "plugins")]
    pub jobs: Option<PathBuf>,

    /// The manifest to use instead of `crawlbox.toml` beside each plugin.
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,

    /// The plugins' input, as JSON text (default: the manifest's `input`, else null).
    #[arg(long, value_name = "JSON", conflicts_with = "input_file")]
    pub input: Option<String>,

    /// Read the plugins' input (JSON) from a file.
    #[arg(long, value_name = "FILE")]
    pub input_file: Option<PathBuf>,

    /// Arguments for a `wasi:cli/command` plugin, after `--`.
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<String>,

    #[command(flatten)]
    pub plugin: PluginArgs,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// A plugin to run on the demo site instead of the example crawler: a
    /// scraper runs as `crawlbox run` runs it, a spider as `crawlbox crawl`
    /// does, with the input `{"start": [DEMO URL], "max_pages": N}` and the
    /// site allowed.
    #[arg(value_name = "PLUGIN.wasm")]
    pub plugin_wasm: Option<PathBuf>,

    /// Pages on the demo site.
    #[arg(long, default_value_t = 300)]
    pub pages: usize,

    /// Pages to crawl at most.
    #[arg(long, default_value_t = 300)]
    pub max_pages: usize,

    #[command(flatten)]
    pub plugin: PluginArgs,

    #[command(flatten)]
    pub common: CommonArgs,
}

/// What each plugin may reach and use. These override (limits) or extend
/// (allowed hosts and networks) the plugin's manifest.
#[derive(Debug, Args, Default)]
pub struct PluginArgs {
    /// Allow requests to URLs matching `scheme://host[:port]`, e.g.
    /// `https://example.com`, `https://*.example.com`, `http://127.0.0.1:*`,
    /// `*://*:*`. Repeatable. Nothing is allowed by default.
    #[arg(long, value_name = "PATTERN")]
    pub allow_host: Vec<String>,

    /// Allow connections to a special-purpose network (loopback, private,
    /// link-local, ...), e.g. `127.0.0.1` or `10.0.0.0/8`. Repeatable.
    /// Public addresses need no grant.
    #[arg(long, value_name = "CIDR")]
    pub allow_network: Vec<String>,

    /// The limits (and `--cookies`), each also a manifest key
    /// (`crate::manifest::limits`).
    #[command(flatten)]
    pub limits: LimitOverrides,

    /// Give the plugin an environment variable (none by default). Repeatable.
    #[arg(long, value_name = "NAME=VALUE", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not NAME=VALUE")),
    }
}

/// Settings shared by every command that runs a plugin.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Write records to this file instead of stdout. With several plugins,
    /// each record is wrapped as `{"plugin": NAME, "record": RECORD}`.
    #[arg(long, short, value_name = "FILE", conflicts_with = "out_dir")]
    pub out: Option<PathBuf>,

    /// Write each plugin's records to DIR/NAME.jsonl, unwrapped.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,

    /// Write the final stats as JSON to this file (with what `crawlbox
    /// report` needs to render the report later).
    #[arg(long, value_name = "FILE")]
    pub stats: Option<PathBuf>,

    /// Write an HTML report of the run to this file: requests over time,
    /// latency, statuses and errors, bytes, connections, the politeness
    /// achieved and robots.txt decisions, per host; each plugin's outcome
    /// and the limits it hit. One self-contained file: it opens from disk,
    /// offline.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,

    /// Serve Prometheus metrics at http://ADDR/metrics while the command
    /// runs, e.g. 127.0.0.1:9464 (docs/metrics.md lists them). At the end
    /// it waits for one last scrape, 15 s at most.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,

    /// Requests in flight at once, across all hosts.
    #[arg(long, short = 'c', default_value_t = net::DEFAULT_CONCURRENCY, value_name = "N")]
    pub concurrency: usize,

    /// Open connections per host.
    #[arg(long, default_value_t = net::DEFAULT_PER_HOST, value_name = "N")]
    pub per_host: usize,

    /// Time limit of one request, body and redirects included (e.g. 60s, 500ms).
    #[arg(
        long,
        default_value = static_str!(format_duration(net::DEFAULT_REQUEST_TIMEOUT)),
        value_parser = parse_duration,
        value_name = "DURATION"
    )]
    pub timeout: Duration,

    /// Time limit to connect (DNS, TCP and TLS).
    #[arg(
        long,
        default_value = static_str!(format_duration(net::DEFAULT_CONNECT_TIMEOUT)),
        value_parser = parse_duration,
        value_name = "DURATION"
    )]
    pub connect_timeout: Duration,

    /// Time limit from sending a request to its response headers.
    #[arg(
        long,
        default_value = static_str!(format_duration(net::DEFAULT_FIRST_BYTE_TIMEOUT)),
        value_parser = parse_duration,
        value_name = "DURATION"
    )]
    pub first_byte_timeout: Duration,

    /// Drive connections on a network thread of their own, beside the
    /// plugins' thread (helps plugins that make many small wasi:http calls).
    #[arg(long)]
    pub network_thread: bool,

    /// Times `fetch` retries a connect error, a timeout or a
    /// 408/429/500/502/503/504, for idempotent methods, with exponential
    /// backoff and jitter (or the server's Retry-After).
    #[arg(long, default_value_t = net::DEFAULT_RETRIES, value_name = "N")]
    pub retries: u32,

    /// Least time between two requests to one host, across all plugins (e.g. 500ms).
    #[arg(
        long,
        default_value = static_str!(format_duration(net::DEFAULT_PER_HOST_DELAY)),
        value_parser = parse_duration,
        value_name = "DURATION"
    )]
    pub per_host_delay: Duration,

    /// Random extra delay, as a fraction of --per-host-delay (e.g. 0.5).
    #[arg(long, default_value_t = net::DEFAULT_DELAY_JITTER, value_name = "FRACTION")]
    pub delay_jitter: f64,

    /// Adapt each host's delay to its latency (Scrapy's AutoThrottle: aim
    /// at --autothrottle-target requests in flight per host), and double it
    /// on 429/503.
    #[arg(long)]
    pub autothrottle: bool,

    /// Requests in flight per host AutoThrottle aims at.
    #[arg(
        long,
        default_value_t = net::DEFAULT_AUTOTHROTTLE_TARGET,
        value_name = "N",
        requires = "autothrottle"
    )]
    pub autothrottle_target: f64,

    /// Do not fetch nor obey robots.txt. By default each site's robots.txt
    /// is fetched once and obeyed for the user agent's product token
    /// (`crawlbox`), Crawl-delay included.
    #[arg(long)]
    pub ignore_robots: bool,

    /// Do not ask for compressed bodies nor decode them.
    #[arg(long)]
    pub no_decompress: bool,

    /// How long a DNS answer is reused.
    #[arg(
        long,
        default_value = static_str!(format_duration(net::DEFAULT_DNS_TTL)),
        value_parser = parse_duration,
        value_name = "DURATION"
    )]
    pub dns_ttl: Duration,

    /// Speak HTTP/2 without TLS (prior knowledge) to HOST:PORT. Repeatable.
    /// (Over TLS, HTTP/2 is used whenever the server offers it.)
    #[arg(long, value_name = "HOST:PORT")]
    pub h2c: Vec<String>,

    /// Trust the root certificates in this PEM file too (e.g. an internal CA).
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Vec<PathBuf>,

    /// Send requests through this HTTP proxy (http://[user:pass@]host:port);
    /// repeat to rotate over several, one per new connection. HTTPS goes
    /// through a CONNECT tunnel.
    #[arg(long, value_name = "URL")]
    pub proxy: Vec<String>,

    #[arg(long, value_name = "UA", help = with_default(
        "User-Agent sent when a plugin sets none",
        net::DEFAULT_USER_AGENT,
    ))]
    pub user_agent: Option<String>,

    /// Write every request and response of the run (each redirect hop and
    /// robots.txt included) into DIR as WARC 1.1 files, the bodies as they
    /// came over the wire. `--replay DIR` runs it again offline.
    #[arg(long, value_name = "DIR", conflicts_with = "replay")]
    pub record: Option<PathBuf>,

    /// Answer every request from the WARC files in DIR (made with --record,
    /// or by any WARC tool), with no network at all. A request that was not
    /// recorded fails with `not-recorded`.
    #[arg(long, value_name = "DIR")]
    pub replay: Option<PathBuf>,

    /// With --replay: fetch what was not recorded from the network.
    #[arg(long, requires = "replay")]
    pub replay_fallback: bool,

    /// Also run WASI 0.3 components: commands (`wasi:cli/run@0.3`,
    /// `wasi:http/client@0.3`) and native-async plugins (the
    /// `crawlbox:plugin/scraper-async` world), through the same client, caps
    /// and policy. Experimental: see SECURITY.md.
    #[arg(long)]
    pub wasip3: bool,

    /// No progress line and no stats summary on stderr.
    #[arg(long, short)]
    pub quiet: bool,

    #[command(flatten)]
    pub cache: CacheArgs,

    /// Log filter for stderr, e.g. `info`, `debug`, `plugin=debug` (RUST_LOG syntax).
    #[arg(
        long,
        default_value = "warn,plugin=info,crawlbox=info",
        value_name = "FILTER"
    )]
    pub log: String,
}

impl CommonArgs {
    pub fn client_config(&self) -> anyhow::Result<ClientConfig> {
        let defaults = ClientConfig::default();
        let mut extra_root_certs = Vec::new();
        for path in &self.ca_cert {
            extra_root_certs.extend(
                std::fs::read(path).map_err(|e| {
                    anyhow::anyhow!("cannot read --ca-cert {}: {e}", path.display())
                })?,
            );
        }
        Ok(ClientConfig {
            retries: self.retries,
            per_host_delay: self.per_host_delay,
            delay_jitter: self.delay_jitter,
            autothrottle: self.autothrottle,
            autothrottle_target: self.autothrottle_target,
            robots: !self.ignore_robots,
            decompress: !self.no_decompress,
            dns_ttl: self.dns_ttl,
            h2c_hosts: self.h2c.clone(),
            proxies: self.proxy.clone(),
            extra_root_certs,
            concurrency: self.concurrency,
            per_host: self.per_host,
            connect_timeout: self.connect_timeout,
            first_byte_timeout: self.first_byte_timeout,
            request_timeout: self.timeout,
            network_thread: self.network_thread,
            user_agent: self.user_agent.clone().unwrap_or(defaults.user_agent),
            archive: match (&self.record, &self.replay) {
                (Some(dir), _) => Some(net::Archive::Record(dir.clone())),
                (None, Some(dir)) => Some(net::Archive::Replay {
                    dir: dir.clone(),
                    fallback: self.replay_fallback,
                }),
                (None, None) => None,
            },
            traffic: self.report.is_some() || self.metrics.is_some() || self.stats.is_some(),
            ..defaults
        })
    }
}

/// What a spider may make the host hold for it: the frontier lives in host
/// memory (and in the `--state` journal), outside the spider's memory
/// limit. Follows past a cap are dropped, counted in the summary, and the
/// first drop of each kind is logged. With `--redis`, only
/// `--max-meta-size` and `--max-follows-per-page` apply (bound Redis with
/// its own `maxmemory`).
#[derive(Debug, Args, Default)]
pub struct FrontierArgs {
    #[arg(long, value_name = "N", help = with_default(
        "Requests waiting in the frontier at most; further follows are dropped until pages \
         are taken",
        frontier::DEFAULT_MAX_QUEUED,
    ))]
    pub max_queued: Option<u64>,

    #[arg(long, value_parser = parse_size, value_name = "SIZE", help = with_default(
        &format!(
            "Bytes of requests waiting at most (URL, headers, body and meta, plus about {} \
             bytes each)",
            frontier::ENTRY_OVERHEAD
        ),
        format_size(frontier::DEFAULT_MAX_QUEUED_BYTES),
    ))]
    pub max_queued_bytes: Option<u64>,

    #[arg(long, value_parser = parse_size, value_name = "SIZE", help = with_default(
        "Longest `meta` of one follow; a follow with a longer one is dropped",
        format_size(frontier::DEFAULT_MAX_META_BYTES),
    ))]
    pub max_meta_size: Option<u64>,

    #[arg(long, value_name = "N", help = with_default(
        "Follows one page may yield; the rest are dropped",
        frontier::DEFAULT_MAX_FOLLOWS_PER_PAGE,
    ))]
    pub max_follows_per_page: Option<usize>,
}

/// How many spider instances parse at once (`crawl`, `worker`).
#[derive(Debug, Args, Default)]
pub struct ParseArgs {
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256),
        help = with_default(
            "Spider instances parsing pages at once, each on a thread of its own; each may \
             use the memory limit, and they share the CPU time and record limits. An \
             instance keeps state between the pages it parses, but no instance sees every \
             page",
            format!("one per core, here {}", crawlbox_crawl::default_instances()),
        ))]
    pub instances: Option<u32>,
}

impl ParseArgs {
    /// The instances, the default filled in.
    pub fn instances(&self) -> usize {
        self.instances
            .map_or_else(crawlbox_crawl::default_instances, |n| n as usize)
    }
}

impl FrontierArgs {
    /// The caps, defaults filled in.
    pub fn caps(&self) -> crawlbox_frontier::Caps {
        let defaults = crawlbox_frontier::Caps::default();
        crawlbox_frontier::Caps {
            max_queued: self.max_queued.unwrap_or(defaults.max_queued),
            max_queued_bytes: self.max_queued_bytes.unwrap_or(defaults.max_queued_bytes),
            max_meta_bytes: self.max_meta_size.unwrap_or(defaults.max_meta_bytes),
            max_follows_per_page: self
                .max_follows_per_page
                .unwrap_or(defaults.max_follows_per_page),
        }
    }
}
