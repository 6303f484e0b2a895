//! The plugin author's kit: a new project from a template, the WIT, and a
//! build into a component with the right tool.
//!
//! A crawlbox plugin is a WebAssembly component of one of two worlds of the
//! `crawlbox:plugin` WIT package: a **scraper** drives its own crawl
//! (`run`), a **spider** says where to start and what each page yields
//! while the host drives the crawl (`start`, `parse`). It can be written in
//! any language that builds components; three are first-class:
//!
//! | language | tool | what the project holds |
//! |---|---|---|
//! | Rust | cargo, for `wasm32-wasip2` | `Cargo.toml`, `src/lib.rs`, `rust-toolchain.toml`, the SDK in `sdk/crawlbox-guest` |
//! | Python | componentize-py | `app.py`, the SDK `crawlbox.py`, `requirements.txt` pinning componentize-py |
//! | JavaScript | componentize-js | `app.js`, the SDK `crawlbox.js`, `package.json` pinning componentize-js |
//!
//! Every project also holds the WIT (`wit/`), a `crawlbox.toml` (how to
//! build it, its default input, what it may reach) and a short README.
//! Everything a project is made of is embedded in this crate (so in the
//! `crawlbox` binary): [`new_project`] needs no network and no source tree.
//!
//! [`build`] reads the project's `crawlbox.toml` and runs its tool, which
//! it installs first if needed ([`tools`]): componentize-py in a venv,
//! componentize-js with npm, each under a tools directory, at the version
//! the project pins. The Rust toolchain is the user's own; a missing
//! `wasm32-wasip2` target is added with rustup. Errors name the missing
//! piece and how to get it.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

pub mod build;
pub mod tools;

pub use build::{Built, build};

/// The files embedded at build time, as `(relative path, bytes)`.
mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// A plugin's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Rust, built by cargo for `wasm32-wasip2`.
    Rust,
    /// Python, built by componentize-py.
    Python,
    /// JavaScript, built by componentize-js.
    #[serde(alias = "javascript")]
    Js,
}

impl Language {
    /// Its name in `crawlbox.toml` and on the command line.
    pub fn key(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::Js => "js",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Language::Rust => "Rust",
            Language::Python => "Python",
            Language::Js => "JavaScript",
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.title())
    }
}

/// Which `crawlbox:plugin` world a plugin is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum World {
    /// `crawlbox:plugin/scraper`: the plugin drives its own crawl (`crawlbox run`).
    Scraper,
    /// `crawlbox:plugin/spider`: the host drives the crawl (`crawlbox crawl`).
    Spider,
}

impl World {
    /// Its name in `crawlbox.toml`.
    pub fn key(self) -> &'static str {
        match self {
            World::Scraper => "scraper",
            World::Spider => "spider",
        }
    }

    /// The WIT world, e.g. `crawlbox:plugin/spider`.
    pub fn wit_name(self) -> String {
        format!("crawlbox:plugin/{}", self.key())
    }
}

/// The `[build]` section of a project's `crawlbox.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSection {
    /// The plugin's language.
    pub language: Language,
    /// Its world.
    pub world: World,
    /// The entry source file, for Python (default `app.py`) and JavaScript
    /// (default `app.js`).
    pub source: Option<String>,
}

/// What `crawlbox new` writes.
#[derive(Debug, Clone)]
pub struct NewProject {
    /// The plugin's name: a folder, a crate or package name, the `.wasm`'s
    /// stem. Lower-case letters, digits and `-`, starting with a letter.
    pub name: String,
    /// Its language.
    pub language: Language,
    /// Its world.
    pub world: World,
}

/// The longest plugin name [`new_project`] accepts.
pub const MAX_NAME_LEN: usize = 64;

/// Checks a project name: lower-case ASCII letters, digits and `-`,
/// starting with a letter, at most [`MAX_NAME_LEN`] long (a valid crate,
/// npm package and file name everywhere).
pub fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if !ok {
        bail!(
            "{name:?} cannot name a plugin: use lower-case letters, digits and `-`, starting \
             with a letter (at most {MAX_NAME_LEN} characters), e.g. `shop-spider`"
        );
    }
    Ok(())
}

