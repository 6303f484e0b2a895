//! `crawlbox export`: a Redis crawl's items as JSON Lines.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

use super::worker::connect;
use crate::cli::ExportArgs;

pub async fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let frontier = connect(
        &args.redis.redis,
        &args.redis.crawl,
        crawlbox_frontier::Limits::default(),
    )
    .await?;
    let mut out: Box<dyn Write + Send> = match &args.out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let items = frontier.export(&mut *out).await?;
    out.flush().context("cannot write the items")?;
    let counts = frontier.counts().await?;
    tracing::info!(
        target: "crawlbox",
        "exported {items} items of {} pages ({} failed, {} queued, {} pending, {} duplicate commits skipped)",
        counts.done,
        counts.failed,
        counts.queued,
        counts.pending,
        counts.duplicates
    );
    Ok(ExitCode::SUCCESS)
}
