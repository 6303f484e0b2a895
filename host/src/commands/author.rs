//! The author's commands: `crawlbox new`, `crawlbox build`, `crawlbox wit`
//! (the work is `crawlbox_kit`'s).

use std::process::ExitCode;

use anyhow::Context;
use crawlbox_kit::{Language, NewProject, Project, World};

use crate::cli::{BuildArgs, NewArgs, WitArgs};

pub fn new(args: NewArgs) -> anyhow::Result<ExitCode> {
    let project = NewProject {
        name: args.name.clone(),
        language: Language::from(args.lang),
        world: if args.spider {
            World::Spider
        } else {
            World::Scraper
        },
    };
    let dir = args.dir.unwrap_or_else(|| args.name.clone().into());
    let files = crawlbox_kit::new_project(&project, &dir)?;
    let (kind, command) = match project.world {
        World::Spider => ("spider", "crawl"),
        World::Scraper => ("plugin", "run"),
    };
    let shown = dir.display();
    let name = &project.name;
    eprintln!(
        "Created the {} {kind} {name} in {shown} ({} files). Build it, try it on the \
         built-in demo site, then on a real one:\n\n    cd {shown}\n    crawlbox build\n    \
         crawlbox demo {name}.wasm\n    crawlbox {command} {name}.wasm --input \
         '{{\"start\": [\"https://example.com/\"]}}'\n",
        project.language,
        files.len(),
    );
    Ok(ExitCode::SUCCESS)
}

pub fn build(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let project = Project::open(&args.dir)?;
    let tools = match args.tools.tools_dir {
        Some(dir) => dir,
        None => crawlbox_kit::tools::default_dir()?,
    };
    let quiet = args.quiet;
    let mut say = |step: &str| {
        if !quiet {
            eprintln!("   building {}: {step}", project.name);
        }
    };
    let built = crawlbox_kit::build(&project, &tools, &mut say)
        .with_context(|| format!("cannot build {}", project.dir.display()))?;
    if !quiet {
        eprintln!(
            "      built {} ({} KiB) in {:.1}s",
            built.wasm.display(),
            built.bytes.div_ceil(1024),
            built.took.as_secs_f64()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn wit(args: WitArgs) -> anyhow::Result<ExitCode> {
    let files = crawlbox_kit::write_wit(&args.dir)?;
    eprintln!(
        "wrote crawlbox:plugin@{} ({} files) into {}",
        crawlbox_kit::wit_version(),
        files.len(),
        args.dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