/// Writes a new project for `project` into `dir`, which must not exist or
/// be empty. Returns the files written, relative to `dir`.
pub fn new_project(project: &NewProject, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    check_name(&project.name)?;
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .next()
            .is_none();
        if !empty {
            bail!(
                "{} already exists and is not empty: choose another name or directory",
                dir.display()
            );
        }
    }
    let files = project_files(project)?;
    for (rel, bytes) in &files {
        write_file(&dir.join(rel), bytes)?;
    }
    Ok(files.into_iter().map(|(rel, _)| rel).collect())
}

/// Writes the `crawlbox:plugin` WIT package (and the WASI packages it
/// uses, under `deps/`) into `dir`. Returns the files written.
pub fn write_wit(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (rel, bytes) in embedded::WIT {
        let path = dir.join(rel);
        write_file(&path, bytes)?;
        written.push(path);
    }
    Ok(written)
}

/// The version of the `crawlbox:plugin` package the embedded WIT declares.
pub fn wit_version() -> &'static str {
    let wit = embedded_text(embedded::WIT, "plugin.wit");
    wit.lines()
        .find_map(|line| line.trim().strip_prefix("package crawlbox:plugin@"))
        .map_or("", |rest| rest.trim_end_matches(';').trim())
}

/// The componentize-py version crawlbox builds and tests its Python
/// guests with.
pub fn pinned_componentize_py() -> &'static str {
    let pins = embedded_text(embedded::PYTHON_PINS, "requirements.txt");
    tools::python_pin(pins).unwrap_or("")
}

/// The componentize-js version crawlbox builds and tests its JavaScript
/// guests with.
pub fn pinned_componentize_js() -> String {
    let pins = embedded_text(embedded::JS_PINS, "package.json");
    tools::js_pin(pins).unwrap_or_default()
}

fn embedded_text(files: &'static [(&'static str, &'static [u8])], name: &str) -> &'static str {
    files
        .iter()
        .find(|(rel, _)| *rel == name)
        .and_then(|(_, bytes)| std::str::from_utf8(bytes).ok())
        .unwrap_or("")
}

fn template(name: &str) -> &'static str {
    let text = embedded_text(embedded::TEMPLATES, name);
    debug_assert!(!text.is_empty(), "no template {name}");
    text
}

