//! `crawlbox`: run untrusted scraping plugins through one pooled, capped
//! HTTP client. See `crawlbox --help`.
//!
//! Exit codes: 0 every run completed; 1 a plugin failed (returned an error,
//! crashed or hit a limit); 2 bad usage or a plugin that cannot be loaded
//! (nothing ran); 3 every run completed but nothing was fetched; 4 the host
//! failed (output, journal, Redis); 130 interrupted (Ctrl-C).
//!
//! Each command is a module of `commands`, sharing one set-up
//! (`commands::Host`).

mod cli;
mod commands;
mod console;
mod manifest;
mod metrics;
mod names;
mod output;
mod report;
mod summary;
mod units;
mod watch;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log = match &cli.command {
        Command::Run(args) => &args.common.log,
        Command::Demo(args) => &args.common.log,
        Command::Compile(_) => "warn,crawlbox=info",
        Command::Crawl(args) => &args.common.log,
        Command::Worker(args) => &args.common.log,
        Command::Export(_) => "warn,crawlbox=info",
        Command::New(_) | Command::Build(_) | Command::Wit(_) => "warn,crawlbox=info",
        Command::Parse(args) => &args.common.log,
        Command::Report(_) => "warn,crawlbox=info",
    };
    if let Err(e) = console::init_logging(log) {
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
            Command::Run(args) => commands::run::run(args).await,
            Command::Demo(args) => commands::demo::demo(args).await,
            Command::Compile(args) => commands::compile::compile(args),
            Command::Crawl(args) => commands::crawl::crawl(args).await,
            Command::Worker(args) => commands::worker::worker(args).await,
            Command::Export(args) => commands::export::export(args).await,
            Command::New(args) => commands::author::new(args),
            Command::Build(args) => commands::author::build(args),
            Command::Wit(args) => commands::author::wit(args),
            Command::Parse(args) => commands::parse::parse(args).await,
            Command::Report(args) => report::from_stats(&args.stats, &args.out),
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
