//! The defaults the docs state are the ones `--help` shows, which are
//! formatted from the libraries' `DEFAULT_*` consts: a default changed in
//! one place and not in README.md, SECURITY.md or docs/spiders.md fails
//! here, and so does a table row naming a flag that does not exist.

use std::time::Duration;

use clap::{ArgAction, CommandFactory};

use super::Cli;
use crate::manifest::Manifest;
use crate::units::{parse_duration, parse_size};

const README: &str = include_str!("../../../README.md");
const SECURITY: &str = include_str!("../../../SECURITY.md");
const SPIDERS: &str = include_str!("../../../docs/spiders.md");

/// A default as the docs or the help write it, compared by meaning:
/// `256 MiB` is `256MiB`, `1,000,000` is `1000000`, `10 minutes` is `10m`.
#[derive(Debug, PartialEq)]
enum Value {
    /// `none`, `no limit`, `off`.
    Nothing,
    /// A count, a fraction or a size in bytes.
    Number(f64),
    Duration(Duration),
    Text(String),
}

impl Value {
    fn of(text: &str) -> Value {
        let text = text.trim().trim_matches('`');
        if matches!(text, "none" | "no limit" | "off") {
            return Value::Nothing;
        }
        let compact: String = text.chars().filter(|c| !matches!(c, ' ' | ',')).collect();
        if let Ok(n) = compact.parse::<f64>() {
            return Value::Number(n);
        }
        // `10m` is ten minutes, not 10 MiB: the docs and the help write
        // sizes with their `B`.
        if compact.ends_with(['b', 'B'])
            && let Ok(bytes) = parse_size(&compact)
        {
            return Value::Number(bytes as f64);
        }
        if let Ok(d) = parse_duration(&compact) {
            return Value::Duration(d);
        }
        Value::Text(text.replace("<version>", env!("CARGO_PKG_VERSION")))
    }
}

/// The default `--help` shows for `--flag`, in whichever command has it
/// (`run` first): clap's `[default: ...]`, the one a help text ends with,
/// `off` for a switch, `none` for the rest.
fn shown_default(flag: &str) -> String {
    let long = flag.trim_start_matches("--");
    let command = Cli::command();
    let mut commands: Vec<_> = command.get_subcommands().collect();
    commands.sort_by_key(|c| c.get_name() != "run");
    let arg = commands
        .iter()
        .flat_map(|c| c.get_arguments())
        .find(|a| a.get_long() == Some(long))
        .unwrap_or_else(|| panic!("the docs name {flag}, which no command has"));
    let defaults = arg.get_default_values();
    if !defaults.is_empty() {
        let defaults: Vec<_> = defaults.iter().map(|d| d.to_string_lossy()).collect();
        return defaults.join(",");
    }
    let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
    if let Some(at) = help.rfind("[default: ") {
        return help[at + "[default: ".len()..]
            .trim_end()
            .trim_end_matches(']')
            .to_owned();
    }
    match arg.get_action() {
        ArgAction::SetTrue => "off".to_owned(),
        _ => "none".to_owned(),
    }
}

/// The rows of the (first) Markdown table whose header row starts with
/// `header`, as cells; the table may be indented (in a list item).
fn table(doc: &str, header: &str) -> Vec<Vec<String>> {
    let lines = doc
        .lines()
        .map(str::trim_start)
        .skip_while(|l| !l.starts_with(header))
        .skip(2);
    let mut rows = Vec::new();
    for line in lines {
        let Some(row) = line.strip_prefix("| ").and_then(|l| l.strip_suffix(" |")) else {
            break;
        };
        rows.push(row.split(" | ").map(str::to_owned).collect());
    }
    assert!(!rows.is_empty(), "no table {header:?}");
    rows
}

/// The `--flags` among the `code` spans of a cell (`crawl --max-queued` is
/// `--max-queued`; `-c` and manifest keys are left out).
fn flags(cell: &str) -> Vec<String> {
    code_spans(cell)
        .filter_map(|span| span.find("--").map(|at| &span[at..]))
        .map(|flag| flag.split(' ').next().unwrap_or(flag).to_owned())
        .collect()
}

fn code_spans(cell: &str) -> impl Iterator<Item = &str> {
    cell.split('`').skip(1).step_by(2)
}

