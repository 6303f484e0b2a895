//! Plugins in native async Rust: the `crawlbox:plugin/scraper-async` world,
//! whose `run` and [`fetch`] are `async func`s of the component model
//! (WASI 0.3). Run them with `crawlbox run --wasip3`, which is
//! experimental.
//!
//! A [`fetch`] future is a request the host has already started: keep as
//! many as you like in flight with plain async Rust (`join`, `select`,
//! `FuturesUnordered`), and the host runs them under its caps, in the order
//! they were started. Everything else ([`emit`](crate::emit),
//! [`log`](crate::log), [`parse_html`](crate::parse_html), [`Request`],
//! [`Extract`](crate::Extract)) is the crate root's.
//!
//! ```no_run
//! use crawlbox_guest::asynchronous::{AsyncPlugin, fetch};
//! use crawlbox_guest::{Request, emit};
//!
//! struct Sizes;
//!
//! impl AsyncPlugin for Sizes {
//!     async fn run(input: String) -> crawlbox_guest::Result<()> {
//!         let urls: Vec<String> = crawlbox_guest::parse_input(&input)?;
//!         // Both requests are in flight at once.
//!         let (a, b) = futures::join!(fetch(Request::get(&urls[0])), fetch(Request::get(&urls[1])));
//!         for page in [a?, b?] {
//!             emit(&serde_json::json!({"url": page.url, "bytes": page.body.len()}))?;
//!         }
//!         Ok(())
//!     }
//! }
//!
//! crawlbox_guest::export_async_plugin!(Sizes);
//! ```

use std::future::Future;

use crate::{FetchError, Request, Response, Result};

/// Raw bindings of the `crawlbox:plugin/scraper-async` world. Its `host`
/// and `html` imports are those of [`crate::bindings`] (the same `Request`
/// and `Response` types); prefer the items of this module.
#[allow(missing_docs, missing_debug_implementations, unused_qualifications)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "crawlbox:plugin/scraper-async",
        pub_export_macro: true,
        export_macro_name: "export_scraper_async_world",
        default_bindings_module: "crawlbox_guest::asynchronous::bindings",
        with: {
            "crawlbox:plugin/host@0.2.1": crate::bindings::crawlbox::plugin::host,
            "crawlbox:plugin/html@0.2.1": crate::bindings::crawlbox::plugin::html,
        },
        generate_all,
    });
}

/// A native-async crawlbox plugin. Implement it and name the type in
/// [`export_async_plugin!`](crate::export_async_plugin).
pub trait AsyncPlugin {
    /// Runs the plugin, as [`Plugin::run`](crate::Plugin::run) does: `input`
    /// is the run's JSON input (`null` when none was given). An error ends
    /// the run with its message; records already emitted are kept.
    fn run(input: String) -> impl Future<Output = Result<()>>;
}

/// Fetches one request, as [`crate::fetch`] does, without blocking the
/// plugin: the host starts it at once and the future resolves with its
/// response. A plugin may have up to 65536 fetches pending; past that one
/// fails at once (`denied`).
pub async fn fetch(request: impl Into<Request>) -> Result<Response, FetchError> {
    bindings::crawlbox::plugin::host_async::fetch(request.into()).await
}

/// Exports an [`AsyncPlugin`] implementation as the component's async `run`.
#[macro_export]
macro_rules! export_async_plugin {
    ($plugin:ty) => {
        const _: () = {
            struct __CrawlboxExport;
            impl $crate::asynchronous::bindings::Guest for __CrawlboxExport {
                async fn run(
                    input: ::std::string::String,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    <$plugin as $crate::asynchronous::AsyncPlugin>::run(input)
                        .await
                        .map_err(|e| ::std::format!("{e:#}"))
                }
            }
            $crate::asynchronous::bindings::export_scraper_async_world!(
                __CrawlboxExport with_types_in $crate::asynchronous::bindings
            );
        };
    };
}