/// Every file of a new project, with the placeholders filled.
fn project_files(project: &NewProject) -> anyhow::Result<Vec<(PathBuf, Vec<u8>)>> {
    let name = project.name.as_str();
    let lang = project.language;
    let world = project.world;
    let (source, sdk, tool) = match lang {
        Language::Rust => (
            "src/lib.rs",
            "sdk/crawlbox-guest",
            "cargo, for wasm32-wasip2".to_owned(),
        ),
        Language::Python => (
            "app.py",
            "crawlbox.py",
            format!("componentize-py {}", pinned_componentize_py()),
        ),
        Language::Js => (
            "app.js",
            "crawlbox.js",
            format!("componentize-js {}", pinned_componentize_js()),
        ),
    };
    let (world_title, world_blurb, command, extra_line) = match world {
        World::Scraper => (
            "plugin",
            "it drives its own crawl, fetching through the host.",
            "run",
            String::new(),
        ),
        World::Spider => (
            "spider",
            "the host drives the crawl; the spider says where to start and what each page yields.",
            "crawl",
            format!("    crawlbox parse {name}.wasm https://example.com/\n"),
        ),
    };
    let fill = |text: &str| -> Vec<u8> {
        text.replace("{{name}}", name)
            .replace("{{language}}", lang.key())
            .replace("{{language_title}}", lang.title())
            .replace("{{world}}", world.key())
            .replace("{{world_title}}", world_title)
            .replace("{{world_blurb}}", world_blurb)
            .replace("{{command}}", command)
            .replace("{{extra_line}}", &extra_line)
            .replace("{{source}}", source)
            .replace("{{sdk}}", sdk)
            .replace("{{tool}}", &tool)
            .replace("{{crawlbox_version}}", env!("CARGO_PKG_VERSION"))
            .replace("{{wit_bindgen}}", WIT_BINDGEN)
            .into_bytes()
    };
    let mut files: Vec<(PathBuf, Vec<u8>)> = vec![
        ("README.md".into(), fill(template("README.md"))),
        ("crawlbox.toml".into(), fill(template("crawlbox.toml"))),
        (".gitignore".into(), fill(template("gitignore"))),
    ];
    for (rel, bytes) in embedded::WIT {
        files.push((Path::new("wit").join(rel), bytes.to_vec()));
    }
    let ext = match lang {
        Language::Rust => "rs",
        Language::Python => "py",
        Language::Js => "js",
    };
    let example = match world {
        World::Scraper => template(&format!("{}/scraper.{ext}", lang.key())).to_owned(),
        // crawlbox's own example spider, under the template's header.
        World::Spider => {
            let (example, first_code_line) = match lang {
                Language::Rust => (embedded::RUST_SPIDER, "use "),
                Language::Python => (embedded::PYTHON_SPIDER, "from crawlbox"),
                Language::Js => (embedded::JS_SPIDER, "import {"),
            };
            let code =
                std::str::from_utf8(example.first().context("the example spider is embedded")?.1)
                    .context("the example spider is UTF-8")?;
            let body = code
                .find(first_code_line)
                .map_or(code, |start| &code[start..]);
            format!(
                "{}{body}",
                template(&format!("{}/spider-header.{ext}", lang.key()))
            )
        }
    };
    files.push((source.into(), fill(&example)));
    match lang {
        Language::Rust => {
            files.push(("Cargo.toml".into(), fill(template("rust/Cargo.toml"))));
            files.push(("rust-toolchain.toml".into(), rust_toolchain().into_bytes()));
            let sdk_dir = Path::new(sdk);
            files.push((
                sdk_dir.join("Cargo.toml"),
                fill(template("rust/sdk-Cargo.toml")),
            ));
            for (rel, bytes) in embedded::RUST_SDK {
                files.push((sdk_dir.join("src").join(rel), bytes.to_vec()));
            }
        }
        Language::Python => {
            let sdk_file = embedded::PYTHON_SDK
                .iter()
                .find(|(rel, _)| *rel == "crawlbox.py")
                .context("the Python SDK is embedded")?;
            files.push((sdk.into(), sdk_file.1.to_vec()));
            files.push((
                "requirements.txt".into(),
                format!(
                    "# The build tool, installed by `crawlbox build` (the version crawlbox is tested with).\n\
                     componentize-py=={}\n",
                    pinned_componentize_py()
                )
                .into_bytes(),
            ));
        }
        Language::Js => {
            let sdk_file = embedded::JS_SDK
                .iter()
                .find(|(rel, _)| *rel == "crawlbox.js")
                .context("the JavaScript SDK is embedded")?;
            files.push((sdk.into(), sdk_file.1.to_vec()));
            files.push(("package.json".into(), js_package_json(name)?.into_bytes()));
        }
    }
    Ok(files)
}

/// The wit-bindgen the Rust SDK is built with (as `crates/guest` pins it).
const WIT_BINDGEN: &str = "0.61.1";

/// The project's `rust-toolchain.toml`: crawlbox's own pin, with the
/// `wasm32-wasip2` target (rustup installs both on first use).
fn rust_toolchain() -> String {
    let pins = embedded_text(embedded::RUST_TOOLCHAIN, "rust-toolchain.toml");
    let channel = pins
        .lines()
        .find_map(|line| line.trim().strip_prefix("channel"))
        .and_then(|rest| rest.split('"').nth(1))
        .unwrap_or("stable");
    format!(
        "# The toolchain crawlbox builds its own Rust guests with; rustup installs it,\n\
         # with the wasm32-wasip2 target, on first use.\n\
         [toolchain]\n\
         channel = \"{channel}\"\n\
         targets = [\"wasm32-wasip2\"]\n\
         profile = \"minimal\"\n"
    )
}

