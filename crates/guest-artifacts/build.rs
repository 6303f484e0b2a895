//! Builds every guest under `guests/` for `wasm32-wasip2`, the way wasmtime's
//! test-programs are built, and writes their paths into `artifacts.rs`.
//!
//! The guests are a separate cargo workspace, built by a nested cargo into
//! `<target>/wasm-guests`, one directory shared by every profile.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (crate name, const name) of each Rust guest.
const RUST_GUESTS: &[(&str, &str)] = &[
    ("example-crawler", "EXAMPLE_CRAWLER"),
    ("wasi-http-fetch", "WASI_HTTP_FETCH"),
    ("batch-fetch", "BATCH_FETCH"),
];

/// The hostile plugins: examples of `guests/hostile`, one per attack.
const HOSTILE: &[(&str, &str)] = &[
    ("infinite-loop", "HOSTILE_INFINITE_LOOP"),
    ("memory-bomb", "HOSTILE_MEMORY_BOMB"),
    ("stack-overflow", "HOSTILE_STACK_OVERFLOW"),
    ("probe", "HOSTILE_PROBE"),
    ("request-flood", "HOSTILE_REQUEST_FLOOD"),
    ("stdout-flood", "HOSTILE_STDOUT_FLOOD"),
    ("bad-emit", "HOSTILE_BAD_EMIT"),
    ("forbidden-headers", "HOSTILE_FORBIDDEN_HEADERS"),
    ("panic-after-emit", "HOSTILE_PANIC_AFTER_EMIT"),
    ("escape", "HOSTILE_ESCAPE"),
];

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .join("../..")
        .canonicalize()
        .expect("repository root");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    let guests_target = target_dir(&out_dir).join("wasm-guests");

    for watched in ["guests", "crates/guest", "wit"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    build_rust_guests(&root, &guests_target);

    let release = guests_target.join("wasm32-wasip2/release");
    let mut consts = String::new();
    let guests = RUST_GUESTS
        .iter()
        .map(|(name, konst)| (*name, *konst, release.clone()));
    let hostile = HOSTILE
        .iter()
        .map(|(name, konst)| (*name, *konst, release.join("examples")));
    for (name, konst, dir) in guests.chain(hostile) {
        let file = dir.join(format!("{}.wasm", name.replace('-', "_")));
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

fn build_rust_guests(root: &Path, target: &Path) {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root.join("guests"))
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .args(["--workspace", "--lib", "--examples", "--target-dir"])
        .arg(target);
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
    let output = cmd.output().expect("run cargo to build the guests");
    if !output.status.success() {
        panic!(
            "building the guests failed ({}). Is the wasm32-wasip2 target installed? \
             (`rustup target add wasm32-wasip2`)\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// The cargo target directory: the ancestor of OUT_DIR holding CACHEDIR.TAG.
fn target_dir(out_dir: &Path) -> PathBuf {
    out_dir
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").exists())
        .map_or_else(|| out_dir.to_path_buf(), Path::to_path_buf)
}
