//! `crawlbox demo [PLUGIN.wasm]`: the example crawler (or the user's
//! plugin: a scraper or a spider) on a built-in site, no internet.

use std::process::ExitCode;

use anyhow::Context;
use crawlbox_demo_site::{Site, SiteConfig};

use super::crawl::{LocalCrawl, crawl_locally};
use super::run::{run_jobs, run_loaded};
use super::{Host, file_job};
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
        "demo site with {} pages at {}; crawling it with {}",
        args.pages,
        site.base_url(),
        args.plugin_wasm
            .as_ref()
            .map_or_else(|| "the example plugin".to_owned(), |p| p.display().to_string())
    );
    let mut input = serde_json::json!({
        "start": [site.url("/page/0")],
        "max_pages": args.max_pages,
    });
    if args.plugin_wasm.is_none() {
        input["batch"] = 32.into();
    }
    let input = input.to_string();
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
    let code = match &args.plugin_wasm {
        None => {
            let job = Job::resolve(
                WasmSource::Embedded(crawlbox_guest_artifacts::example_crawler()),
                "example-crawler",
                &Manifest::default(),
                Some(input),
                &[],
                &plugin_args,
            )?;
            run_jobs(&args.common, vec![job]).await?
        }
        Some(path) => {
            // The plugin's own manifest (its limits, its name), with the
            // demo's input and grant.
            let job = file_job(path, None, Some(input), &[], &plugin_args)?;
            let host = Host::start(args.common.client_config()?, &args.common)?;
            let plugin = host.load(&job, &job.wasm.bytes()?)?;
            if plugin.is_spider() {
                let local = LocalCrawl {
                    state: None,
                    limits: crawlbox_frontier::Limits {
                        max_pages: Some(args.max_pages as u64),
                        max_depth: None,
                    },
                    caps: crawlbox_frontier::Caps::default(),
                    options: crawlbox_crawl::CrawlOptions::default(),
                };
                crawl_locally(&host, &job, plugin, &args.common, local).await?
            } else {
                run_loaded(&host, &args.common, vec![job], vec![plugin]).await?
            }
        }
    };
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
