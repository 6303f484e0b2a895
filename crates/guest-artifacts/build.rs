//! Builds the guests under `guests/`, the way wasmtime's test-programs are
//! built, and writes their paths into `artifacts.rs`:
//!
//! * always the example crawler (`guests/example-crawler`, embedded for
//!   `crawlbox demo`), and with feature `test-guests` every other Rust
//!   guest (the hostile ones and the commands included): the Rust guests
//!   are a cargo workspace of their own, built for `wasm32-wasip2` by a
//!   nested cargo into `<target>/wasm-guests` (one directory shared by every
//!   profile and feature set);
//! * with feature `python` (which implies `test-guests`): the Python guests,
//!   with componentize-py (the version pinned in
//!   `guests/python-example/requirements.txt`) installed into a venv under
//!   `<target>/guest-tools`;
//! * with feature `js` (which implies `test-guests`): the JavaScript guests,
//!   with componentize-js (pinned by `guests/js-example/package-lock.json`)
//!   installed by `npm ci` under `<target>/guest-tools`.
//!
//! The tools are installed by `crawlbox_kit::tools`, as `crawlbox build`
//! installs them for a plugin author (one version per folder, so the tests
//! can point `crawlbox build` at the same `<target>/guest-tools`).
//!
//! Nothing is skipped when a tool is missing: the build fails and says what
//! to install.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// (crate name, const name) of the guest built always: `crawlbox demo`
/// embeds it.
const EXAMPLE_CRAWLER: (&str, &str) = ("example-crawler", "EXAMPLE_CRAWLER");

/// (crate name, const name) of each other Rust library guest (feature
/// `test-guests`).
const RUST_GUESTS: &[(&str, &str)] = &[
    ("example-spider", "EXAMPLE_SPIDER"),
    ("example-crawler-guest-parse", "EXAMPLE_CRAWLER_GUEST_PARSE"),
    ("wasi-http-fetch", "WASI_HTTP_FETCH"),
    ("batch-fetch", "BATCH_FETCH"),
    ("hostile-spider", "HOSTILE_SPIDER"),
    ("p3-fetch", "P3_FETCH"),
    ("p3-crawler", "P3_CRAWLER"),
    ("async-fetch", "ASYNC_FETCH"),
    ("plugin-0-2-0", "PLUGIN_0_2_0"),
];

/// (binary name, const name) of each Rust `wasi:cli/command` guest (feature
/// `test-guests`).
const RUST_COMMANDS: &[(&str, &str)] = &[
    ("http-command", "HTTP_COMMAND"),
    ("hostile-forge-stdout", "HOSTILE_FORGE_STDOUT"),
];

/// The hostile plugins: examples of `guests/hostile`, one per attack (feature
/// `test-guests`).
const HOSTILE: &[(&str, &str)] = &[
    ("infinite-loop", "HOSTILE_INFINITE_LOOP"),
    ("memory-bomb", "HOSTILE_MEMORY_BOMB"),
    ("stack-overflow", "HOSTILE_STACK_OVERFLOW"),
    ("probe", "HOSTILE_PROBE"),
    ("request-flood", "HOSTILE_REQUEST_FLOOD"),
    ("queue-flood", "HOSTILE_QUEUE_FLOOD"),
    ("fetch-flood", "HOSTILE_FETCH_FLOOD"),
    ("request-hoard", "HOSTILE_REQUEST_HOARD"),
    ("stdout-flood", "HOSTILE_STDOUT_FLOOD"),
    ("bad-emit", "HOSTILE_BAD_EMIT"),
    ("forbidden-headers", "HOSTILE_FORBIDDEN_HEADERS"),
    ("panic-after-emit", "HOSTILE_PANIC_AFTER_EMIT"),
    ("escape", "HOSTILE_ESCAPE"),
    ("log-forge", "HOSTILE_LOG_FORGE"),
    ("hog", "HOSTILE_HOG"),
];

/// (folder under guests/, const name, world of crawlbox:plugin) of each
/// Python guest.
const PYTHON_GUESTS: &[(&str, &str, &str)] = &[
    ("python-example", "PYTHON_EXAMPLE", "scraper"),
    ("python-wasi-http", "PYTHON_WASI_HTTP", "scraper"),
    ("python-spider", "PYTHON_SPIDER", "spider"),
    ("python-async", "PYTHON_ASYNC", "scraper-async"),
];

