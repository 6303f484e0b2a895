//! Running a plugin: one fresh instance per run, under limits.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crawlbox_net::{Session, StatsSnapshot};
use tokio_util::sync::CancellationToken;
use wasmtime::component::ResourceTable;
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::WasiHttpCtx;

use crate::engine::{EPOCH_TICK, PluginKind};
use crate::http_hooks::HttpHooks;
use crate::output::{GuestLog, Records};
use crate::shared::RunShared;
use crate::state::PluginState;
use crate::{Plugin, RecordSink, Runtime};

/// Limits of one plugin run. Network limits (allowed hosts, request
/// budget, response size) live in the run's
/// [`SessionConfig`](crawlbox_net::SessionConfig).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory of the instance, in bytes; growing past it traps.
    /// Default: [`Limits::DEFAULT_MEMORY`].
    pub memory: usize,
    /// Elements in any one table (function references). Default:
    /// [`Limits::DEFAULT_TABLE_ELEMENTS`].
    pub table_elements: usize,
    /// Time the guest may spend running its own code (waiting on responses
    /// does not count), measured in 10 ms epochs. Default:
    /// [`Limits::DEFAULT_CPU_TIME`].
    pub cpu_time: Option<Duration>,
    /// Wall-clock time for the whole run. Default: none.
    pub wall_time: Option<Duration>,
    /// Records the run may emit; `emit` fails past it. Default: no limit.
    pub max_records: Option<u64>,
    /// Bytes of records the run may emit; `emit` fails past it.
    /// Default: [`Limits::DEFAULT_MAX_OUTPUT_BYTES`].
    pub max_output_bytes: Option<u64>,
    /// Bytes the plugin may write to the host's log: its stdout and stderr
    /// lines and its `host.log` messages together (each line counts its
    /// escaped text plus 32 bytes); the rest is discarded, with one warning.
    /// Default: [`Limits::DEFAULT_LOG_BYTES`].
    pub log_bytes: u64,
}

impl Limits {
    /// Default [`Limits::memory`]: 256 MiB of linear memory.
    pub const DEFAULT_MEMORY: usize = 256 << 20;
    /// Default [`Limits::table_elements`].
    pub const DEFAULT_TABLE_ELEMENTS: usize = 1_000_000;
    /// Default [`Limits::cpu_time`]: 10 minutes.
    pub const DEFAULT_CPU_TIME: Duration = Duration::from_secs(600);
    /// Default [`Limits::max_output_bytes`]: 1 GiB of records.
    pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 1 << 30;
    /// Default [`Limits::log_bytes`]: 1 MiB of log.
    pub const DEFAULT_LOG_BYTES: u64 = 1 << 20;
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory: Self::DEFAULT_MEMORY,
            table_elements: Self::DEFAULT_TABLE_ELEMENTS,
            cpu_time: Some(Self::DEFAULT_CPU_TIME),
            wall_time: None,
            max_records: None,
            max_output_bytes: Some(Self::DEFAULT_MAX_OUTPUT_BYTES),
            log_bytes: Self::DEFAULT_LOG_BYTES,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `run` returned `Ok`.
    Completed,
    /// `run` returned `Err` with this message.
    Failed(String),
    /// The guest trapped (a panic, a memory limit, an invalid operation).
    Trapped(String),
    /// The guest tried to grow its memory past the limit (bytes).
    MemoryLimit(usize),
    /// The guest used up its CPU time.
    CpuLimit(Duration),
    /// The run took longer than its wall-clock limit.
    WallLimit(Duration),
    /// A record could not be written (a host failure: the disk, the pipe).
    OutputFailed(String),
    /// The host failed, not the plugin: e.g. the Redis frontier could not
    /// be reached. The message says what failed.
    HostFailed(String),
    /// A crawl reached the run's record limits (`max_records`,
    /// `max_output_bytes`): it stopped, keeping the items written (why).
    OutputLimit(String),
    /// The run was cancelled (Ctrl-C).
    Interrupted,
}

