//! `crawlbox compile`: fills the compile cache.

use std::process::ExitCode;

use anyhow::bail;
use crawlbox_net::Client;

use super::runtime;
use crate::cli::CompileArgs;
use crate::manifest::plugin_name;

pub fn compile(args: CompileArgs) -> anyhow::Result<ExitCode> {
    let Some(dir) = args.cache.dir() else {
        bail!("nothing to do with --no-cache: `compile` fills the compile cache");
    };
    let client = Client::new(crawlbox_net::ClientConfig::default())?;
    let runtime = runtime(client, &args.cache, false)?;
    for path in &args.plugins {
        let wasm = crawlbox_runtime::read_component(path)?;
        let started = std::time::Instant::now();
        let plugin = runtime.load(&plugin_name(path), &wasm)?;
        eprintln!(
            "crawlbox: compiled {} ({}, {:.1} MB) in {:.2}s into {}",
            path.display(),
            if plugin.is_command() {
                "command"
            } else {
                "scraper"
            },
            wasm.len() as f64 / 1e6,
            started.elapsed().as_secs_f64(),
            dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
