//! The engine, the linker and loading plugins.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crawlbox_net::Client;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine};

use crate::host::{ScraperPre, crawlbox::plugin::host};
use crate::state::PluginState;

/// How often the epoch advances: the granularity of CPU-time accounting and
/// of preemption (a running guest yields to others at every tick).
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The process's WebAssembly runtime. See the [crate docs](crate).
pub struct Runtime {
    pub(crate) engine: Engine,
    linker: Linker<PluginState>,
    pub(crate) client: Client,
    pub(crate) ticker: EpochTicker,
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
    pub(crate) pre: ScraperPre<PluginState>,
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
}

/// Why a plugin could not be loaded. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Not WebAssembly at all.
    #[error("{name} is not a WebAssembly component (it does not start with the `\\0asm` magic)")]
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
    /// It lacks the `run` export of the `scraper` world.
    #[error(
        "{name} does not export `run: func(input: string) -> result<_, string>`: build it \
         against the crawlbox:plugin/scraper world ({message})"
    )]
    NoRun {
        /// The plugin's name.
        name: String,
        /// What wasmtime reported.
        message: String,
    },
}

impl Runtime {
    /// A runtime whose plugins fetch through `client`.
    pub fn new(client: Client) -> wasmtime::Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        // Plugins are WASI 0.2 components: no component-model async, so skip
        // its per-store and per-call bookkeeping.
        config.concurrency_support(false);
        let engine = Engine::new(&config)?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        host::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state)?;

        let ticker = EpochTicker::start(engine.clone());
        Ok(Self {
            engine,
            linker,
            client,
            ticker,
        })
    }

    /// The HTTP client plugins use.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Compiles a plugin from the bytes of a `.wasm` component and links it.
    /// `name` appears in logs, errors and stats.
    pub fn load(&self, name: &str, wasm: &[u8]) -> Result<Plugin, LoadError> {
        let named = || name.to_owned();
        match wasm.get(..8) {
            Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => {
                return Err(LoadError::CoreModule { name: named() });
            }
            Some([0, b'a', b's', b'm', ..]) => {}
            _ => return Err(LoadError::NotWasm { name: named() }),
        }
        let component = Component::new(&self.engine, wasm).map_err(|e| LoadError::Invalid {
            name: named(),
            message: format!("{e:#}"),
        })?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Imports {
                name: named(),
                message: format!("{e:#}"),
            })?;
        let pre = ScraperPre::new(pre).map_err(|e| LoadError::NoRun {
            name: named(),
            message: format!("{e:#}"),
        })?;
        Ok(Plugin {
            name: name.into(),
            pre,
        })
    }
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
