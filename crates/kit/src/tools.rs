//! The build tools, installed on first use into a tools directory.
//!
//! * **componentize-py**, in a venv of its own per version:
//!   `TOOLS/componentize-py-VERSION/bin/componentize-py`. Needs `python3`
//!   with `venv` (Debian: `python3-venv`) and PyPI.
//! * **componentize-js**, with npm, per version:
//!   `TOOLS/componentize-js-VERSION/node_modules/.bin/componentize-js`. At
//!   the version crawlbox pins, `npm ci` installs it from crawlbox's own
//!   lock file, every transitive package pinned; another version is
//!   installed with `npm install`. Needs Node.js and npm.
//! * **the `wasm32-wasip2` target** of the Rust toolchain, added with
//!   `rustup target add` when it is missing.
//!
//! The default tools directory is `$XDG_CACHE_HOME/crawlbox/tools` (else
//! `~/.cache/crawlbox/tools`); [`default_dir`] reads `CRAWLBOX_TOOLS_DIR`
//! first. crawlbox's own build (`crates/guest-artifacts`) installs the
//! same tools the same way under `target/guest-tools`.
//!
//! An interrupted install is never taken for a finished one: npm installs
//! into a folder renamed into place at the end, and a venv gets a marker
//! file once componentize-py runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The tools directory: `CRAWLBOX_TOOLS_DIR`, else
/// `$XDG_CACHE_HOME/crawlbox/tools`, else `~/.cache/crawlbox/tools`.
pub fn default_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CRAWLBOX_TOOLS_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .context("no directory to install the build tools in: set CRAWLBOX_TOOLS_DIR (or HOME)")?;
    Ok(base.join("crawlbox").join("tools"))
}

/// The componentize-py version a `requirements.txt` pins
/// (`componentize-py==VERSION`).
pub fn python_pin(requirements: &str) -> Option<&str> {
    requirements
        .lines()
        .find_map(|l| l.trim().strip_prefix("componentize-py=="))
        .map(str::trim)
}

/// The componentize-js version a `package.json` lists, exactly, in
/// `dependencies` or `devDependencies`.
pub fn js_pin(package_json: &str) -> Option<String> {
    let json: serde_json::Value = serde_json::from_str(package_json).ok()?;
    ["dependencies", "devDependencies"].iter().find_map(|key| {
        json[key]["@bytecodealliance/componentize-js"]
            .as_str()
            .map(|v| v.trim_start_matches('=').to_owned())
    })
}

/// componentize-py `version`, installed under `tools` if it is not yet;
/// returns the path of its executable.
pub fn componentize_py(tools: &Path, version: &str) -> anyhow::Result<PathBuf> {
    check_version(version, "componentize-py")?;
    let venv = tools.join(format!("componentize-py-{version}"));
    let exe = venv.join("bin/componentize-py");
    // A venv's scripts name their interpreter by absolute path, so it is
    // made in place; a marker written last says the install finished.
    let done = venv.join(".crawlbox-installed");
    if done.exists() && exe.exists() {
        return Ok(exe);
    }
    std::fs::create_dir_all(tools)
        .with_context(|| format!("cannot create the tools directory {}", tools.display()))?;
    let _ = std::fs::remove_dir_all(&venv);
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    run(
        Command::new(&python).args(["-m", "venv"]).arg(&venv),
        &format!(
            "creating a Python venv for componentize-py (needs `{python}` with venv: on \
             Debian/Ubuntu `apt-get install python3-venv`, elsewhere Python 3.10 or later \
             from python.org)"
        ),
    )?;
    run(
        Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("componentize-py=={version}"),
        ]),
        &format!("installing componentize-py {version} from PyPI"),
    )?;
    if !reports_version(&exe, &format!("componentize-py {version}")) {
        bail!(
            "componentize-py {version} was installed in {} but does not run",
            venv.display()
        );
    }
    std::fs::write(&done, version)?;
    Ok(exe)
}

