//! Command-line arguments.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use crawlbox_net::ClientConfig;
use crawlbox_runtime::Limits;

use crate::units::{parse_duration, parse_size};

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
    /// Start the built-in demo site on 127.0.0.1 and crawl it with the example plugin.
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The plugin: a WebAssembly component (.wasm) built for crawlbox:plugin/scraper.
    #[arg(value_name = "PLUGIN.wasm")]
    pub plugin: PathBuf,

    /// The plugin's input, as JSON text.
    #[arg(long, value_name = "JSON", conflicts_with = "input_file")]
    pub input: Option<String>,

    /// Read the plugin's input (JSON) from a file.
    #[arg(long, value_name = "FILE")]
    pub input_file: Option<PathBuf>,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Pages on the demo site.
    #[arg(long, default_value_t = 300)]
    pub pages: usize,

    /// Pages to crawl at most.
    #[arg(long, default_value_t = 300)]
    pub max_pages: usize,

    #[command(flatten)]
    pub common: CommonArgs,
}

/// Settings shared by every command that runs a plugin.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Write records to this file instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Write the final stats as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub stats: Option<PathBuf>,

    /// Requests in flight at once, across all hosts.
    #[arg(long, short = 'c', default_value_t = 64, value_name = "N")]
    pub concurrency: usize,

    /// Open connections per host.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub per_host: usize,

    /// Time limit of one request, body and redirects included (e.g. 60s, 500ms).
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Duration,

    /// Time limit to connect (DNS, TCP and TLS).
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub connect_timeout: Duration,

    /// Time limit from sending a request to its response headers.
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub first_byte_timeout: Duration,

    /// Redirects followed by `fetch` before giving up.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub max_redirects: u32,

    /// Largest response body accepted (e.g. 16MiB).
    #[arg(long, default_value = "16MiB", value_parser = parse_size, value_name = "SIZE")]
    pub max_response_size: u64,

    /// User-Agent sent when a plugin sets none.
    #[arg(long, value_name = "UA")]
    pub user_agent: Option<String>,

    /// Linear memory the plugin may use (e.g. 256MiB).
    #[arg(long, default_value = "256MiB", value_parser = parse_size, value_name = "SIZE")]
    pub memory: u64,

    /// Wall-clock limit of the whole run (none by default).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub time_limit: Option<Duration>,

    /// CPU time the plugin may spend running its own code (none by default).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub cpu_limit: Option<Duration>,

    /// No progress line and no stats summary on stderr.
    #[arg(long, short)]
    pub quiet: bool,

    /// Log filter for stderr, e.g. `info`, `debug`, `plugin=debug` (RUST_LOG syntax).
    #[arg(
        long,
        default_value = "warn,plugin=info,crawlbox=info",
        value_name = "FILTER"
    )]
    pub log: String,
}

impl CommonArgs {
    pub fn client_config(&self) -> ClientConfig {
        let defaults = ClientConfig::default();
        ClientConfig {
            concurrency: self.concurrency,
            per_host: self.per_host,
            connect_timeout: self.connect_timeout,
            first_byte_timeout: self.first_byte_timeout,
            request_timeout: self.timeout,
            max_redirects: self.max_redirects,
            max_response_bytes: self.max_response_size,
            user_agent: self.user_agent.clone().unwrap_or(defaults.user_agent),
            ..defaults
        }
    }

    pub fn limits(&self) -> Limits {
        Limits {
            memory: usize::try_from(self.memory).unwrap_or(usize::MAX),
            wall_time: self.time_limit,
            cpu_time: self.cpu_limit,
            ..Limits::default()
        }
    }
}