impl Outcome {
    /// Whether the run completed.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Completed)
    }

    /// Whether the run ended because of the host, not of the plugin (its
    /// output, its frontier): the host exits with its own code for these.
    pub fn is_host_failure(&self) -> bool {
        matches!(self, Outcome::OutputFailed(_) | Outcome::HostFailed(_))
    }

    /// A short stable name: `completed`, `failed`, `trapped`,
    /// `memory-limit`, `cpu-limit`,
    /// `wall-limit`, `output-failed`, `host-failed`, `output-limit`,
    /// `interrupted`.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Failed(_) => "failed",
            Outcome::Trapped(_) => "trapped",
            Outcome::MemoryLimit(_) => "memory-limit",
            Outcome::CpuLimit(_) => "cpu-limit",
            Outcome::WallLimit(_) => "wall-limit",
            Outcome::OutputFailed(_) => "output-failed",
            Outcome::HostFailed(_) => "host-failed",
            Outcome::OutputLimit(_) => "output-limit",
            Outcome::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Completed => write!(f, "completed"),
            Outcome::Failed(m) => write!(f, "the plugin returned an error: {m}"),
            Outcome::Trapped(m) => write!(f, "the plugin crashed (trap): {m}"),
            Outcome::MemoryLimit(bytes) => write!(
                f,
                "the plugin tried to use more than its memory limit of {} MiB",
                bytes >> 20
            ),
            Outcome::CpuLimit(d) => write!(f, "the plugin used up its CPU time limit of {d:?}"),
            Outcome::WallLimit(d) => write!(f, "the run hit its wall-clock limit of {d:?}"),
            Outcome::OutputFailed(m) => write!(f, "{m}"),
            Outcome::HostFailed(m) => write!(f, "the host failed (not the plugin): {m}"),
            Outcome::OutputLimit(m) => write!(f, "{m}"),
            Outcome::Interrupted => write!(f, "the run was interrupted"),
        }
    }
}

/// What a plugin is given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Input {
    /// The JSON text passed to a scraper's `run` (`null` if empty).
    pub json: String,
    /// Arguments after the program name (commands only).
    pub args: Vec<String>,
    /// Environment variables the user granted (none by default).
    pub env: Vec<(String, String)>,
}

impl Input {
    /// Just JSON input, no arguments or environment.
    pub fn json(json: impl Into<String>) -> Self {
        Self {
            json: json.into(),
            ..Self::default()
        }
    }
    /// The JSON text as a plugin gets it: `null` when there is none.
    pub fn json_or_null(&self) -> &str {
        if self.json.trim().is_empty() {
            "null"
        } else {
            &self.json
        }
    }
}

/// Everything one run of a plugin is given, as one value: what to run, with
/// what input, under which limits, through which network session, into
/// which sink, until what cancels it. [`Runtime::run`] runs a scraper or a
/// command with it; a crawl (the `crawlbox-crawl` crate) runs a spider
/// with it.
#[derive(Clone)]
pub struct RunSpec {
    /// The plugin, loaded by [`Runtime::load`].
    pub plugin: Plugin,
    /// Its input.
    pub input: Input,
    /// Its limits (network limits live in the session's config).
    pub limits: Limits,
    /// Its network session: every request goes through it, and its stats
    /// are the run's.
    pub session: Session,
    /// Where its records go (a command's stdout lines are its records).
    pub sink: Arc<dyn RecordSink>,
    /// Cancelling it stops the run; records already written stay written.
    pub cancel: CancellationToken,
}

impl fmt::Debug for RunSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunSpec")
            .field("plugin", &self.plugin)
            .field("input", &self.input)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The plugin's name.
    pub plugin: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Records written (all of them reached the sink).
    pub records: u64,
    /// Wall-clock time of the run, instantiation included.
    pub elapsed: Duration,
    /// Network statistics of the run's session.
    pub stats: StatsSnapshot,
}

