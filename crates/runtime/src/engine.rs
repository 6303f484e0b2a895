//! The engine, the linker and loading plugins.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use std::path::{Path, PathBuf};

use crawlbox_net::Client;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine};
use wasmtime_wasi::p2::bindings::CommandPre;

use crate::host::{ScraperPre, crawlbox::plugin::host};
use crate::state::PluginState;

/// How often the epoch advances: the granularity of CPU-time accounting and
/// of preemption (a running guest yields to others at every tick).
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The process's WebAssembly runtime. See the [crate docs](crate).
pub struct Runtime {
    pub(crate) engine: Engine,
    linker: Linker<PluginState>,
    /// WASI 0.3 components are linked too (see [`Runtime::with_wasip3`]).
    wasip3: bool,
    pub(crate) client: Client,
    pub(crate) ticker: EpochTicker,
    cache_dir: Option<PathBuf>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").finish_non_exhaustive()
    }
}

/// A compiled, pre-instantiated plugin. Cheap to clone; run it any number of
/// times with [`Runtime::run`].
#[derive(Clone)]
pub struct Plugin {
    pub(crate) name: Arc<str>,
    pub(crate) kind: PluginKind,
}

/// What a component exports.
#[derive(Clone)]
pub(crate) enum PluginKind {
    /// The `crawlbox:plugin/scraper` world: `run(input)`.
    Scraper(ScraperPre<PluginState>),
    /// A plain `wasi:cli/command` (what `wasmtime run` runs): its stdout
    /// lines are the records.
    Command(CommandPre<PluginState>),
    /// A WASI 0.3 `wasi:cli/command` (its `run` is an `async func`), under
    /// [`Runtime::with_wasip3`]: its stdout lines are the records.
    Command3(wasmtime_wasi::p3::bindings::CommandPre<PluginState>),
    /// The `crawlbox:plugin/scraper-async` world (`run` and `fetch` are
    /// `async func`s), under [`Runtime::with_wasip3`].
    ScraperAsync(crate::host_async::ScraperAsyncPre<PluginState>),
    /// The `crawlbox:plugin/spider` world: `start` and `parse`, the host
    /// drives the crawl.
    Spider(crate::host::spider::SpiderPre<PluginState>),
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    /// The name the plugin was loaded under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether this is a plain `wasi:cli/command` rather than a scraper.
    pub fn is_command(&self) -> bool {
        matches!(self.kind, PluginKind::Command(_) | PluginKind::Command3(_))
    }

    /// Whether this is a spider (`crawlbox crawl`).
    pub fn is_spider(&self) -> bool {
        matches!(self.kind, PluginKind::Spider(_))
    }
}

/// Largest plugin file [`read_component`] reads: a component of the
/// languages tested is 1-40 MB.
pub const MAX_COMPONENT_BYTES: u64 = 1 << 30;

/// Reads the plugin file at `path`, checking its first 8 bytes before the
/// rest: a file that is not a WebAssembly component (a text file of any
/// size, `/dev/zero`, a core module) is refused at once, without being read
/// whole, and a component larger than [`MAX_COMPONENT_BYTES`] is refused
/// after that many bytes (a pipe or a device may never end).
pub fn read_component(path: &Path) -> Result<Vec<u8>, LoadError> {
    use std::io::Read;
    let name = || path.display().to_string();
    let read_error = |e: std::io::Error| LoadError::Read {
        path: name(),
        message: e.to_string(),
    };
    let mut file = std::fs::File::open(path).map_err(read_error)?;
    if file.metadata().map_err(read_error)?.is_dir() {
        return Err(LoadError::Read {
            path: name(),
            message: "it is a directory: give the .wasm file".into(),
        });
    }
    let mut head = Vec::with_capacity(8);
    (&mut file)
        .take(8)
        .read_to_end(&mut head)
        .map_err(read_error)?;
    check_magic(&name(), &head)?;
    let size_hint = file.metadata().map_or(0, |m| m.len());
    let mut wasm =
        Vec::with_capacity(usize::try_from(size_hint.min(MAX_COMPONENT_BYTES)).unwrap_or(0));
    wasm.extend_from_slice(&head);
    file.take(MAX_COMPONENT_BYTES + 1 - 8)
        .read_to_end(&mut wasm)
        .map_err(read_error)?;
    if wasm.len() as u64 > MAX_COMPONENT_BYTES {
        return Err(LoadError::TooLarge {
            path: name(),
            limit: MAX_COMPONENT_BYTES,
        });
    }
    Ok(wasm)
}