/// (folder under guests/, const name, world of crawlbox:plugin) of each
/// JavaScript guest (its entry is `app.js`).
const JS_GUESTS: &[(&str, &str, &str)] = &[
    ("js-example", "JS_EXAMPLE", "scraper"),
    ("js-spider", "JS_SPIDER", "spider"),
];

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .join("../..")
        .canonicalize()
        .expect("repository root");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    let target = target_dir(&out_dir);
    let guests_target = target.join("wasm-guests");

    for watched in ["guests", "crates/guest", "wit"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    // `python` and `js` turn this on too (Cargo.toml).
    let test_guests = env::var_os("CARGO_FEATURE_TEST_GUESTS").is_some();
    build_rust_guests(&root, &guests_target, test_guests);
    let release = guests_target.join("wasm32-wasip2/release");
    let (name, konst) = EXAMPLE_CRAWLER;
    let mut built: Vec<(String, &str, PathBuf)> =
        vec![(name.to_string(), konst, release.join(wasm_name(name)))];
    if test_guests {
        for (name, konst) in RUST_GUESTS {
            built.push((name.to_string(), konst, release.join(wasm_name(name))));
        }
        for (name, konst) in RUST_COMMANDS {
            // Binaries keep their dashes; libraries get underscores.
            built.push((
                name.to_string(),
                konst,
                release.join(format!("{name}.wasm")),
            ));
        }
        for (name, konst) in HOSTILE {
            built.push((
                name.to_string(),
                konst,
                release.join("examples").join(wasm_name(name)),
            ));
        }
    }

    let components = guests_target.join("components");
    let tools = target.join("guest-tools");
    if env::var_os("CARGO_FEATURE_PYTHON").is_some() {
        let componentize = python_tools(&root, &tools);
        for (folder, konst, world) in PYTHON_GUESTS {
            let out = components.join(wasm_name(folder));
            build_python_guest(&componentize, &root, folder, world, &out);
            built.push((folder.to_string(), konst, out));
        }
    }
    if env::var_os("CARGO_FEATURE_JS").is_some() {
        let componentize = js_tools(&root, &tools);
        for (folder, konst, world) in JS_GUESTS {
            let out = components.join(wasm_name(folder));
            build_js_guest(&componentize, &root, &tools, folder, world, &out);
            built.push((folder.to_string(), konst, out));
        }
    }

    let mut consts = String::new();
    for (name, konst, file) in &built {
        assert!(
            file.exists(),
            "guest {name} was built but {} is missing",
            file.display()
        );
        consts.push_str(&format!(
            "/// Path of the `{name}` guest component.\npub const {konst}: &str = {:?};\n",
            file.display().to_string()
        ));
    }
    std::fs::write(out_dir.join("artifacts.rs"), consts).expect("write artifacts.rs");
    // Embedded by `example_crawler()`; include_bytes! needs a path under OUT_DIR.
    std::fs::copy(
        release.join("example_crawler.wasm"),
        out_dir.join("example_crawler.wasm"),
    )
    .expect("copy the example crawler");
}

fn wasm_name(name: &str) -> String {
    format!("{}.wasm", name.replace('-', "_"))
}

/// Makes sure the toolchain building this crate has the `wasm32-wasip2`
/// target. `rust-toolchain.toml` asks for it, but rustup adds a listed
/// target only when it installs the toolchain, not to one already there:
/// so add it the same way, saying so in one line, or stop with one line
/// that names the command to run.
fn ensure_wasm_target() {
    const TARGET: &str = "wasm32-wasip2";
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let Some(sysroot) = sysroot else {
        fail(&format!(
            "cannot run `{rustc} --print sysroot` to look for the {TARGET} target"
        ));
    };
    if sysroot.join("lib/rustlib").join(TARGET).is_dir() {
        return;
    }
    // The toolchain's name, as rustup knows it: the sysroot's folder name.
    let toolchain = env::var("RUSTUP_TOOLCHAIN").ok().or_else(|| {
        sysroot
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
    });
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", TARGET]);
    if let Some(toolchain) = &toolchain {
        rustup.args(["--toolchain", toolchain]);
    }
    match rustup.output() {
        Ok(out) if out.status.success() => {
            println!(
                "cargo:warning=added the {TARGET} target to the {} toolchain (`rustup target add {TARGET}`), as rust-toolchain.toml asks",
                toolchain.as_deref().unwrap_or("current")
            );
        }
        Ok(out) => fail(&format!(
            "the {TARGET} target is missing and `rustup target add {TARGET}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(_) => fail(&format!(
            "the {TARGET} target is missing from the Rust toolchain at {}, and rustup is not \
             on PATH to add it: install it with `rustup target add {TARGET}` (or your \
             distribution's wasm32-wasip2 standard library), then build again",
            sysroot.display()
        )),
    }
}

/// Stops the build with one line saying what is wrong and what to do: no
/// panic, no backtrace.
fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}

/// Builds the example crawler, or with `all` every package of the guests'
/// workspace (libraries, binaries and examples), into `target`.
fn build_rust_guests(root: &Path, target: &Path, all: bool) {
    ensure_wasm_target();
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root.join("guests"))
        .args(["build", "--release", "--target", "wasm32-wasip2"]);
    if all {
        cmd.args(["--workspace", "--lib", "--bins", "--examples"]);
    } else {
        cmd.args(["-p", EXAMPLE_CRAWLER.0, "--lib"]);
    }
    cmd.arg("--target-dir").arg(target);
    if env::var_os("CARGO_NET_OFFLINE").is_some_and(|v| v == "true") {
        cmd.arg("--offline");
    }
    // Settings for the host build must not leak into the guest build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    run(
        &mut cmd,
        "building the Rust guests (is the wasm32-wasip2 target installed? \
         `rustup target add wasm32-wasip2`)",
    );
}

