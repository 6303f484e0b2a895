//! `crawlbox demo`: the example crawler on a built-in site, no internet.

use std::process::ExitCode;

use anyhow::Context;
use crawlbox_demo_site::{Site, SiteConfig};

use super::run::run_jobs;
use crate::cli::{DemoArgs, PluginArgs};
use crate::manifest::{Job, Manifest, WasmSource};

pub async fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let site = Site::start(SiteConfig {
        pages: args.pages.max(1),
        ..SiteConfig::default()
    })
    .context("cannot start the demo site on 127.0.0.1")?;
    tracing::info!(
        target: "crawlbox",
        "demo site with {} pages at {}; crawling it with the example plugin",
        args.pages,
        site.base_url()
    );
    let input = serde_json::json!({
        "start": [site.url("/page/0")],
        "max_pages": args.max_pages,
        "batch": 32,
    })
    .to_string();
    // The demo site is on loopback: grant exactly it.
    let plugin_args = PluginArgs {
        allow_host: [args.plugin.allow_host, vec![site.base_url()]].concat(),
        allow_network: [
            args.plugin.allow_network,
            vec![site.addr().ip().to_string()],
        ]
        .concat(),
        ..args.plugin
    };
    let job = Job::resolve(
        WasmSource::Embedded(crawlbox_guest_artifacts::example_crawler()),
        "example-crawler",
        &Manifest::default(),
        Some(input),
        &[],
        &plugin_args,
    )?;
    let code = run_jobs(&args.common, vec![job]).await?;
    let seen = site.counters();
    if !args.common.quiet {
        eprintln!(
            "  the demo site saw  {} requests over {} connections, at most {} in flight",
            seen.requests(),
            seen.connections(),
            seen.peak_in_flight()
        );
    }
    Ok(code)
}