/// Checks a row's defaults (`a, b` for two flags, or one for all of them).
fn check(doc: &str, flags: &[String], defaults: &str) {
    let defaults: Vec<&str> = defaults.split(", ").collect();
    assert!(
        defaults.len() == 1 || defaults.len() == flags.len(),
        "{doc}: {flags:?} with defaults {defaults:?}"
    );
    for (i, flag) in flags.iter().enumerate() {
        let documented = defaults[if defaults.len() == 1 { 0 } else { i }];
        let shown = shown_default(flag);
        assert_eq!(
            Value::of(documented),
            Value::of(&shown),
            "{doc} says {flag} defaults to {documented:?}, --help says {shown:?}"
        );
    }
}

#[test]
fn the_readme_options_table_states_the_defaults() {
    for row in table(README, "| option | default |") {
        let flags = flags(&row[0]);
        assert!(!flags.is_empty(), "README row without a flag: {row:?}");
        check("README.md", &flags, &row[1]);
    }
}

#[test]
fn the_spiders_frontier_table_states_the_defaults() {
    for row in table(SPIDERS, "| flag | default |") {
        check("docs/spiders.md", &flags(&row[0]), &row[1]);
    }
}

#[test]
fn the_security_defaults_table_states_the_defaults() {
    use crawlbox_runtime::{Limits, MAX_COMPONENT_BYTES, MAX_RECORD_LINE};
    for row in table(SECURITY, "| limit | default | flag / manifest key |") {
        let (limit, default, keys) = (&row[0], &row[1], &row[2]);
        // Every manifest key named is one.
        for key in code_spans(keys).filter(|k| !k.contains("--") && k.contains('.')) {
            let (section, key) = key.split_once('.').unwrap_or_default();
            let manifest = format!("[{section}]\n{key} = 0\n");
            if let Err(e) = toml::from_str::<Manifest>(&manifest) {
                assert!(
                    !e.to_string().contains("unknown field"),
                    "SECURITY.md names the manifest key {section}.{key}: {e}"
                );
            }
        }
        let flags = flags(keys);
        if !flags.is_empty() {
            // `connect 10 s, first byte 30 s, ...`: the labels go.
            let defaults: Vec<&str> = default
                .split(", ")
                .map(|d| match d.find(|c: char| c.is_ascii_digit()) {
                    Some(at) => &d[at..],
                    None => d,
                })
                .collect();
            check("SECURITY.md", &flags, &defaults.join(", "));
            continue;
        }
        let fixed = match limit.as_str() {
            "table elements" => Limits::DEFAULT_TABLE_ELEMENTS as f64,
            "a command's stdout line (a record)" => MAX_RECORD_LINE as f64,
            "plugin file" => MAX_COMPONENT_BYTES as f64,
            "plugin name" => {
                let rule = format!("≤ {} bytes", crate::names::MAX_NAME_BYTES);
                assert!(default.contains(&rule), "SECURITY.md: {row:?}");
                continue;
            }
            l if l.starts_with("one plugin's share") => continue,
            _ => panic!("SECURITY.md row without a flag nor a check here: {row:?}"),
        };
        assert_eq!(
            Value::of(default),
            Value::Number(fixed),
            "SECURITY.md: {row:?}"
        );
    }
}

#[test]
fn the_readme_manifest_example_is_a_manifest() {
    let start = README
        .find("```toml\nname = ")
        .expect("README's manifest example");
    let example = &README[start + "```toml\n".len()..];
    let example = &example[..example.find("```").expect("its end")];
    let manifest: Manifest = toml::from_str(example).expect("README's manifest example");
    assert_eq!(manifest.name.as_deref(), Some("shop-crawler"));
}

#[test]
fn docs_values_compare_by_meaning() {
    assert_eq!(Value::of("256 MiB"), Value::of("256MiB"));
    assert_eq!(Value::of("1,000,000"), Value::of("1000000"));
    assert_eq!(Value::of("10 minutes"), Value::of("10m"));
    assert_eq!(Value::of("10 s"), Value::of("10s"));
    assert_eq!(Value::of("1.0"), Value::of("1"));
    assert_ne!(Value::of("10"), Value::of("10s"));
    assert_ne!(Value::of("64KiB"), Value::of("64MiB"));
    assert_eq!(Value::of("10m"), Value::Duration(Duration::from_secs(600)));
}