/// Whether `wasm` starts like a component (`head` may be just its first 8
/// bytes); the error names the plugin and says what it is instead.
fn check_magic(name: &str, head: &[u8]) -> Result<(), LoadError> {
    let name = name.to_owned();
    match head.get(..8) {
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => Err(LoadError::CoreModule { name }),
        // Other versions: let wasmtime say what it makes of them.
        Some([0, b'a', b's', b'm', ..]) => Ok(()),
        _ => Err(LoadError::NotWasm { name }),
    }
}

/// Why a plugin could not be loaded. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read the plugin {path}: {message}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// The file is larger than any plugin should be.
    #[error(
        "the plugin {path} is larger than {} MiB, more than any component crawlbox \
         runs: is it the right file?",
        limit >> 20
    )]
    TooLarge {
        /// The file.
        path: String,
        /// [`MAX_COMPONENT_BYTES`].
        limit: u64,
    },
    /// Not WebAssembly at all.
    #[error(
        "{name} is not a WebAssembly component (it does not start with the `\\0asm` magic): \
         give the .wasm file built for `--target wasm32-wasip2`"
    )]
    NotWasm {
        /// The plugin's name.
        name: String,
    },
    /// A core module rather than a component.
    #[error(
        "{name} is a core WebAssembly module, not a component: build the plugin for \
         `--target wasm32-wasip2`, or wrap it with `wasm-tools component new`"
    )]
    CoreModule {
        /// The plugin's name.
        name: String,
    },
    /// Compilation failed.
    #[error("{name} is not a valid WebAssembly component: {message}")]
    Invalid {
        /// The plugin's name.
        name: String,
        /// What wasmtime reported.
        message: String,
    },
    /// It imports something the host does not provide.
    #[error(
        "{name} imports something crawlbox does not provide (plugins get WASI 0.2 cli, clocks, \
         random, io, wasi:http and crawlbox:plugin/host): {message}"
    )]
    Imports {
        /// The plugin's name.
        name: String,
        /// What wasmtime reported.
        message: String,
    },
    /// It lacks the `run` export of the `scraper` world, and is no command.
    #[error(
        "{name} exports neither `run: func(input: string) -> result<_, string>` (the \
         crawlbox:plugin/scraper world, or its `async func` of scraper-async under \
         --wasip3), nor `start` and `parse` (crawlbox:plugin/spider), nor `wasi:cli/run` \
         (a command): build it against one of them ({message})"
    )]
    NoRun {
        /// The plugin's name.
        name: String,
        /// What wasmtime reported.
        message: String,
    },
}

/// The environment variable that names a profiler for plugins' compiled
/// code: `perfmap` (writes `/tmp/perf-PID.map`, so `perf report` names a
/// plugin's functions) or `jitdump` (for `perf inject --jit`). Unset or
/// anything else: none.
pub const PROFILER_ENV: &str = "CRAWLBOX_PROFILER";

fn profiler_from_env() -> wasmtime::ProfilingStrategy {
    match std::env::var(PROFILER_ENV).as_deref() {
        Ok("perfmap") => wasmtime::ProfilingStrategy::PerfMap,
        Ok("jitdump") => wasmtime::ProfilingStrategy::JitDump,
        _ => wasmtime::ProfilingStrategy::None,
    }
}

impl Runtime {
    /// A runtime whose plugins fetch through `client`: WASI 0.2 components.
    pub fn new(client: Client) -> wasmtime::Result<Self> {
        Self::build(client, false)
    }

    /// A runtime that runs WASI 0.3 commands too (`wasi:cli/run@0.3` and
    /// `wasi:http/client@0.3`, through the same client, caps and policy as
    /// 0.2's `wasi:http`). **Experimental**: wasmtime's WASI 0.3 is, and it
    /// gets no patch releases for security fixes of its own; and the
    /// component-model async it needs costs every call a little, 0.2
    /// plugins' too. See SECURITY.md.
    pub fn with_wasip3(client: Client) -> wasmtime::Result<Self> {
        Self::build(client, true)
    }

