//! `crawlbox parse SPIDER.wasm URL`: one page through a spider's `parse`,
//! its items and follows printed (Scrapy's `scrapy parse`).
//!
//! The page is fetched as the spider's own requests are: its first start
//! request (from `start` with the input), with the URL replaced, so the
//! page comes with the headers, decoding and extraction the spider asks
//! for. A spider whose `start` yields nothing gets a plain GET.

use std::process::ExitCode;

use anyhow::{Context, bail};
use crawlbox_net::Request;
use crawlbox_runtime::{Follow, Outcome, escape_untrusted};
use serde_json::{Value, json};

use super::{Host, file_job, input_from};
use crate::cli::{ParseCommandArgs, PluginArgs};
use crate::output::{Output, PluginSink};

pub async fn parse(args: ParseCommandArgs) -> anyhow::Result<ExitCode> {
    let input = input_from(&args.input, &args.input_file)?;
    let page = Request::get(&args.url).map_err(|e| anyhow::anyhow!("the URL to parse: {e}"))?;
    // The page the user names is allowed; what it leads to, as ever, only
    // if the grants allow it.
    let plugin_args = PluginArgs {
        allow_host: [
            args.plugin.allow_host.clone(),
            vec![page.url.origin().ascii_serialization()],
        ]
        .concat(),
        ..args.plugin
    };
    let job = file_job(
        &args.spider,
        args.manifest.as_deref(),
        input,
        &[],
        &plugin_args,
    )?;
    if args.common.report.is_some() || args.common.metrics.is_some() {
        anyhow::bail!(
            "--report and --metrics are for run, crawl, worker and demo: `parse` fetches one page"
        );
    }
    let host = Host::start(args.common.client_config()?, &args.common)?;
    let plugin = host.load_spider(&job, &job.wasm.bytes()?, &args.spider.display().to_string())?;
    // What the spider emits itself (`emit`) goes where a crawl's items go.
    let sink = PluginSink::new(Output::open(args.common.out.as_deref())?, None);
    let spec = host.spec(&job, plugin, sink);
    let session = spec.session.clone();
    let mut spider = host.runtime.spider(&spec).await.map_err(failed("start"))?;
    let starts = spider.start().await.map_err(failed("start"))?;
    let template = starts
        .into_iter()
        .find_map(|start| start.admit(&session))
        .map(|follow| follow.request);
    let request = match template {
        Some(template) => Request {
            url: page.url.clone(),
            ..template
        },
        None => page,
    };
    let url = request.url.to_string();
    let method = request.method.to_string();
    let fetched = session.fetch(request).await;
    let fetch_line = match &fetched {
        Ok(response) => {
            let kind = response
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("no content-type");
            let mut line = format!(
                "{method} {url} -> {} ({kind}) in {} ms",
                response.status,
                response.elapsed.as_millis()
            );
            if response.url.as_str() != url {
                line.push_str(&format!(", redirected to {}", response.url));
            }
            match &response.extracted {
                Some(Ok(found)) => line.push_str(&format!(
                    "; the host extracted {} links and {} queries",
                    found.links.len(),
                    found.matches.len()
                )),
                Some(Err(err)) => line.push_str(&format!("; nothing extracted: {err}")),
                None => {}
            }
            line
        }
        Err(err) => format!("{method} {url} failed: {err}"),
    };
    let status = fetched.as_ref().ok().map(|r| r.status.as_u16());
    let parsed = match spider.parse(&url, fetched, &args.meta).await {
        Ok(Ok(parsed)) => parsed,
        Ok(Err(why)) => bail!(
            "{fetch_line}\nthe spider's parse failed: {}",
            escape_untrusted(&why)
        ),
        Err(outcome) => bail!("{fetch_line}\n{}", describe("parse", &outcome)),
    };
    let items: Vec<Value> = parsed
        .items
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or(Value::String(line.clone())))
        .collect();
    let mut follows: Vec<Follow> = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    for yielded in parsed.follows {
        let wanted = yielded.url().to_owned();
        match yielded.admit(&session) {
            Some(follow) => follows.push(follow),
            None => refused.push(wanted),
        }
    }
    if args.json {
        let json = json!({
            "url": url,
            "status": status,
            "items": items,
            "follows": follows.iter().map(|f| json!({
                "method": f.request.method.as_str(),
                "url": f.request.url.as_str(),
                "meta": f.meta,
                "priority": f.priority,
            })).collect::<Vec<_>>(),
            "refused": refused,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&json).context("print the JSON")?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("{fetch_line}\n");
    println!("items ({}):", items.len());
    for item in &items {
        let pretty = serde_json::to_string_pretty(item).context("print an item")?;
        println!("  {}", pretty.replace('\n', "\n  "));
    }
    println!("\nfollows ({}):", follows.len());
    for follow in &follows {
        let mut line = format!("  {} {}", follow.request.method, follow.request.url);
        if follow.priority != 0 {
            line.push_str(&format!("  priority {}", follow.priority));
        }
        if !follow.meta.is_empty() {
            line.push_str(&format!("  meta {}", escape_untrusted(&follow.meta)));
        }
        println!("{line}");
    }
    if !refused.is_empty() {
        println!(
            "\nrefused ({}): not valid requests, or not allowed by the grants",
            refused.len()
        );
        for url in &refused {
            println!("  {}", escape_untrusted(url));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn failed(step: &'static str) -> impl Fn(Outcome) -> anyhow::Error {
    move |outcome| anyhow::anyhow!("{}", describe(step, &outcome))
}

fn describe(step: &str, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Failed(message) => format!(
            "the spider's {step} failed: {message} (give the input it expects with --input JSON)"
        ),
        other => format!("the spider's {step}: {other}"),
    }
}
