//! One module per command, and the set-up they share ([`Host`]).

pub mod author;
pub mod compile;
pub mod crawl;
pub mod demo;
pub mod export;
pub mod parse;
pub mod run;
pub mod worker;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use crawlbox_net::{Client, ClientConfig};
use crawlbox_runtime::{Outcome, Plugin, RunSpec, Runtime};
use tokio_util::sync::CancellationToken;

use crate::cli::{CacheArgs, CommonArgs};
use crate::manifest::Job;
use crate::metrics::Endpoint;
use crate::output::PluginSink;
use crate::watch::Watch;

/// The exit code when the host failed, not a plugin: a record, the crawl
/// journal or the Redis frontier could not be written or reached.
pub const EXIT_HOST_FAILED: u8 = 4;

/// What every command that runs plugins sets up: the one client, the
/// runtime over it, and a cancel token that the first Ctrl-C fires (a
/// second one exits at once). Dropping it stops listening for Ctrl-C.
pub struct Host {
    pub client: Client,
    pub runtime: Runtime,
    pub cancel: CancellationToken,
    /// The runs, as they go (for `--metrics`).
    pub watch: Arc<Watch>,
    metrics: Option<Endpoint>,
    interrupt: tokio::task::JoinHandle<()>,
}

impl Host {
    /// The client with `config` (checked), the runtime with the compile
    /// cache of `common`, Ctrl-C handling, and the metrics endpoint if
    /// `common` asks for one.
    pub fn start(config: ClientConfig, common: &CommonArgs) -> anyhow::Result<Self> {
        let client = Client::new(config).context("invalid network settings")?;
        let runtime = runtime(client.clone(), &common.cache, common.wasip3)?;
        let cancel = CancellationToken::new();
        let watch = Arc::new(Watch::default());
        let metrics = common
            .metrics
            .map(|addr| Endpoint::start(addr, client.clone(), watch.clone()))
            .transpose()?;
        let interrupt = tokio::spawn(stop_on_ctrl_c(cancel.clone()));
        Ok(Self {
            client,
            runtime,
            cancel,
            watch,
            metrics,
            interrupt,
        })
    }

    /// The runs have ended: the endpoint, if any, waits for a last scrape.
    pub async fn linger(&self) {
        if let Some(metrics) = &self.metrics {
            metrics.linger().await;
        }
    }

    /// Loads (compiles, or takes from the cache) the plugin of `job`.
    pub fn load(&self, job: &Job, wasm: &[u8]) -> anyhow::Result<Plugin> {
        Ok(self.runtime.load(&job.name, wasm)?)
    }

    /// Loads the plugin of `job`, which must be a spider.
    pub fn load_spider(&self, job: &Job, wasm: &[u8], what: &str) -> anyhow::Result<Plugin> {
        let spider = self.load(job, wasm)?;
        if !spider.is_spider() {
            bail!(
                "{what} is not a spider (it does not export `start` and `parse` of \
                 crawlbox:plugin/spider): run it with `crawlbox run`"
            );
        }
        Ok(spider)
    }

    /// How `plugin` runs as `job` says, through a new session of the
    /// client, into `sink`, until Ctrl-C.
    pub fn spec(&self, job: &Job, plugin: Plugin, sink: Arc<PluginSink>) -> RunSpec {
        let session = self.client.session(job.session.clone());
        self.watch.run_started(session.clone(), sink.clone());
        RunSpec {
            plugin,
            input: job.input.clone(),
            limits: job.limits.clone(),
            session,
            sink,
            cancel: self.cancel.clone(),
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.interrupt.abort();
    }
}

/// The runtime over `client`, with the compile cache of `cache`; running
/// WASI 0.3 commands too if `wasip3`.
pub fn runtime(client: Client, cache: &CacheArgs, wasip3: bool) -> anyhow::Result<Runtime> {
    let runtime = if wasip3 {
        Runtime::with_wasip3(client)
    } else {
        Runtime::new(client)
    }
    .map_err(|e| anyhow::anyhow!("cannot set up the WebAssembly runtime: {e:#}"))?;
    Ok(match cache.dir() {
        Some(dir) => runtime.with_cache_dir(dir),
        None => runtime,
    })
}

/// The first Ctrl-C stops the runs cleanly (records flushed, summary
/// printed); a second one exits at once.
async fn stop_on_ctrl_c(cancel: CancellationToken) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    tracing::warn!(target: "crawlbox", "interrupted: stopping (Ctrl-C again to quit at once)");
    cancel.cancel();
    if tokio::signal::ctrl_c().await.is_ok() {
        std::process::exit(130);
    }
}

/// The exit code of a crawl or a worker: 0 done, 130 interrupted, 4 the
/// host failed, 1 else.
pub fn exit_code(outcome: &Outcome) -> ExitCode {
    match outcome {
        Outcome::Interrupted => ExitCode::from(130),
        Outcome::Completed => ExitCode::SUCCESS,
        outcome if outcome.is_host_failure() => ExitCode::from(EXIT_HOST_FAILED),
        _ => ExitCode::from(1),
    }
}

/// The input JSON from `--input` or `--input-file`, if given.
pub fn input_from(
    input: &Option<String>,
    input_file: &Option<std::path::PathBuf>,
) -> anyhow::Result<Option<String>> {
    let (input, source) = match (input, input_file) {
        (Some(text), _) => (text.clone(), "--input".to_owned()),
        (None, Some(path)) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --input-file {}", path.display()))?,
            format!("--input-file {}", path.display()),
        ),
        (None, None) => return Ok(None),
    };
    if let Err(e) = serde_json::from_str::<serde_json::Value>(&input) {
        bail!("{source} is not valid JSON: {e}");
    }
    Ok(Some(input))
}

/// The job of the plugin file `plugin`: its manifest (`manifest`, else
/// `crawlbox.toml` beside it) merged with the command line. A plugin named
/// after its file has its name checked (`check_file_name`).
pub fn file_job(
    plugin: &std::path::Path,
    manifest: Option<&std::path::Path>,
    input: Option<String>,
    command_args: &[String],
    args: &crate::cli::PluginArgs,
) -> anyhow::Result<Job> {
    let (manifest, _) = crate::manifest::Manifest::for_plugin(plugin, manifest)?;
    let job = Job::resolve(
        crate::manifest::WasmSource::File(plugin.to_owned()),
        &crate::manifest::plugin_name(plugin),
        &manifest,
        input,
        command_args,
        args,
    )?;
    if manifest.name.is_none() {
        check_file_name(&job.name, plugin)?;
    }
    Ok(job)
}

/// A plugin named after its file (no manifest or job names it): the name
/// must be a plain name too (see `names`).
pub fn check_file_name(name: &str, plugin: &std::path::Path) -> anyhow::Result<()> {
    crate::names::validate(
        name,
        &format!(
            "the plugin {} (named after its file: rename it, or set `name` in its manifest)",
            plugin.display()
        ),
    )
}