/// componentize-js `version`, installed under `tools` if it is not yet:
/// from `pinned` (a `package.json` and its `package-lock.json`) when they
/// pin that version, else with `npm install`. Returns the path of its
/// executable.
pub fn componentize_js(
    tools: &Path,
    version: &str,
    pinned: Option<(&[u8], &[u8])>,
) -> anyhow::Result<PathBuf> {
    check_version(version, "componentize-js")?;
    let dir = tools.join(format!("componentize-js-{version}"));
    let exe = dir.join("node_modules/.bin/componentize-js");
    let lock = pinned.map(|(_, lock)| lock);
    let installed_lock = std::fs::read(dir.join("package-lock.json")).ok();
    if exe.exists() && (lock.is_none() || installed_lock.as_deref() == lock) {
        return Ok(exe);
    }
    which(
        "node",
        "Node.js (on Debian/Ubuntu `apt-get install nodejs npm`, elsewhere from nodejs.org)",
    )?;
    which("npm", "npm (on Debian/Ubuntu `apt-get install npm`)")?;
    let staging = staging_dir(tools, &dir)?;
    match pinned {
        Some((package, lock)) => {
            std::fs::write(staging.join("package.json"), package)?;
            std::fs::write(staging.join("package-lock.json"), lock)?;
            run(
                Command::new("npm").current_dir(&staging).args([
                    "ci",
                    "--silent",
                    "--no-audit",
                    "--no-fund",
                ]),
                &format!("installing componentize-js {version} with `npm ci`"),
            )?;
        }
        None => {
            std::fs::write(
                staging.join("package.json"),
                "{\"name\": \"crawlbox-build-tools\", \"private\": true}\n",
            )?;
            run(
                Command::new("npm").current_dir(&staging).args([
                    "install",
                    "--silent",
                    "--no-audit",
                    "--no-fund",
                    &format!("@bytecodealliance/componentize-js@{version}"),
                ]),
                &format!("installing componentize-js {version} with `npm install`"),
            )?;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&staging, &dir)
        .with_context(|| format!("cannot move the install into {}", dir.display()))?;
    if !exe.exists() {
        bail!(
            "componentize-js {version} was installed in {} but has no {}",
            dir.display(),
            exe.display()
        );
    }
    Ok(exe)
}

/// Makes sure the Rust toolchain that builds in `dir` (its
/// `rust-toolchain.toml`, if any, decides) has the `wasm32-wasip2` target,
/// adding it with rustup if it has not. `say` hears what is being done.
pub fn wasm_target(dir: &Path, say: &mut dyn FnMut(&str)) -> anyhow::Result<()> {
    const TARGET: &str = "wasm32-wasip2";
    let sysroot = Command::new("rustc")
        .current_dir(dir)
        .args(["--print", "sysroot"])
        .output();
    let sysroot = match sysroot {
        Ok(out) if out.status.success() => {
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        }
        Ok(out) => bail!(
            "the Rust toolchain for {} does not run: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(_) => bail!(
            "building a Rust plugin needs the Rust toolchain, and `rustc` is not on PATH: \
             install it from https://rustup.rs"
        ),
    };
    if sysroot.join("lib/rustlib").join(TARGET).is_dir() {
        return Ok(());
    }
    say(&format!(
        "adding the {TARGET} target (`rustup target add {TARGET}`)"
    ));
    match Command::new("rustup")
        .current_dir(dir)
        .args(["target", "add", TARGET])
        .output()
    {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => bail!(
            "the {TARGET} target is missing and `rustup target add {TARGET}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(_) => bail!(
            "the {TARGET} target is missing from the Rust toolchain at {}, and rustup is not \
             on PATH to add it: install the target (`rustup target add {TARGET}`, or your \
             distribution's wasm32-wasip2 standard library), then build again",
            sysroot.display()
        ),
    }
}

/// A version is a plain `1.2.3`-like string (it names a folder and goes on
/// a command line).
fn check_version(version: &str, tool: &str) -> anyhow::Result<()> {
    let ok = !version.is_empty()
        && version
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'));
    if !ok {
        bail!("{version:?} is not a version of {tool}: pin an exact one, e.g. 0.25.1");
    }
    Ok(())
}

fn reports_version(exe: &Path, expected: &str) -> bool {
    Command::new(exe)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| String::from_utf8_lossy(&o.stdout).trim() == expected)
}

/// An empty folder beside `dir` to install into, then rename.
fn staging_dir(tools: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(tools)
        .with_context(|| format!("cannot create the tools directory {}", tools.display()))?;
    let name = dir
        .file_name()
        .map_or_else(|| "tool".into(), |n| n.to_string_lossy().into_owned());
    let staging = tools.join(format!(".{name}.installing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;
    Ok(staging)
}

fn which(program: &str, what: &str) -> anyhow::Result<()> {
    match Command::new(program).arg("--version").output() {
        Ok(out) if out.status.success() => Ok(()),
        _ => bail!("building a JavaScript plugin needs {what}: `{program}` is not on PATH"),
    }
}

/// Runs `cmd`; on failure the error says what the step was (and what it
/// needs) and shows the tool's output.
pub(crate) fn run(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let output = match cmd.output() {
        Ok(output) => output,
        Err(e) => bail!("{what}: cannot run {:?}: {e}", cmd.get_program()),
    };
    if !output.status.success() {
        let mut shown = String::from_utf8_lossy(&output.stdout).into_owned();
        shown.push_str(&String::from_utf8_lossy(&output.stderr));
        bail!("{what} failed ({}):\n{}", output.status, shown.trim_end());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_read() {
        assert_eq!(
            python_pin("# tool\ncomponentize-py==0.25.1\n"),
            Some("0.25.1")
        );
        assert_eq!(python_pin("componentize-py>=0.25"), None);
        assert_eq!(
            js_pin(r#"{"devDependencies": {"@bytecodealliance/componentize-js": "0.23.0"}}"#),
            Some("0.23.0".into())
        );
        assert!(check_version("0.25.1", "x").is_ok());
        assert!(check_version("../../x", "x").is_err());
        assert!(check_version("^1", "x").is_err());
    }
}
