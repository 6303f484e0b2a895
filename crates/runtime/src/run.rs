//! Running a plugin: one fresh instance per run, under limits.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crawlbox_net::{Session, StatsSnapshot};
use wasmtime::component::ResourceTable;
use wasmtime::{Store, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi_http::WasiHttpCtx;

use crate::engine::EPOCH_TICK;
use crate::http_hooks::HttpHooks;
use crate::output::GuestLog;
use crate::state::PluginState;
use crate::{Plugin, RecordSink, Runtime};

/// Limits of one plugin run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory of the instance, in bytes. Default: 256 MiB.
    pub memory: usize,
    /// Wall-clock time for the whole run. Default: none.
    pub wall_time: Option<Duration>,
    /// Time the guest may spend running code (waiting for responses does
    /// not count), measured in 10 ms epochs. Default: none.
    pub cpu_time: Option<Duration>,
    /// Bytes of the guest's stdout, and of its stderr, passed to the log;
    /// the rest is discarded. Default: 1 MiB each.
    pub log_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory: 256 * 1024 * 1024,
            wall_time: None,
            cpu_time: None,
            log_bytes: 1024 * 1024,
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
    /// The guest used up its CPU time.
    CpuLimit(Duration),
    /// The run took longer than its wall-clock limit.
    WallLimit(Duration),
    /// A record could not be written.
    OutputFailed(String),
}

impl Outcome {
    /// Whether the run completed.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Completed)
    }

    /// A short stable name: `completed`, `failed`, `trapped`, `cpu-limit`,
    /// `wall-limit`, `output-failed`.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Failed(_) => "failed",
            Outcome::Trapped(_) => "trapped",
            Outcome::CpuLimit(_) => "cpu-limit",
            Outcome::WallLimit(_) => "wall-limit",
            Outcome::OutputFailed(_) => "output-failed",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Completed => write!(f, "completed"),
            Outcome::Failed(m) => write!(f, "the plugin returned an error: {m}"),
            Outcome::Trapped(m) => write!(f, "the plugin crashed (trap): {m}"),
            Outcome::CpuLimit(d) => write!(f, "the plugin used up its CPU time limit of {d:?}"),
            Outcome::WallLimit(d) => write!(f, "the run hit its wall-clock limit of {d:?}"),
            Outcome::OutputFailed(m) => write!(f, "{m}"),
        }
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
    /// Runs `plugin` once with `input` (JSON text). Network requests go
    /// through `session` (so the caller can watch its stats); records go to
    /// `sink`. Never panics on guest misbehaviour: every way a run can end
    /// is an [`Outcome`].
    pub async fn run(
        &self,
        plugin: &Plugin,
        input: &str,
        limits: &Limits,
        session: Session,
        sink: Arc<dyn RecordSink>,
    ) -> RunReport {
        let started = Instant::now();
        let mut store = self.store(plugin, limits, session.clone(), sink);
        let call = async {
            let instance = plugin.pre.instantiate_async(&mut store).await?;
            instance.call_run(&mut store, input).await
        };
        let result = match limits.wall_time {
            Some(limit) => tokio::time::timeout(limit, call)
                .await
                .map_err(|_| Outcome::WallLimit(limit)),
            None => Ok(call.await),
        };
        let state = store.data_mut();
        let outcome = match result {
            Ok(Ok(Ok(()))) => Outcome::Completed,
            Ok(Ok(Err(message))) => Outcome::Failed(message),
            Ok(Err(trap)) => state
                .stopped
                .take()
                .unwrap_or_else(|| Outcome::Trapped(format!("{trap:?}"))),
            Err(limit) => limit,
        };
        RunReport {
            plugin: plugin.name.to_string(),
            outcome,
            records: state.records,
            elapsed: started.elapsed(),
            stats: session.stats().snapshot(),
        }
    }

    fn store(
        &self,
        plugin: &Plugin,
        limits: &Limits,
        session: Session,
        sink: Arc<dyn RecordSink>,
    ) -> Store<PluginState> {
        let name = plugin.name.clone();
        let wasi = WasiCtx::builder()
            .arg(&*name)
            .stdout(GuestLog::new(name.clone(), "stdout", limits.log_bytes))
            .stderr(GuestLog::new(name.clone(), "stderr", limits.log_bytes))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let state = PluginState {
            plugin: name,
            table: ResourceTable::new(),
            wasi,
            http: WasiHttpCtx::new(),
            hooks: HttpHooks {
                session: session.clone(),
            },
            session,
            sink,
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory)
                .trap_on_grow_failure(true)
                .build(),
            records: 0,
            cpu_ticks: 0,
            stopped: None,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(cpu_accounting(self.ticker.ticks(), limits.cpu_time));
        store
    }
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
        if now == last_seen.wrapping_add(1) {
            state.cpu_ticks += 1;
        }
        last_seen = now;
        if let (Some(budget), Some(limit)) = (budget, cpu_time)
            && state.cpu_ticks >= budget
        {
            state.stopped = Some(Outcome::CpuLimit(limit));
            wasmtime::bail!("the plugin used up its CPU time limit of {limit:?}");
        }
        Ok(UpdateDeadline::Yield(1))
    }
}