/// A JS project's `package.json`: the module type and the build tool,
/// pinned as crawlbox pins it (for editors and `npm`; `crawlbox build`
/// installs the tool itself).
fn js_package_json(name: &str) -> anyhow::Result<String> {
    let pins: serde_json::Value =
        serde_json::from_str(embedded_text(embedded::JS_PINS, "package.json"))
            .context("the embedded package.json is JSON")?;
    let json = serde_json::json!({
        "name": name,
        "private": true,
        "type": "module",
        "description": "A crawlbox plugin. Build it with `crawlbox build`.",
        "devDependencies": pins["dependencies"],
    });
    Ok(serde_json::to_string_pretty(&json)? + "\n")
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// The project in `dir`: its `crawlbox.toml`'s `name` and `[build]`.
#[derive(Debug, Clone)]
pub struct Project {
    /// The folder.
    pub dir: PathBuf,
    /// The plugin's name (the `.wasm`'s stem).
    pub name: String,
    /// How to build it.
    pub build: BuildSection,
}

impl Project {
    /// Reads `dir/crawlbox.toml`. Errors say what is missing and how to
    /// start a project.
    pub fn open(dir: &Path) -> anyhow::Result<Self> {
        #[derive(Deserialize)]
        struct Manifest {
            name: Option<String>,
            build: Option<BuildSection>,
        }
        let dir = &dir
            .canonicalize()
            .with_context(|| format!("no project folder {}", dir.display()))?;
        let path = dir.join("crawlbox.toml");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{} has no crawlbox.toml: is it a plugin project? Start one with \
                 `crawlbox new NAME --lang rust|python|js [--spider]`",
                dir.display()
            )
        })?;
        let manifest: Manifest =
            toml::from_str(&text).with_context(|| format!("invalid {}", path.display()))?;
        let Some(build) = manifest.build else {
            bail!(
                "{} has no [build] section: add one saying how to build the plugin, e.g.\n\n\
                 [build]\nlanguage = \"python\"   # rust, python or js\nworld = \"spider\"      # scraper or spider",
                path.display()
            );
        };
        let name = match manifest.name {
            Some(name) => name,
            None => dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .context("the project has no `name` in crawlbox.toml")?,
        };
        check_name(&name).with_context(|| format!("the `name` in {}", path.display()))?;
        Ok(Project {
            dir: dir.to_owned(),
            name,
            build,
        })
    }

    /// Where [`build`] writes the component: `DIR/NAME.wasm`.
    pub fn wasm_path(&self) -> PathBuf {
        self.dir.join(format!("{}.wasm", self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for good in ["shop", "shop-spider", "a1"] {
            check_name(good).unwrap();
        }
        for bad in ["", "Shop", "1shop", "shop_spider", "shop-", "../x", "a b"] {
            let err = check_name(bad).unwrap_err().to_string();
            assert!(err.contains("lower-case"), "{bad}: {err}");
        }
    }

    #[test]
    fn every_project_has_its_files_filled() {
        for language in [Language::Rust, Language::Python, Language::Js] {
            for world in [World::Scraper, World::Spider] {
                let project = NewProject {
                    name: "shop".into(),
                    language,
                    world,
                };
                let files = project_files(&project).unwrap();
                let names: Vec<String> =
                    files.iter().map(|(p, _)| p.display().to_string()).collect();
                assert!(names.contains(&"wit/plugin.wit".to_owned()), "{names:?}");
                assert!(names.contains(&"crawlbox.toml".to_owned()));
                let filled = [
                    "README.md",
                    "crawlbox.toml",
                    "Cargo.toml",
                    "app.py",
                    "app.js",
                    "src/lib.rs",
                ];
                for (path, bytes) in files
                    .iter()
                    .filter(|(p, _)| filled.iter().any(|f| p == Path::new(f)))
                {
                    let text = String::from_utf8_lossy(bytes);
                    assert!(
                        !text.contains("{{"),
                        "{language:?}/{world:?}: {} has an unfilled placeholder",
                        path.display()
                    );
                }
                let manifest = files
                    .iter()
                    .find(|(p, _)| p == Path::new("crawlbox.toml"))
                    .unwrap();
                let text = String::from_utf8_lossy(&manifest.1);
                assert!(text.contains(&format!("language = \"{}\"", language.key())));
                assert!(text.contains(&format!("world = \"{}\"", world.key())));
            }
        }
        assert_eq!(wit_version(), "0.2.1");
        assert!(!pinned_componentize_py().is_empty());
        assert!(!pinned_componentize_js().is_empty());
        assert!(rust_toolchain().contains("wasm32-wasip2"));
    }
}