    fn build(client: Client, wasip3: bool) -> wasmtime::Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.profiler(profiler_from_env());
        if wasip3 {
            config.wasm_component_model_async(true);
        } else {
            // WASI 0.2 components only: no component-model async, so skip
            // its per-store and per-call bookkeeping.
            config.concurrency_support(false);
        }
        let engine = Engine::new(&config)?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        if wasip3 {
            // The same WasiCtx (no files, no sockets) and the same
            // WasiHttpHooks: a 0.3 request goes through crawlbox's client.
            wasmtime_wasi::p3::add_to_linker(&mut linker)?;
            wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
            crate::host_async::add_to_linker(&mut linker)?;
        }
        host::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;
        crate::host::crawlbox::plugin::html::add_to_linker::<_, HasSelf<_>>(
            &mut linker,
            |state| state,
        )?;

        let ticker = EpochTicker::start(engine.clone());
        Ok(Self {
            engine,
            linker,
            wasip3,
            client,
            ticker,
            cache_dir: None,
        })
    }

    /// Keeps compiled plugins in `dir` (created, owner-only), so a plugin
    /// that did not change loads without compiling. See [`Runtime::load`].
    pub fn with_cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// The HTTP client plugins use.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Compiles a plugin from the bytes of a `.wasm` component and links it.
    /// `name` appears in logs, errors and stats.
    pub fn load(&self, name: &str, wasm: &[u8]) -> Result<Plugin, LoadError> {
        let named = || name.to_owned();
        check_magic(name, wasm)?;
        let started = std::time::Instant::now();
        // wasmtime's messages quote names from the component: escaped.
        let message = |e: wasmtime::Error| crate::escape_untrusted(&format!("{e:#}")).into_owned();
        // A WASI 0.3 component fails to compile (it uses component-model
        // async) or to link (it imports @0.3 interfaces) without --wasip3.
        let hint = |mut message: String, wasi3: bool| {
            if !self.wasip3 && wasi3 {
                message.push_str(
                    " (a WASI 0.3 component: run it with --wasip3, which is experimental)",
                );
            }
            message
        };
        let component = self.compile(wasm).map_err(|e| {
            let message = message(e);
            let wasi3 = message.contains("component model async");
            LoadError::Invalid {
                name: named(),
                message: hint(message, wasi3),
            }
        })?;
        let pre = self.linker.instantiate_pre(&component).map_err(|e| {
            let message = message(e);
            let wasi3 = message.contains("@0.3.");
            LoadError::Imports {
                name: named(),
                message: hint(message, wasi3),
            }
        })?;
        let kind = if let Ok(scraper) = ScraperPre::new(pre.clone()) {
            PluginKind::Scraper(scraper)
        } else if let Ok(spider) = crate::host::spider::SpiderPre::new(pre.clone()) {
            PluginKind::Spider(spider)
        } else if let Some(Ok(scraper)) = self
            .wasip3
            .then(|| crate::host_async::ScraperAsyncPre::new(pre.clone()))
        {
            PluginKind::ScraperAsync(scraper)
        } else {
            match CommandPre::new(pre.clone()) {
                Ok(command) => PluginKind::Command(command),
                Err(e) => match self
                    .wasip3
                    .then(|| wasmtime_wasi::p3::bindings::CommandPre::new(pre))
                {
                    Some(Ok(command)) => PluginKind::Command3(command),
                    _ => {
                        return Err(LoadError::NoRun {
                            name: named(),
                            message: message(e),
                        });
                    }
                },
            }
        };
        tracing::debug!(
            target: "crawlbox",
            "loaded {name} ({} bytes) in {:?}",
            wasm.len(),
            started.elapsed()
        );
        Ok(Plugin {
            name: name.into(),
            kind,
        })
    }

    /// Compiles a component, through the cache directory when there is one:
    /// an entry is keyed by the component's BLAKE3 hash, the wasmtime version
    /// and the engine's settings, carries a hash of its own contents, and is
    /// only used if that hash matches; anything else is compiled afresh and
    /// written anew (atomically). Entries are only ever read from this cache,
    /// which only this host writes.
    fn compile(&self, wasm: &[u8]) -> wasmtime::Result<Component> {
        let Some(dir) = &self.cache_dir else {
            return Component::new(&self.engine, wasm);
        };
        let path = dir.join(format!("{}.cwasm", self.cache_key(wasm)));
        if let Some(compiled) = read_verified(&path) {
            // SAFETY: the bytes were produced by `precompile_component` of an
            // engine with this exact configuration and wasmtime version (both
            // are in the file name), written by this host into its private
            // cache, and their BLAKE3 hash matches the one written with them.
            #[allow(unsafe_code)]
            match unsafe { Component::deserialize(&self.engine, compiled) } {
                Ok(component) => return Ok(component),
                Err(e) => tracing::warn!(
                    target: "crawlbox",
                    "ignoring the unusable cache entry {}: {e:#}",
                    path.display()
                ),
            }
        }
        let compiled = self.engine.precompile_component(wasm)?;
        if let Err(e) = write_verified(dir, &path, &compiled) {
            tracing::warn!(target: "crawlbox", "cannot write the compile cache {}: {e}", dir.display());
        }
        // SAFETY: `compiled` was produced just now by this engine.
        #[allow(unsafe_code)]
        unsafe {
            Component::deserialize(&self.engine, &compiled)
        }
    }

    fn cache_key(&self, wasm: &[u8]) -> String {
        use std::hash::{Hash, Hasher};
        let mut settings = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut settings);
        format!(
            "{}-{}-{:016x}",
            hash(wasm).to_hex(),
            env!("CARGO_PKG_VERSION"),
            settings.finish()
        )
    }
}