impl Runtime {
    /// Runs the plugin of `spec` once. Network requests go through its
    /// session (so the caller can watch its stats); records go to its sink
    /// (a command's stdout lines are its records). Cancelling its token
    /// stops the run (records already written stay written). Never panics
    /// on guest misbehaviour: every way a run can end is an [`Outcome`].
    pub async fn run(&self, spec: RunSpec) -> RunReport {
        let RunSpec {
            plugin,
            limits,
            session,
            sink,
            cancel,
            ..
        } = &spec;
        let started = Instant::now();
        let lines = match plugin.kind {
            PluginKind::Command(_) | PluginKind::Command3(_) => Some(Records {
                sink: sink.clone(),
                count: Arc::new(AtomicU64::new(0)),
                max: limits.max_records,
                failed: Arc::new(Mutex::new(None)),
            }),
            PluginKind::Scraper(_) | PluginKind::ScraperAsync(_) | PluginKind::Spider(_) => None,
        };
        let (line_count, line_failed) = lines
            .as_ref()
            .map(|r| (r.count.clone(), r.failed.clone()))
            .unzip();
        let mut store = self.store(&spec, lines);
        let json = spec.input.json_or_null();
        let call = async {
            match &plugin.kind {
                PluginKind::Scraper(pre) => {
                    let instance = pre.instantiate_async(&mut store).await?;
                    tracing::debug!(target: "crawlbox", "instantiated {} in {:?}", plugin.name, started.elapsed());
                    instance.call_run(&mut store, json).await
                }
                PluginKind::ScraperAsync(pre) => {
                    let instance = pre.instantiate_async(&mut store).await?;
                    tracing::debug!(target: "crawlbox", "instantiated {} in {:?}", plugin.name, started.elapsed());
                    // As a 0.3 command's: `run` and its fetches are tasks
                    // of the store's event loop.
                    store
                        .run_concurrent(async |store| {
                            instance.call_run(store, json.to_owned()).await
                        })
                        .await?
                }
                PluginKind::Spider(_) => Ok(Err(format!(
                    "{} is a spider (crawlbox:plugin/spider): crawl with it with `crawlbox crawl`",
                    plugin.name
                ))),
                PluginKind::Command(pre) => {
                    let instance = pre.instantiate_async(&mut store).await?;
                    let status = instance.wasi_cli_run().call_run(&mut store).await?;
                    Ok(status.map_err(|()| "the command exited with an error status".to_owned()))
                }
                PluginKind::Command3(pre) => {
                    let instance = pre.instantiate_async(&mut store).await?;
                    // `run` is an async func: it runs on the store's event
                    // loop, with its subtasks (each request among them).
                    let status = store
                        .run_concurrent(async |store| instance.wasi_cli_run().call_run(store).await)
                        .await??;
                    Ok(status.map_err(|()| "the command exited with an error status".to_owned()))
                }
            }
        };
        let wall_limit = wall_limit(limits);
        let result = tokio::select! {
            result = call => Ok(result),
            outcome = wall_limit => Err(outcome),
            () = cancel.cancelled() => Err(Outcome::Interrupted),
        };
        let state = store.data_mut();
        let mut outcome = match result {
            Ok(Ok(Ok(()))) => Outcome::Completed,
            Ok(Ok(Err(message))) => Outcome::Failed(message),
            // `exit(0)` from a command is a normal end.
            Ok(Err(trap)) => match trap.downcast_ref::<wasmtime_wasi::I32Exit>() {
                Some(wasmtime_wasi::I32Exit(0)) => Outcome::Completed,
                Some(wasmtime_wasi::I32Exit(code)) => {
                    Outcome::Failed(format!("the command exited with status {code}"))
                }
                None => state
                    .stopped
                    .take()
                    .unwrap_or_else(|| Outcome::Trapped(describe_trap(&trap))),
            },
            Err(limit) => limit,
        };
        // Drop the store first: it flushes the last line of a command's stdout.
        let scraper_records = state.shared.records();
        drop(store);
        if let Some(Some(message)) = line_failed.map(|f| f.lock().expect("failed lock").take()) {
            outcome = Outcome::OutputFailed(message);
        }
        let records = scraper_records + line_count.map_or(0, |c| c.load(Ordering::Relaxed));
        RunReport {
            plugin: plugin.name.to_string(),
            outcome,
            records,
            elapsed: started.elapsed(),
            stats: session.stats().snapshot(),
        }
    }

    pub(crate) fn store(&self, spec: &RunSpec, lines: Option<Records>) -> Store<PluginState> {
        new_store(&self.stores(), spec, lines, RunShared::new(spec))
    }

    /// What making a store takes, for instances made away from the runtime.
    pub(crate) fn stores(&self) -> Stores {
        Stores {
            engine: self.engine.clone(),
            ticks: self.ticker.ticks(),
        }
    }
}

/// The engine and the epoch counter: what making a store takes.
#[derive(Clone)]
pub(crate) struct Stores {
    engine: wasmtime::Engine,
    ticks: Arc<AtomicU64>,
}

