//! `crawlbox run`: scrapers and commands, any number at once on one client.

use std::process::ExitCode;

use anyhow::{Context, bail};
use crawlbox_runtime::Outcome;
use futures::future::join_all;

use super::{EXIT_HOST_FAILED, Host, check_file_name, file_job, input_from};
use crate::cli::{CommonArgs, RunArgs};
use crate::console::Progress;
use crate::manifest::{Job, JobsFile, Manifest, WasmSource, dedup_names, plugin_name};
use crate::output::{Output, PluginSink};
use crate::{names, summary};

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let input = input_from(&args.input, &args.input_file)?;
    let mut jobs = Vec::new();
    if let Some(path) = &args.jobs {
        for entry in JobsFile::load(path)?.job {
            let (manifest, _) = Manifest::for_plugin(&entry.plugin, entry.manifest.as_deref())?;
            let entry_input = entry.input()?;
            let mut job = Job::resolve(
                WasmSource::File(entry.plugin.clone()),
                &plugin_name(&entry.plugin),
                &manifest,
                entry_input.or_else(|| input.clone()),
                &args.args,
                &args.plugin,
            )?;
            match entry.name {
                // Checked when the jobs file was loaded.
                Some(name) => job.name = name,
                None if manifest.name.is_none() => check_file_name(&job.name, &entry.plugin)?,
                None => {}
            }
            jobs.push(job);
        }
    }
    for plugin in &args.plugins {
        jobs.push(file_job(
            plugin,
            args.manifest.as_deref(),
            input.clone(),
            &args.args,
            &args.plugin,
        )?);
    }
    dedup_names(&mut jobs);
    run_jobs(&args.common, jobs).await
}

/// Loads every plugin, runs them all at once on one client, prints the
/// summary, and returns the exit code.
pub async fn run_jobs(common: &CommonArgs, jobs: Vec<Job>) -> anyhow::Result<ExitCode> {
    let host = Host::start(common.client_config()?, common)?;
    // Load everything before running anything: a bad plugin is a usage error.
    let mut plugins = Vec::new();
    for job in &jobs {
        plugins.push(host.load(job, &job.wasm.bytes()?)?);
    }
    run_loaded(&host, common, jobs, plugins).await
}

/// [`run_jobs`] with the plugins loaded on `host` already.
pub async fn run_loaded(
    host: &Host,
    common: &CommonArgs,
    jobs: Vec<Job>,
    plugins: Vec<crawlbox_runtime::Plugin>,
) -> anyhow::Result<ExitCode> {
    let several = jobs.len() > 1;
    let shared = match &common.out_dir {
        Some(_) => None,
        None => Some(Output::open(common.out.as_deref())?),
    };
    let mut specs = Vec::new();
    for (job, plugin) in jobs.iter().zip(plugins) {
        let sink = match (&shared, &common.out_dir) {
            (Some(out), _) => PluginSink::new(out.clone(), several.then_some(job.name.as_str())),
            (None, Some(dir)) => {
                // Names were checked where they came from; a name is never a path.
                if let Err(problem) = names::check(&job.name) {
                    bail!(
                        "the plugin name {:?} cannot name a file ({problem})",
                        job.name
                    );
                }
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create --out-dir {}", dir.display()))?;
                let path = dir.join(format!("{}.jsonl", job.name));
                PluginSink::new(Output::open(Some(&path))?, None)
            }
            (None, None) => unreachable!("either a shared output or an output directory"),
        };
        specs.push((host.spec(job, plugin, sink.clone()), sink));
    }

    let label = match jobs.as_slice() {
        [job] => job.name.clone(),
        _ => format!("{} plugins", jobs.len()),
    };
    let watched = specs
        .iter()
        .map(|(spec, sink)| (spec.session.clone(), sink.clone()))
        .collect();
    let progress = Progress::start(common.quiet, &label, watched, &host.client, None);
    let reports = join_all(specs.into_iter().map(|(spec, _)| {
        let watch = host.watch.clone();
        let run = host.runtime.run(spec);
        async move {
            let report = run.await;
            watch.run_ended(&report.outcome);
            report
        }
    }))
    .await;
    drop(progress);

    if common.quiet {
        for report in reports.iter().filter(|r| !r.outcome.is_success()) {
            eprintln!(
                "crawlbox: {}: {}",
                report.plugin,
                summary::why(&report.outcome)
            );
        }
        for report in &reports {
            if let Some(warning) = summary::nothing_fetched(report) {
                eprintln!("crawlbox: {}: {warning}", report.plugin);
            }
        }
    } else {
        eprint!("{}", summary::text(&reports, &host.client));
    }
    let runs: Vec<_> = jobs.iter().zip(&reports).collect();
    let report = crate::report::at_end(common, &host.client, &runs, None)?;
    if let Some(path) = &common.stats {
        let mut stats = summary::json(&reports, &host.client);
        summary::add_report(&mut stats, report.as_ref())?;
        summary::write_json(path, &stats)?;
    }
    host.linger().await;
    Ok(
        if reports.iter().any(|r| r.outcome == Outcome::Interrupted) {
            ExitCode::from(130)
        } else if reports.iter().any(|r| r.outcome.is_host_failure()) {
            ExitCode::from(EXIT_HOST_FAILED)
        } else if !reports.iter().all(|r| r.outcome.is_success()) {
            ExitCode::from(1)
        } else if reports
            .iter()
            .any(|r| summary::nothing_fetched(r).is_some())
        {
            ExitCode::from(summary::EXIT_NOTHING_FETCHED)
        } else {
            ExitCode::SUCCESS
        },
    )
}
