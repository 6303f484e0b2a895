//! `crawlbox`: run untrusted scraping plugins through one pooled, capped
//! HTTP client. See `crawlbox --help`.
//!
//! Exit codes: 0 the run completed; 1 the plugin failed (returned an
//! error, crashed or hit a limit); 2 bad usage or a plugin that cannot be
//! loaded (nothing ran).

mod cli;
mod console;
mod output;
mod summary;
mod units;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Parser;
use crawlbox_demo_site::{Site, SiteConfig};
use crawlbox_net::Client;
use crawlbox_runtime::Runtime;

use crate::cli::{Cli, Command, CommonArgs, DemoArgs, RunArgs};
use crate::console::Progress;
use crate::output::JsonLines;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let common = match &cli.command {
        Command::Run(args) => &args.common,
        Command::Demo(args) => &args.common,
    };
    if let Err(e) = console::init_logging(&common.log) {
        eprintln!("crawlbox: {e:#}");
        return ExitCode::from(2);
    }
    // One thread drives every guest and every connection: on a few cores
    // this beats a work-stealing pool (no cross-thread wakeups), and the
    // epoch interrupt makes guests take turns.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("crawlbox: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run(args).await,
            Command::Demo(args) => demo(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("crawlbox: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let input = read_input(&args)?;
    let wasm = std::fs::read(&args.plugin)
        .with_context(|| format!("cannot read the plugin {}", args.plugin.display()))?;
    let name = plugin_name(&args.plugin);
    run_plugin(&args.common, &name, &wasm, &input).await
}

async fn demo(args: DemoArgs) -> anyhow::Result<ExitCode> {
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
    let wasm = crawlbox_guest_artifacts::example_crawler();
    let code = run_plugin(&args.common, "example-crawler", wasm, &input).await?;
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

/// Loads and runs one plugin; prints the summary; returns the exit code.
async fn run_plugin(
    common: &CommonArgs,
    name: &str,
    wasm: &[u8],
    input: &str,
) -> anyhow::Result<ExitCode> {
    let client = Client::new(common.client_config()).context("invalid network settings")?;
    let runtime = Runtime::new(client.clone())
        .map_err(|e| anyhow::anyhow!("cannot set up the WebAssembly runtime: {e:#}"))?;
    let plugin = runtime.load(name, wasm)?;
    let sink = Arc::new(JsonLines::open(common.out.as_deref())?);
    let session = client.session();
    let progress = Progress::start(common.quiet, name, &session, &client, sink.clone());
    let report = runtime
        .run(&plugin, input, &common.limits(), session, sink)
        .await;
    drop(progress);

    if common.quiet {
        if !report.outcome.is_success() {
            eprintln!("crawlbox: {name}: {}", report.outcome);
        }
    } else {
        eprint!("{}", summary::text(&report, &client));
    }
    if let Some(path) = &common.stats {
        let json = serde_json::to_string_pretty(&summary::json(&report, &client))?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write the stats to {}", path.display()))?;
    }
    Ok(if report.outcome.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The input JSON: `--input`, `--input-file`, or `null`.
fn read_input(args: &RunArgs) -> anyhow::Result<String> {
    let (input, source) = match (&args.input, &args.input_file) {
        (Some(text), _) => (text.clone(), "--input".to_owned()),
        (None, Some(path)) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --input-file {}", path.display()))?,
            format!("--input-file {}", path.display()),
        ),
        (None, None) => return Ok("null".to_owned()),
    };
    if let Err(e) = serde_json::from_str::<serde_json::Value>(&input) {
        bail!("{source} is not valid JSON: {e}");
    }
    Ok(input)
}

/// `path/to/my-plugin.wasm` → `my-plugin`.
fn plugin_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().replace('_', "-"))
        .unwrap_or_else(|| "plugin".to_owned())
}
