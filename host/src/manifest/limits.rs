//! The limits of one plugin run, as the command line and the manifest both
//! set them: one struct for both (clap `Args` for the flags, serde
//! `Deserialize` for the manifest's keys), one parser per unit for both
//! (see [`crate::units`]), and one rule, [`LimitOverrides::resolve`]: the
//! flag, else the manifest's key, else the library's default.
//!
//! Adding a limit: its field (and `DEFAULT_*` const) in the library that
//! enforces it, one field here, in [`NetworkSection`] (a `[network]` key)
//! or [`LimitsSection`] (a `[limits]` key), and its line in
//! [`LimitOverrides::resolve`]. Its help text states the default, formatted
//! from the const; the README, SECURITY.md and docs/spiders.md tables are
//! checked against the help (`cli::docs`).

use std::time::Duration;

use clap::Args;
use crawlbox_net::SessionConfig;
use crawlbox_runtime::Limits;
use serde::Deserialize;

use crate::units::{
    de_duration, de_size, format_duration, format_size, parse_duration, parse_size, with_default,
};

/// Default request budget of a run (the network library's default is no
/// limit: a run of the host gets this one).
pub const DEFAULT_MAX_REQUESTS: u64 = 1_000_000;

/// Every per-plugin limit a flag or a manifest may set (`None`: not set
/// here), as the manifest's two tables.
#[derive(Debug, Clone, Default, Args)]
pub struct LimitOverrides {
    #[command(flatten)]
    pub network: NetworkSection,
    #[command(flatten)]
    pub limits: LimitsSection,
}

/// The manifest's `[network]` table: the run's network limits and cookies,
/// with their flags, and its grants.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    /// `allowed_hosts`; the flag `--allow-host` (`PluginArgs`) adds to it.
    #[arg(skip)]
    #[serde(default)]
    pub allowed_hosts: Vec<String>,

    /// `allowed_networks`; the flag `--allow-network` (`PluginArgs`) adds to it.
    #[arg(skip)]
    #[serde(default)]
    pub allowed_networks: Vec<String>,

    #[arg(long, help = with_default(
        "Keep a cookie jar for each plugin run: cookies the sites set are sent back to \
         them (manifest: `network.cookies = true`)",
        "off",
    ))]
    #[serde(default)]
    pub cookies: bool,

    #[arg(long, value_name = "N", help = with_default(
        "Requests a run may send, redirect hops included",
        DEFAULT_MAX_REQUESTS,
    ))]
    pub max_requests: Option<u64>,

    #[arg(long, value_name = "N", help = with_default(
        "Redirects `fetch` follows before giving up",
        crawlbox_net::DEFAULT_MAX_REDIRECTS,
    ))]
    pub max_redirects: Option<u32>,

    #[arg(long, value_parser = parse_size, value_name = "SIZE", help = with_default(
        "Largest response body accepted (decoded bytes for `fetch`); a larger one fails \
         with too-large",
        format_size(crawlbox_net::DEFAULT_MAX_RESPONSE_BYTES),
    ))]
    #[serde(default, deserialize_with = "de_size")]
    pub max_response_size: Option<u64>,
}

/// The manifest's `[limits]` table, and its flags.
#[derive(Debug, Clone, Copy, Default, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSection {
    #[arg(long, value_parser = parse_size, value_name = "SIZE", help = with_default(
        "Linear memory the plugin may use",
        format_size(Limits::DEFAULT_MEMORY as u64),
    ))]
    #[serde(default, deserialize_with = "de_size")]
    pub memory: Option<u64>,

    #[arg(long = "cpu-limit", value_parser = parse_duration, value_name = "DURATION",
        help = with_default(
            "CPU time the plugin may spend running its own code, plus the host's HTML \
             extraction done for it; waiting on responses does not count",
            format_duration(Limits::DEFAULT_CPU_TIME),
        ))]
    #[serde(default, deserialize_with = "de_duration")]
    pub cpu_time: Option<Duration>,

    #[arg(long = "time-limit", value_parser = parse_duration, value_name = "DURATION",
        help = with_default(
            "Wall-clock limit of the whole run",
            Limits::default().wall_time.map_or("none".to_owned(), format_duration),
        ))]
    #[serde(default, deserialize_with = "de_duration")]
    pub wall_time: Option<Duration>,

    #[arg(long, value_name = "N", help = with_default(
        "Records a run may emit",
        Limits::default().max_records.map_or("no limit".to_owned(), |n| n.to_string()),
    ))]
    pub max_records: Option<u64>,

    #[arg(long, value_parser = parse_size, value_name = "SIZE", help = with_default(
        "Bytes of records a run may emit",
        format_size(Limits::DEFAULT_MAX_OUTPUT_BYTES),
    ))]
    #[serde(default, deserialize_with = "de_size")]
    pub max_output: Option<u64>,

    #[arg(long, value_parser = parse_size, value_name = "SIZE", help = with_default(
        "Bytes the plugin may write to the log: its stdout, stderr and host.log messages \
         together",
        format_size(Limits::DEFAULT_LOG_BYTES),
    ))]
    #[serde(default, deserialize_with = "de_size")]
    pub max_log_output: Option<u64>,

    #[arg(long, value_parser = parse_size, value_name = "SIZE", help = with_default(
        "Host memory the plugin's responses may hold while it has not taken them (a \
         fetch-all batch, fetch-queue results, wasi:http bodies read ahead), and, apart, \
         its requests the host has not sent yet (queued, pending async fetches, wasi:http \
         request bodies); a response or request that does not fit fails with too-large",
        format_size(crawlbox_net::DEFAULT_MAX_BUFFERED_BYTES),
    ))]
    #[serde(default, deserialize_with = "de_size")]
    pub max_buffered_responses: Option<u64>,
}

