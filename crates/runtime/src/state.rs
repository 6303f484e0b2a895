//! The per-run store state of a plugin.

use std::sync::Arc;

use crawlbox_net::Session;
use serde::de::IgnoredAny;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::RecordSink;
use crate::http_hooks::HttpHooks;

pub(crate) struct PluginState {
    pub(crate) plugin: Arc<str>,
    /// The plugin's log and its budget, shared with its stdout and stderr.
    pub(crate) log: crate::output::PluginLog,
    pub(crate) table: ResourceTable,
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) hooks: HttpHooks,
    pub(crate) session: Session,
    pub(crate) sink: Arc<dyn RecordSink>,
    /// What the run's instances share: records written, CPU time, log.
    pub(crate) shared: crate::shared::RunShared,
    /// Why the host stopped the guest, when it did.
    pub(crate) stopped: Option<crate::Outcome>,
    /// `fetch-queue`s alive, and requests in them whose results were not taken.
    pub(crate) queues: usize,
    pub(crate) queued: usize,
    /// `host-async.fetch`es pending, and the slots (the client's
    /// concurrency cap) of those passed on to the client (see `host_async`).
    pub(crate) fetching: Arc<std::sync::atomic::AtomicUsize>,
    pub(crate) fetch_slots: Arc<tokio::sync::Semaphore>,
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for PluginState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Memory and tables may grow up to the run's limits; past them the guest
/// traps (rather than seeing a failed `memory.grow` it might ignore) and the
/// run ends as [`Outcome::MemoryLimit`](crate::Outcome::MemoryLimit).
impl wasmtime::ResourceLimiter for PluginState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.shared.limits().memory {
            self.stopped = Some(crate::Outcome::MemoryLimit(self.shared.limits().memory));
            wasmtime::bail!(
                "the plugin asked for {desired} bytes of memory, over its limit of {}",
                self.shared.limits().memory
            );
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.shared.limits().table_elements {
            wasmtime::bail!(
                "the plugin asked for a table of {desired} elements, over the limit of {}",
                self.shared.limits().table_elements
            );
        }
        Ok(true)
    }
}

impl PluginState {
    /// `host.emit`: validates one JSON value and writes it as one line.
    /// Invalid JSON and records past the output limits are refused (the
    /// guest gets an error); a failing sink stops the run, since nothing
    /// emitted may be lost silently.
    pub(crate) fn emit(&mut self, item: String) -> wasmtime::Result<Result<(), String>> {
        let (sink, plugin, stopped) = (&self.sink, &self.plugin, &mut self.stopped);
        self.shared.emit(item.len() as u64, || {
            let line = match record_line(item) {
                Ok(line) => line,
                Err(e) => return Ok(Err(e)),
            };
            if let Err(e) = sink.write(plugin, &line) {
                let message = format!("writing a record failed: {e}");
                *stopped = Some(crate::Outcome::OutputFailed(message.clone()));
                return Err(wasmtime::format_err!(message));
            }
            Ok(Ok(line.len() as u64))
        })
    }
}

/// A record as one line of JSON: one valid JSON value, re-serialised if it
/// spans lines (JSON strings cannot hold raw newlines, so any are whitespace
/// between tokens).
pub(crate) fn record_line(item: String) -> Result<String, String> {
    if let Err(e) = serde_json::from_str::<IgnoredAny>(&item) {
        return Err(format!("not a single valid JSON value: {e}"));
    }
    if !item.contains(['\n', '\r']) {
        return Ok(item);
    }
    serde_json::from_str::<serde_json::Value>(&item)
        .map(|value| value.to_string())
        .map_err(|e| format!("not a single valid JSON value: {e}"))
}