/// BLAKE3 on every core: components and their compiled forms are tens of
/// megabytes, hashed on every start.
fn hash(bytes: &[u8]) -> blake3::Hash {
    blake3::Hasher::new().update_rayon(bytes).finalize()
}

/// A cache entry is the BLAKE3 hash of the compiled bytes, then the bytes.
fn read_verified(path: &Path) -> Option<Vec<u8>> {
    let mut file = std::fs::read(path).ok()?;
    if file.len() < 32 {
        return None;
    }
    let compiled = file.split_off(32);
    (hash(&compiled).as_bytes()[..] == file[..]).then_some(compiled)
}

fn write_verified(dir: &Path, path: &Path, compiled: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(hash(compiled).as_bytes())?;
    file.write_all(compiled)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Advances the engine's epoch every [`EPOCH_TICK`] on a thread of its own,
/// and counts the ticks (to tell a guest that ran through a tick from one
/// that was waiting on I/O).
pub(crate) struct EpochTicker {
    ticks: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine) -> Self {
        let ticks = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (ticks, stop) = (ticks.clone(), stop.clone());
            std::thread::Builder::new()
                .name("crawlbox-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        ticks.fetch_add(1, Ordering::Relaxed);
                        engine.increment_epoch();
                    }
                })
                .expect("spawn the epoch thread")
        };
        Self {
            ticks,
            stop,
            thread: Some(thread),
        }
    }

    pub(crate) fn ticks(&self) -> Arc<AtomicU64> {
        self.ticks.clone()
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str, bytes: &[u8]) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("crawlbox-engine-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn a_file_that_is_not_a_component_is_refused_after_8_bytes() {
        // /dev/zero never ends: only its first 8 bytes are read.
        let err = read_component(Path::new("/dev/zero")).unwrap_err();
        assert!(matches!(err, LoadError::NotWasm { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("/dev/zero is not a WebAssembly component")
        );
        // A 2 GiB file (sparse): refused without reading it.
        let big = scratch("big.wasm", b"just text\n");
        std::fs::OpenOptions::new()
            .write(true)
            .open(&big)
            .unwrap()
            .set_len(2 << 30)
            .unwrap();
        let started = std::time::Instant::now();
        assert!(matches!(
            read_component(&big),
            Err(LoadError::NotWasm { .. })
        ));
        assert!(started.elapsed() < Duration::from_secs(1));
        std::fs::remove_file(&big).unwrap();
        // Shorter than the magic, a core module, a directory, a missing file.
        let short = scratch("short.wasm", b"\0as");
        assert!(matches!(
            read_component(&short),
            Err(LoadError::NotWasm { .. })
        ));
        let core = scratch("core.wasm", &[0, b'a', b's', b'm', 1, 0, 0, 0]);
        assert!(matches!(
            read_component(&core),
            Err(LoadError::CoreModule { .. })
        ));
        let err = read_component(&std::env::temp_dir()).unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
        let err = read_component(Path::new("/nonexistent/x.wasm")).unwrap_err();
        assert!(
            err.to_string()
                .contains("cannot read the plugin /nonexistent/x.wasm"),
            "{err}"
        );
        for path in [short, core] {
            std::fs::remove_file(path).unwrap();
        }
    }

    #[test]
    fn a_component_is_read_whole() {
        let mut bytes = vec![0, b'a', b's', b'm', 0x0d, 0, 1, 0];
        bytes.extend(std::iter::repeat_n(7u8, 100_000));
        let path = scratch("component.wasm", &bytes);
        assert_eq!(read_component(&path).unwrap(), bytes);
        std::fs::remove_file(&path).unwrap();
    }
}