/// componentize-py at the version `guests/python-example/requirements.txt`
/// pins, installed under `tools` as `crawlbox build` installs it; returns
/// the tool's path.
fn python_tools(root: &Path, tools: &Path) -> PathBuf {
    let requirements = root.join("guests/python-example/requirements.txt");
    let pinned = std::fs::read_to_string(&requirements)
        .expect("read guests/python-example/requirements.txt");
    let version = crawlbox_kit::tools::python_pin(&pinned)
        .expect("requirements.txt pins componentize-py==VERSION");
    crawlbox_kit::tools::componentize_py(tools, version).unwrap_or_else(|e| fail(&format!("{e:#}")))
}

/// Componentizes `guests/<folder>/app.py`, with the crawlbox Python SDK
/// (`guests/sdk-python`, module `crawlbox`) on its module path.
fn build_python_guest(componentize: &Path, root: &Path, folder: &str, world: &str, out: &Path) {
    let source = root.join("guests").join(folder);
    let sdk = root.join("guests/sdk-python");
    if up_to_date(out, &[&source, &sdk, &root.join("wit")]) {
        return;
    }
    std::fs::create_dir_all(out.parent().expect("has a parent")).expect("create components dir");
    run(
        Command::new(componentize)
            .current_dir(&source)
            .arg("-d")
            .arg(root.join("wit"))
            .arg("-w")
            .arg(format!("crawlbox:plugin/{world}"))
            .args(["componentize", "app", "-p"])
            .arg(&source)
            .arg("-p")
            .arg(&sdk)
            .arg("-o")
            .arg(out),
        &format!("componentizing the Python guest {folder}"),
    );
}

/// componentize-js at the version `guests/js-example` pins, installed from
/// its lock file under `tools` as `crawlbox build` installs it; returns the
/// tool's path.
fn js_tools(root: &Path, tools: &Path) -> PathBuf {
    let pins = root.join("guests/js-example");
    let package = std::fs::read(pins.join("package.json")).expect("read package.json");
    let lock = std::fs::read(pins.join("package-lock.json")).expect("read package-lock.json");
    let version = crawlbox_kit::tools::js_pin(&String::from_utf8_lossy(&package))
        .expect("guests/js-example/package.json pins componentize-js");
    crawlbox_kit::tools::componentize_js(tools, &version, Some((&package, &lock)))
        .unwrap_or_else(|e| fail(&format!("{e:#}")))
}

/// Componentizes `guests/<folder>/app.js`, with the crawlbox JS SDK
/// (`guests/sdk-js/crawlbox.js`) beside it: componentize-js follows the
/// entry's relative imports (`import ... from './crawlbox.js'`) at build time.
fn build_js_guest(
    componentize: &Path,
    root: &Path,
    tools: &Path,
    folder: &str,
    world: &str,
    out: &Path,
) {
    let source = root.join("guests").join(folder);
    let sdk = root.join("guests/sdk-js");
    if up_to_date(out, &[&source, &sdk, &root.join("wit")]) {
        return;
    }
    // componentize-js wants the WIT folder under the source's folder.
    let staging = tools.join(format!("src-{folder}"));
    let _ = std::fs::remove_dir_all(&staging);
    copy_dir(&root.join("wit"), &staging.join("wit"));
    std::fs::copy(source.join("app.js"), staging.join("app.js")).expect("copy app.js");
    std::fs::copy(sdk.join("crawlbox.js"), staging.join("crawlbox.js"))
        .expect("copy the JS SDK, guests/sdk-js/crawlbox.js");
    std::fs::create_dir_all(out.parent().expect("has a parent")).expect("create components dir");
    run(
        Command::new(componentize)
            .current_dir(&staging)
            .args(["app.js", "-w", "wit", "-n", world, "-o"])
            .arg(out),
        &format!("componentizing the JavaScript guest {folder}"),
    );
}

/// Whether `out` is newer than every file under `inputs`.
fn up_to_date(out: &Path, inputs: &[&Path]) -> bool {
    let Some(built) = modified(out) else {
        return false;
    };
    inputs
        .iter()
        .all(|dir| newest(dir).is_none_or(|t| t <= built))
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn newest(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| !matches!(e.file_name().to_str(), Some("node_modules" | "__pycache__")))
        .filter_map(|e| newest(&e.path()))
        .max()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create a directory");
    for entry in std::fs::read_dir(from).expect("read a directory") {
        let entry = entry.expect("a directory entry");
        let dest = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).expect("copy a file");
        }
    }
}

/// Runs `cmd`; on failure, stops the build with `what` (which says what
/// the step needs) and the command's output.
fn run(cmd: &mut Command, what: &str) {
    let output = match cmd.output() {
        Ok(output) => output,
        Err(e) => fail(&format!("{what}: cannot run {:?}: {e}", cmd.get_program())),
    };
    if !output.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&output.stdout));
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        fail(&format!("{what} failed ({})", output.status));
    }
}

/// The cargo target directory: the ancestor of OUT_DIR holding CACHEDIR.TAG.
fn target_dir(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").exists())
        .map_or_else(|| out_dir.to_path_buf(), Path::to_path_buf)
}
