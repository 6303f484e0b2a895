//! Plugin names. A name labels a plugin's records (`{"plugin": NAME, …}`),
//! its log lines and its summary, and names its output file with
//! `--out-dir DIR` (`DIR/NAME.jsonl`). It comes from a manifest, which
//! plugin authors ship beside their `.wasm`, or a jobs file: so it is
//! checked, and a name that is not a plain file name is an error, never a
//! path (`../../x` would otherwise create and truncate `DIR/../../x.jsonl`)
//! nor a way to forge a line of the host's output.

use anyhow::bail;

/// Longest name, in bytes (the `-2`, `-3`, ... that tells repeated names
/// apart may go a few bytes past it).
pub const MAX_NAME_BYTES: usize = 100;

/// What a name may be, for error messages.
pub const ALLOWED: &str = "a name is a plain file name: 1 to 100 bytes, not `.` or `..`, \
     without `/`, `\\`, control characters (NUL, tab, newline, ESC, ...) or Unicode line and \
     bidirectional controls, and without leading or trailing spaces";

/// Whether `name` may name a plugin; the error says what is wrong with it.
pub fn check(name: &str) -> Result<(), String> {
    let problem = if name.is_empty() {
        "it is empty"
    } else if name.len() > MAX_NAME_BYTES {
        "it is longer than 100 bytes"
    } else if name == "." || name == ".." {
        "it is a directory"
    } else if name.contains(['/', '\\']) {
        "it holds a path separator"
    } else if crawlbox_runtime::has_control_characters(name) {
        "it holds a control character"
    } else if name.trim() != name {
        "it starts or ends with a space"
    } else {
        return Ok(());
    };
    Err(problem.to_owned())
}

/// [`check`], as an error naming where the name comes from (`source`, e.g.
/// "the manifest shop.toml") and what is allowed.
pub fn validate(name: &str, source: &str) -> anyhow::Result<()> {
    if let Err(problem) = check(name) {
        bail!(
            "{source}: the plugin name {:?} is not allowed ({problem}): {ALLOWED}",
            name
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_file_names_are_names() {
        for name in [
            "good",
            "shop-crawler",
            "a.b_c",
            "café",
            "x".repeat(100).as_str(),
            ".hidden",
        ] {
            assert_eq!(check(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn paths_and_control_characters_are_not() {
        for name in [
            "",
            ".",
            "..",
            "../../x",
            "a/b",
            "/abs",
            "a\\b",
            "a\0b",
            "a\nb",
            "good completed in 0.01s\ncrawlbox: x",
            "\u{1b}[31mred",
            "tab\there",
            "rtl\u{202e}",
            " good",
            "good ",
            &"x".repeat(101),
        ] {
            assert!(check(name).is_err(), "{name:?} was allowed");
        }
    }

    #[test]
    fn the_error_names_the_source_the_name_and_the_rule() {
        let err = validate("../../x", "the jobs file jobs.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("jobs.toml"), "{err}");
        assert!(err.contains("\"../../x\""), "{err}");
        assert!(err.contains("path separator"), "{err}");
        assert!(err.contains("plain file name"), "{err}");
    }
}

#[cfg(test)]
mod load_tests {
    use crate::manifest::{JobsFile, Manifest};

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("crawlbox-names-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_manifest_naming_a_path_is_refused_at_load() {
        let dir = scratch("manifest");
        let path = dir.join("crawlbox.toml");
        std::fs::write(&path, "name = \"../../x\"\n").unwrap();
        let err = format!("{:#}", Manifest::load(&path).unwrap_err());
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("\"../../x\""), "{err}");
        std::fs::write(&path, "name = \"shop\"\n").unwrap();
        assert_eq!(Manifest::load(&path).unwrap().name.as_deref(), Some("shop"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_job_naming_a_path_is_refused_at_load() {
        let dir = scratch("jobs");
        let path = dir.join("jobs.toml");
        std::fs::write(&path, "[[job]]\nplugin = \"a.wasm\"\nname = \"a\\nb\"\n").unwrap();
        let err = format!("{:#}", JobsFile::load(&path).unwrap_err());
        assert!(err.contains("jobs.toml, job a.wasm"), "{err}");
        assert!(err.contains("control character"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