/// A store for one instance of the run `spec`, its stdout the records of a
/// command when `lines` is given, sharing `shared` with the run's other
/// instances.
pub(crate) fn new_store(
    stores: &Stores,
    spec: &RunSpec,
    lines: Option<Records>,
    shared: RunShared,
) -> Store<PluginState> {
    let RunSpec {
        plugin,
        input,
        limits,
        session,
        sink,
        ..
    } = spec;
    let name = plugin.name.clone();
    let log = shared.log().clone();
    let stdout = match lines {
        Some(records) => {
            GuestLog::records(&log, limits.max_output_bytes.unwrap_or(u64::MAX), records)
        }
        None => GuestLog::new(&log, "stdout"),
    };
    let wasi = WasiCtx::builder()
        .arg(&*name)
        .args(&input.args)
        .envs(&input.env)
        .stdout(stdout)
        .stderr(GuestLog::new(&log, "stderr"))
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build();
    let state = PluginState {
        plugin: name,
        log,
        table: ResourceTable::new(),
        wasi,
        http: WasiHttpCtx::new(),
        hooks: HttpHooks {
            session: session.clone(),
        },
        session: session.clone(),
        sink: sink.clone(),
        shared,
        stopped: None,
        queues: 0,
        queued: 0,
        fetching: Arc::default(),
        fetch_slots: Arc::new(tokio::sync::Semaphore::new(
            session.client().config().concurrency.max(1),
        )),
    };
    let mut store = Store::new(&stores.engine, state);
    store.limiter(|state| state);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(cpu_accounting(stores.ticks.clone(), limits.cpu_time));
    store
}

/// Resolves when the run's wall-clock limit (if any) is reached.
pub async fn wall_limit(limits: &Limits) -> Outcome {
    match limits.wall_time {
        Some(limit) => {
            tokio::time::sleep(limit).await;
            Outcome::WallLimit(limit)
        }
        None => std::future::pending().await,
    }
}

/// A trap in one readable line: what happened (the root cause, e.g.
/// `wasm trap: out of bounds memory access`) and where (the innermost
/// functions of the guest's stack).
pub(crate) fn describe_trap(err: &wasmtime::Error) -> String {
    let trace = err.downcast_ref::<wasmtime::WasmBacktrace>();
    let trace_text = trace.map(ToString::to_string);
    let causes: Vec<String> = err
        .chain()
        .map(|cause| cause.to_string())
        .filter(|cause| Some(cause) != trace_text.as_ref())
        .collect();
    let mut text = causes.join(": ");
    if let Some(trace) = trace {
        let frames: Vec<String> = trace
            .frames()
            .iter()
            .filter_map(|f| f.func_name())
            .take(4)
            .map(|name| format!("{:#}", rustc_demangle::demangle(name)))
            .collect();
        if !frames.is_empty() {
            text.push_str(&format!(" (in {})", frames.join(" < ")));
        }
    }
    text
}

/// The epoch callback: yield at every tick (so other plugins and the
/// network get their turn) and charge the guest for ticks it ran through.
///
/// A guest that resumes after waiting on I/O finds its deadline long past;
/// only a tick right after the previous one counts as CPU time.
fn cpu_accounting(
    ticks: Arc<AtomicU64>,
    cpu_time: Option<Duration>,
) -> impl FnMut(wasmtime::StoreContextMut<'_, PluginState>) -> wasmtime::Result<UpdateDeadline>
+ Send
+ Sync
+ 'static {
    let budget = cpu_time.map(|d| (d.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64);
    let mut last_seen = u64::MAX;
    move |mut ctx| {
        let now = ticks.load(Ordering::Relaxed);
        let state = ctx.data_mut();
        // The run's instances share one budget.
        let used = if now == last_seen.wrapping_add(1) {
            state.shared.charge_cpu_tick()
        } else {
            0
        };
        last_seen = now;
        if let (Some(budget), Some(limit)) = (budget, cpu_time)
            && used >= budget
        {
            state.stopped = Some(Outcome::CpuLimit(limit));
            wasmtime::bail!("the plugin used up its CPU time limit of {limit:?}");
        }
        Ok(UpdateDeadline::Yield(1))
    }
}
