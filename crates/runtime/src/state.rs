//! The per-run store state of a plugin.

use std::sync::Arc;

use crawlbox_net::Session;
use serde::de::IgnoredAny;
use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::RecordSink;
use crate::http_hooks::HttpHooks;

pub(crate) struct PluginState {
    pub(crate) plugin: Arc<str>,
    pub(crate) table: ResourceTable,
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) hooks: HttpHooks,
    pub(crate) session: Session,
    pub(crate) sink: Arc<dyn RecordSink>,
    pub(crate) limits: StoreLimits,
    /// Records written so far.
    pub(crate) records: u64,
    /// Epoch ticks the guest has run for (CPU time, in ticks).
    pub(crate) cpu_ticks: u64,
    /// Why the host stopped the guest, when it did.
    pub(crate) stopped: Option<crate::Outcome>,
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

impl PluginState {
    /// `host.emit`: validates one JSON value and writes it as one line.
    /// Invalid JSON is refused (the guest gets an error); a failing sink
    /// stops the run, since nothing emitted may be lost silently.
    pub(crate) fn emit(&mut self, item: String) -> wasmtime::Result<Result<(), String>> {
        if let Err(e) = serde_json::from_str::<IgnoredAny>(&item) {
            return Ok(Err(format!("not a single valid JSON value: {e}")));
        }
        // JSON strings cannot hold raw newlines, so any are whitespace
        // between tokens; re-serialise to keep one record per line.
        let line = if item.contains(['\n', '\r']) {
            let value: serde_json::Value = serde_json::from_str(&item)?;
            value.to_string()
        } else {
            item
        };
        if let Err(e) = self.sink.write(&self.plugin, &line) {
            let message = format!("writing a record failed: {e}");
            self.stopped = Some(crate::Outcome::OutputFailed(message.clone()));
            return Err(wasmtime::format_err!(message));
        }
        self.records += 1;
        Ok(Ok(()))
    }
}
