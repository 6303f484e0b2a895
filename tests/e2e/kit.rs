//! The author's kit as an author uses it: `crawlbox new` a project in each
//! language and world, `crawlbox build` it, run the result on a local demo
//! site; and `crawlbox wit`, and the errors of each step.
//!
//! The build tools are those the test build installed (`CRAWLBOX_TOOLS_DIR`
//! is `target/guest-tools`, where `crawlbox_kit::tools` put them for the
//! Python and JS guests): `crawlbox build` finds them there, as it finds
//! its own on a second build. The Rust projects share one cargo target
//! directory, so the SDK's dependencies build once.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crawlbox_demo_site::Site;
use serde_json::Value;

use crate::support::{Run, grant, site, tempfile};

/// The tools directory the test build installed componentize-py and
/// componentize-js into.
fn tools_dir() -> PathBuf {
    let artifact = Path::new(crawlbox_guest_artifacts::EXAMPLE_CRAWLER);
    // <target>/wasm-guests/wasm32-wasip2/release/example_crawler.wasm
    let target = artifact.ancestors().nth(4).expect("the target directory");
    target.join("guest-tools")
}

/// `crawlbox` with the test's tools directory (and, for Rust, a shared
/// cargo target directory), from `dir`.
fn crawlbox_in(dir: &Path, args: &[&str]) -> Run {
    crawlbox_with(dir, args, &[])
}