impl LimitOverrides {
    /// The run's limits, and `session` with its network limits set: each
    /// limit is this one's (the command line's), else `manifest`'s, else
    /// the default. Cookies are kept if either asks. (The grants are the
    /// caller's: `session.egress`.)
    pub fn resolve(&self, manifest: &Self, session: SessionConfig) -> (Limits, SessionConfig) {
        macro_rules! pick {
            ($section:ident . $field:ident) => {
                self.$section.$field.or(manifest.$section.$field)
            };
        }
        let defaults = Limits::default();
        let limits = Limits {
            memory: pick!(limits.memory).map_or(defaults.memory, |m| {
                usize::try_from(m).unwrap_or(usize::MAX)
            }),
            cpu_time: pick!(limits.cpu_time).or(defaults.cpu_time),
            wall_time: pick!(limits.wall_time).or(defaults.wall_time),
            max_records: pick!(limits.max_records).or(defaults.max_records),
            max_output_bytes: pick!(limits.max_output).or(defaults.max_output_bytes),
            log_bytes: pick!(limits.max_log_output).unwrap_or(defaults.log_bytes),
            ..defaults
        };
        // `None` leaves a limit to the client's `ClientConfig` default.
        let session = SessionConfig {
            max_requests: Some(pick!(network.max_requests).unwrap_or(DEFAULT_MAX_REQUESTS)),
            max_redirects: pick!(network.max_redirects),
            max_response_bytes: pick!(network.max_response_size),
            max_buffered_bytes: pick!(limits.max_buffered_responses),
            cookies: self.network.cookies || manifest.network.cookies,
            ..session
        };
        (limits, session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_wins_over_the_manifest_over_the_default() {
        let cli = LimitOverrides {
            limits: LimitsSection {
                memory: Some(64 << 20),
                ..LimitsSection::default()
            },
            network: NetworkSection {
                max_requests: Some(5),
                ..NetworkSection::default()
            },
        };
        let manifest = LimitOverrides {
            limits: LimitsSection {
                memory: Some(32 << 20),
                cpu_time: Some(Duration::from_secs(1)),
                ..LimitsSection::default()
            },
            network: NetworkSection {
                max_requests: Some(20),
                max_redirects: Some(3),
                ..NetworkSection::default()
            },
        };
        let (limits, session) = cli.resolve(&manifest, SessionConfig::default());
        assert!(!session.cookies);
        assert_eq!(limits.memory, 64 << 20);
        assert_eq!(limits.cpu_time, Some(Duration::from_secs(1)));
        assert_eq!(limits.log_bytes, Limits::DEFAULT_LOG_BYTES);
        assert_eq!(limits.table_elements, Limits::DEFAULT_TABLE_ELEMENTS);
        assert_eq!(session.max_requests, Some(5));
        assert_eq!(session.max_redirects, Some(3));
        assert_eq!(session.max_response_bytes, None);

        let none = LimitOverrides::default();
        let (limits, session) = none.resolve(&none, SessionConfig::default());
        assert_eq!(limits, Limits::default());
        assert_eq!(session.max_requests, Some(DEFAULT_MAX_REQUESTS));
    }
}
