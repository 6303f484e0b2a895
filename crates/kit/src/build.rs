//! Building a project into a component: `crawlbox build`.
//!
//! | language | what runs |
//! |---|---|
//! | Rust | `cargo build --release --target wasm32-wasip2` in the project; the cdylib is copied to `NAME.wasm` |
//! | Python | `componentize-py -d wit -w crawlbox:plugin/WORLD componentize app -p . -o NAME.wasm` |
//! | JavaScript | `componentize-js app.js -w wit -n WORLD -o NAME.wasm` |
//!
//! The tools are installed first if needed ([`crate::tools`]), at the
//! version the project pins: componentize-py in `requirements.txt`,
//! componentize-js in `package.json` (else the versions crawlbox is tested
//! with).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::{Language, Project, embedded, tools};

/// What [`build`] made.
#[derive(Debug, Clone)]
pub struct Built {
    /// The component.
    pub wasm: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// How long the build took, installing tools included.
    pub took: Duration,
}

/// Builds `project` into [`Project::wasm_path`], installing its tool under
/// `tools_dir` first if needed. `say` hears each step (a tool install, the
/// command run); the tools' own output goes to stderr.
pub fn build(
    project: &Project,
    tools_dir: &Path,
    say: &mut dyn FnMut(&str),
) -> anyhow::Result<Built> {
    let started = Instant::now();
    let out = project.wasm_path();
    match project.build.language {
        Language::Rust => build_rust(project, &out, say)?,
        Language::Python => build_python(project, tools_dir, &out, say)?,
        Language::Js => build_js(project, tools_dir, &out, say)?,
    }
    let bytes = std::fs::metadata(&out)
        .with_context(|| format!("the build wrote no {}", out.display()))?
        .len();
    Ok(Built {
        wasm: out,
        bytes,
        took: started.elapsed(),
    })
}

fn build_rust(project: &Project, out: &Path, say: &mut dyn FnMut(&str)) -> anyhow::Result<()> {
    let dir = &project.dir;
    if !dir.join("Cargo.toml").exists() {
        bail!(
            "{} is a Rust project (crawlbox.toml says so) but has no Cargo.toml",
            dir.display()
        );
    }
    tools::wasm_target(dir, say)?;
    say("cargo build --release --target wasm32-wasip2");
    let mut cmd = Command::new("cargo");
    cmd.current_dir(dir)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--message-format=json-render-diagnostics",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    // Settings of a cargo that runs crawlbox (a build script, a test) are
    // not the plugin's.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_MANIFEST_DIR",
    ] {
        cmd.env_remove(var);
    }
    let output = cmd.output().map_err(|e| {
        anyhow::anyhow!(
            "building a Rust plugin needs cargo, and it cannot run ({e}): install Rust from https://rustup.rs"
        )
    })?;
    // cargo's JSON messages: the artifact of the project's cdylib.
    let mut wasm = None;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let is_cdylib = message["target"]["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|k| k == "cdylib"));
        if !is_cdylib {
            continue;
        }
        if let Some(files) = message["filenames"].as_array() {
            wasm = files
                .iter()
                .filter_map(|f| f.as_str())
                .find(|f| f.ends_with(".wasm"))
                .map(PathBuf::from)
                .or(wasm);
        }
    }
    if !output.status.success() {
        bail!(
            "cargo could not build {} ({}): see its messages above",
            dir.display(),
            output.status
        );
    }
    let Some(wasm) = wasm else {
        bail!(
            "cargo built {} but made no .wasm: its Cargo.toml needs `[lib] crate-type = [\"cdylib\"]`",
            dir.display()
        );
    };
    std::fs::copy(&wasm, out)
        .with_context(|| format!("cannot copy {} to {}", wasm.display(), out.display()))?;
    Ok(())
}

fn build_python(
    project: &Project,
    tools_dir: &Path,
    out: &Path,
    say: &mut dyn FnMut(&str),
) -> anyhow::Result<()> {
    let dir = &project.dir;
    let source = project.build.source.as_deref().unwrap_or("app.py");
    let module = source.strip_suffix(".py").with_context(|| {
        format!("[build] source = {source:?}: a Python plugin's source is a .py file")
    })?;
    check_source(dir, source)?;
    check_wit(dir)?;
    let version = match std::fs::read_to_string(dir.join("requirements.txt")) {
        Ok(text) => tools::python_pin(&text)
            .map(str::to_owned)
            .with_context(|| {
                format!(
                    "{} does not pin componentize-py: add the line `componentize-py=={}`",
                    dir.join("requirements.txt").display(),
                    crate::pinned_componentize_py()
                )
            })?,
        Err(_) => crate::pinned_componentize_py().to_owned(),
    };
    say(&format!("componentize-py {version}"));
    let componentize = tools::componentize_py(tools_dir, &version)?;
    tools::run(
        Command::new(componentize)
            .current_dir(dir)
            .args(["-d", "wit", "-w"])
            .arg(project.build.world.wit_name())
            .args(["componentize", module, "-p", ".", "-o"])
            .arg(out),
        &format!("componentizing {}", dir.join(source).display()),
    )
}

fn build_js(
    project: &Project,
    tools_dir: &Path,
    out: &Path,
    say: &mut dyn FnMut(&str),
) -> anyhow::Result<()> {
    let dir = &project.dir;
    let source = project.build.source.as_deref().unwrap_or("app.js");
    check_source(dir, source)?;
    check_wit(dir)?;
    let pinned = crate::pinned_componentize_js();
    let version = std::fs::read_to_string(dir.join("package.json"))
        .ok()
        .and_then(|text| tools::js_pin(&text))
        .unwrap_or_else(|| pinned.clone());
    say(&format!("componentize-js {version}"));
    let lock = if version == pinned {
        let file = |name: &str| {
            embedded::JS_PINS
                .iter()
                .find(|(rel, _)| *rel == name)
                .map(|(_, bytes)| *bytes)
        };
        file("package.json").zip(file("package-lock.json"))
    } else {
        None
    };
    let componentize = tools::componentize_js(tools_dir, &version, lock)?;
    tools::run(
        Command::new(componentize)
            .current_dir(dir)
            .arg(source)
            .args(["-w", "wit", "-n", project.build.world.key(), "-o"])
            .arg(out),
        &format!("componentizing {}", dir.join(source).display()),
    )
}

fn check_source(dir: &Path, source: &str) -> anyhow::Result<()> {
    if !dir.join(source).is_file() {
        bail!(
            "{} has no {source} (the plugin's source; `[build] source` in crawlbox.toml names another)",
            dir.display()
        );
    }
    Ok(())
}

fn check_wit(dir: &Path) -> anyhow::Result<()> {
    if !dir.join("wit/plugin.wit").is_file() {
        bail!(
            "{} has no wit/plugin.wit: write the WIT into the project with `crawlbox wit {}`",
            dir.display(),
            dir.join("wit").display()
        );
    }
    Ok(())
}