/// [`crawlbox_in`] with more environment variables.
fn crawlbox_with(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> Run {
    let target = tools_dir().join("kit-cargo-target");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_crawlbox"));
    cmd.args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env("CRAWLBOX_TOOLS_DIR", tools_dir())
        .env("CRAWLBOX_CACHE_DIR", crate::support::cache_dir())
        .env("CARGO_TARGET_DIR", target);
    for (name, value) in env {
        cmd.env(name, value);
    }
    let output = cmd.output().expect("run crawlbox");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    Run {
        code: output.status.code().expect("exited"),
        records: String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect(),
        stderr,
    }
}

/// `crawlbox new NAME --lang LANG [--spider]` then `crawlbox build`, in a
/// fresh folder; returns the project folder and the build's time.
fn new_and_build(lang: &str, spider: bool) -> (PathBuf, Duration) {
    let world = if spider { "spider" } else { "scraper" };
    let name = format!("my-{lang}-{world}");
    let parent = tempfile(&format!("kit-{lang}-{world}"));
    let _ = std::fs::remove_dir_all(&parent);
    std::fs::create_dir_all(&parent).unwrap();
    let started = Instant::now();
    let mut args = vec!["new", &name, "--lang", lang];
    if spider {
        args.push("--spider");
    }
    let new = crawlbox_in(&parent, &args);
    assert_eq!(new.code, 0, "crawlbox new: {}", new.stderr);
    assert!(new.stderr.contains("crawlbox build"), "{}", new.stderr);
    let dir = parent.join(&name);
    for file in ["README.md", "crawlbox.toml", "wit/plugin.wit", ".gitignore"] {
        assert!(dir.join(file).is_file(), "{lang} {world}: no {file}");
    }
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    assert!(readme.lines().count() <= 16, "a short README:\n{readme}");
    let build = crawlbox_in(&dir, &["build"]);
    assert_eq!(
        build.code, 0,
        "crawlbox build ({lang} {world}): {}",
        build.stderr
    );
    let took = started.elapsed();
    let wasm = dir.join(format!("{name}.wasm"));
    assert!(wasm.is_file(), "{lang} {world}: no {}", wasm.display());
    assert!(build.stderr.contains("built"), "{}", build.stderr);
    eprintln!("{lang} {world}: new + build took {took:?}");
    (dir, took)
}

/// Runs the project's component on `site` as a user would: a scraper with
/// `crawlbox run`, a spider with `crawlbox crawl`; 40 pages from page 0.
fn run_on(site: &Site, dir: &Path, spider: bool) -> Vec<Value> {
    let name = dir.file_name().unwrap().to_str().unwrap();
    let wasm = format!("{name}.wasm");
    let input = serde_json::json!({ "start": [site.url("/page/0")], "max_pages": 40 }).to_string();
    let grant = grant(site);
    let mut args = vec![
        if spider { "crawl" } else { "run" },
        &wasm,
        "--input",
        &input,
    ];
    if spider {
        args.extend(["--max-pages", "40"]);
    }
    args.extend(grant.iter().map(String::as_str));
    let run = crawlbox_in(dir, &args);
    assert_eq!(run.code, 0, "{name}: {}", run.stderr);
    run.records
}

/// A new project of each world in `lang` builds and crawls a demo site:
/// 40 distinct pages, each with its title.
fn projects_build_and_crawl(lang: &str) {
    let site = site(100, Duration::ZERO);
    for spider in [false, true] {
        let (dir, _) = new_and_build(lang, spider);
        let records = run_on(&site, &dir, spider);
        let urls: HashSet<&str> = records.iter().map(|r| r["url"].as_str().unwrap()).collect();
        assert_eq!(records.len(), 40, "{lang} spider={spider}: {records:?}");
        assert_eq!(urls.len(), 40, "{lang} spider={spider}: a page twice");
        assert!(urls.contains(site.url("/page/0").as_str()));
        for record in &records {
            assert_eq!(record["status"], 200, "{record}");
            let title = record["title"].as_str().unwrap_or_default();
            assert!(title.starts_with("Page "), "{lang}: {record}");
            assert!(record["links"].as_u64().unwrap() > 0, "{record}");
        }
        // The README's second command: the built-in demo site.
        let name = dir.file_name().unwrap().to_str().unwrap().to_owned();
        let demo = crawlbox_in(
            &dir,
            &["demo", &format!("{name}.wasm"), "--max-pages", "10", "-q"],
        );
        assert_eq!(demo.code, 0, "{lang} demo: {}", demo.stderr);
        assert_eq!(demo.records.len(), 10, "{lang} demo: {}", demo.stderr);
        // A second build finds its tools installed and is quick.
        let again = Instant::now();
        let build = crawlbox_in(&dir, &["build", "-q"]);
        assert_eq!(build.code, 0, "{}", build.stderr);
        eprintln!(
            "{lang} spider={spider}: warm rebuild took {:?}",
            again.elapsed()
        );
    }
}

#[test]
fn a_new_rust_project_builds_and_crawls() {
    projects_build_and_crawl("rust");
}

#[test]
fn a_new_python_project_builds_and_crawls() {
    projects_build_and_crawl("python");
}

#[test]
fn a_new_js_project_builds_and_crawls() {
    projects_build_and_crawl("js");
}

#[test]
fn the_kit_s_errors_name_what_to_do() {
    let dir = tempfile("kit-errors");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // A name that cannot name a crate, a package and a file.
    let bad = crawlbox_in(&dir, &["new", "My_Spider", "--lang", "python"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("lower-case letters"), "{}", bad.stderr);
    // An existing folder is not overwritten.
    std::fs::create_dir_all(dir.join("taken")).unwrap();
    std::fs::write(dir.join("taken/keep.txt"), "mine").unwrap();
    let taken = crawlbox_in(&dir, &["new", "taken", "--lang", "js"]);
    assert_eq!(taken.code, 2);
    assert!(taken.stderr.contains("not empty"), "{}", taken.stderr);
    assert_eq!(
        std::fs::read_to_string(dir.join("taken/keep.txt")).unwrap(),
        "mine"
    );
    // Building a folder that is no project says how to start one.
    let none = crawlbox_in(&dir, &["build", "taken"]);
    assert_eq!(none.code, 2);
    assert!(none.stderr.contains("crawlbox new"), "{}", none.stderr);
    // A project without its WIT says how to write it.
    let made = crawlbox_in(&dir, &["new", "no-wit", "--lang", "python", "--spider"]);
    assert_eq!(made.code, 0, "{}", made.stderr);
    std::fs::remove_dir_all(dir.join("no-wit/wit")).unwrap();
    let no_wit = crawlbox_in(&dir, &["build", "no-wit"]);
    assert_eq!(no_wit.code, 2);
    assert!(no_wit.stderr.contains("crawlbox wit"), "{}", no_wit.stderr);
    // `crawlbox wit DIR` writes it back, the package and its WASI deps.
    let wit = crawlbox_in(&dir, &["wit", "no-wit/wit"]);
    assert_eq!(wit.code, 0, "{}", wit.stderr);
    let plugin = std::fs::read_to_string(dir.join("no-wit/wit/plugin.wit")).unwrap();
    assert!(plugin.contains("package crawlbox:plugin@0.2.1;"));
    assert!(dir.join("no-wit/wit/deps/http/http.wit").is_file());
    // A componentize-py version that is not pinned exactly.
    std::fs::write(
        dir.join("no-wit/requirements.txt"),
        "componentize-py>=0.20\n",
    )
    .unwrap();
    let unpinned = crawlbox_in(&dir, &["build", "no-wit"]);
    assert_eq!(unpinned.code, 2);
    assert!(
        unpinned.stderr.contains("does not pin componentize-py"),
        "{}",
        unpinned.stderr
    );
}
