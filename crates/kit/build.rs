//! Embeds what a new plugin project is made of: the WIT package
//! (`wit/`), the guest SDKs (`crates/guest`, `guests/sdk-python`,
//! `guests/sdk-js`), the pinned build tools (`rust-toolchain.toml`,
//! componentize-py's and componentize-js's pins) and this crate's
//! `templates/`. `embedded.rs` lists them as `(relative path, bytes)`.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let crate_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = crate_dir.join("../..");
    let groups: [(&str, PathBuf); 11] = [
        ("WIT", root.join("wit")),
        ("RUST_SDK", root.join("crates/guest/src")),
        ("PYTHON_SDK", root.join("guests/sdk-python")),
        ("JS_SDK", root.join("guests/sdk-js")),
        ("TEMPLATES", crate_dir.join("templates")),
        ("RUST_TOOLCHAIN", root.join("rust-toolchain.toml")),
        (
            "PYTHON_PINS",
            root.join("guests/python-example/requirements.txt"),
        ),
        ("JS_PINS", root.join("guests/js-example")),
        // The example spiders, tested as they are, are the new spiders'
        // code (under a header of the template's).
        ("RUST_SPIDER", root.join("guests/example-spider/src/lib.rs")),
        ("PYTHON_SPIDER", root.join("guests/python-spider/app.py")),
        ("JS_SPIDER", root.join("guests/js-spider/app.js")),
    ];
    let mut out = String::new();
    for (name, dir) in &groups {
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files = Vec::new();
        collect(dir, dir, &mut files);
        files.sort();
        if name == &"JS_PINS" {
            files.retain(|(rel, _)| rel == "package.json" || rel == "package-lock.json");
        }
        assert!(
            !files.is_empty(),
            "nothing to embed under {}",
            dir.display()
        );
        writeln!(out, "pub static {name}: &[(&str, &[u8])] = &[").expect("write");
        for (rel, path) in files {
            let path = path.canonicalize().expect("an embedded file");
            writeln!(
                out,
                "    ({rel:?}, include_bytes!({:?})),",
                path.display().to_string()
            )
            .expect("write");
        }
        writeln!(out, "];").expect("write");
    }
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    std::fs::write(out_dir.join("embedded.rs"), out).expect("write embedded.rs");
}

/// Every file under `path` (or `path` itself), with its path relative to `base`.
fn collect(base: &Path, path: &Path, files: &mut Vec<(String, PathBuf)>) {
    if path.is_file() {
        let rel = path
            .strip_prefix(base)
            .ok()
            .filter(|rel| !rel.as_os_str().is_empty())
            .unwrap_or_else(|| Path::new(path.file_name().expect("a file name")));
        files.push((rel.to_string_lossy().replace('\\', "/"), path.to_owned()));
        return;
    }
    for entry in std::fs::read_dir(path).expect("read a directory to embed") {
        let entry = entry.expect("a directory entry");
        let name = entry.file_name();
        if matches!(
            name.to_str(),
            Some("node_modules" | "__pycache__" | "target")
        ) {
            continue;
        }
        collect(base, &entry.path(), files);
    }
}
