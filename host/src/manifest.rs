//! Plugin manifests (`crawlbox.toml`) and jobs files: what each plugin may
//! reach and use, merged with the command line into a [`Job`].
//!
//! ```toml
//! # crawlbox.toml, beside the plugin's .wasm (or --manifest FILE)
//! name = "shop-crawler"                 # default: the .wasm file's stem
//! input = { start = ["https://shop.example.com/"] }   # default input
//!
//! [network]
//! allowed_hosts = ["https://shop.example.com", "https://*.cdn.example.com"]
//! allowed_networks = []                 # special-purpose networks, e.g. "10.0.0.0/8"
//! max_requests = 1000000
//! max_redirects = 10
//! max_response_size = "16MiB"
//!
//! [limits]
//! memory = "256MiB"
//! cpu_time = "10m"
//! wall_time = "1h"
//! max_records = 1000000
//! max_output = "1GiB"
//! max_log_output = "1MiB"
//! max_buffered_responses = "256MiB"   # host memory for responses not taken yet (and for requests not sent yet)
//! ```
//!
//! The limits (every key above but the grants, `name` and `input`) are
//! [`LimitOverrides`], shared with the command line: see [`limits`].

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use crawlbox_net::{EgressPolicy, SessionConfig};
use crawlbox_runtime::{Input, Limits};
use serde::Deserialize;

use crate::cli::PluginArgs;

mod limits;

pub use limits::{LimitOverrides, LimitsSection, NetworkSection};

/// A `crawlbox.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: Option<String>,
    pub input: Option<toml::Value>,
    #[serde(default)]
    pub network: NetworkSection,
    #[serde(default)]
    pub limits: LimitsSection,
    /// How `crawlbox build` builds the plugin: read by `crawlbox_kit`,
    /// accepted here.
    #[serde(default, rename = "build")]
    _build: Option<serde::de::IgnoredAny>,
}

impl Manifest {
    /// The limits this manifest sets, for [`LimitOverrides::resolve`].
    pub fn limit_overrides(&self) -> LimitOverrides {
        LimitOverrides {
            network: self.network.clone(),
            limits: self.limits,
        }
    }

    /// Reads and parses a manifest; errors name the file and the problem.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the manifest {}", path.display()))?;
        let manifest: Self = toml::from_str(&text)
            .with_context(|| format!("invalid manifest {}", path.display()))?;
        // Plugin authors ship manifests: the name is checked (crate::names).
        if let Some(name) = &manifest.name {
            crate::names::validate(name, &format!("the manifest {}", path.display()))?;
        }
        Ok(manifest)
    }

    /// The manifest for `plugin`: `explicit` if given, else `crawlbox.toml`
    /// beside it, else an empty one (nothing allowed, default limits).
    pub fn for_plugin(
        plugin: &Path,
        explicit: Option<&Path>,
    ) -> anyhow::Result<(Self, Option<PathBuf>)> {
        if let Some(path) = explicit {
            return Ok((Self::load(path)?, Some(path.to_owned())));
        }
        let beside = plugin
            .parent()
            .unwrap_or(Path::new("."))
            .join("crawlbox.toml");
        if beside.is_file() {
            return Ok((Self::load(&beside)?, Some(beside)));
        }
        Ok((Self::default(), None))
    }
}

/// One plugin to run, everything resolved.
#[derive(Debug)]
pub struct Job {
    pub name: String,
    pub wasm: WasmSource,
    pub input: Input,
    pub session: SessionConfig,
    pub limits: Limits,
}

#[derive(Debug)]
pub enum WasmSource {
    File(PathBuf),
    Embedded(&'static [u8]),
}

impl WasmSource {
    /// The component's bytes; a file that is not a component is refused
    /// after its first 8 bytes (see `crawlbox_runtime::read_component`).
    pub fn bytes(&self) -> anyhow::Result<std::borrow::Cow<'static, [u8]>> {
        match self {
            WasmSource::File(path) => Ok(std::borrow::Cow::Owned(
                crawlbox_runtime::read_component(path)?,
            )),
            WasmSource::Embedded(bytes) => Ok(std::borrow::Cow::Borrowed(bytes)),
        }
    }
}

impl Job {
    /// Merges a manifest with the command line (flags win; `--allow-host`
    /// and `--allow-network` add to the manifest's lists).
    pub fn resolve(
        wasm: WasmSource,
        default_name: &str,
        manifest: &Manifest,
        input: Option<String>,
        command_args: &[String],
        args: &PluginArgs,
    ) -> anyhow::Result<Job> {
        let net = &manifest.network;
        let hosts = net.allowed_hosts.iter().chain(&args.allow_host);
        let networks = net.allowed_networks.iter().chain(&args.allow_network);
        let egress = EgressPolicy::new(hosts, networks)?;
        let session = SessionConfig {
            egress,
            ..SessionConfig::default()
        };
        let (limits, session) = args.limits.resolve(&manifest.limit_overrides(), session);
        let input = match (input, &manifest.input) {
            (Some(input), _) => input,
            (None, Some(value)) => serde_json::to_string(value)?,
            (None, None) => "null".to_owned(),
        };
        if serde_json::from_str::<serde_json::Value>(&input).is_err() {
            bail!("the input of {default_name} is not valid JSON");
        }
        Ok(Job {
            name: manifest
                .name
                .clone()
                .unwrap_or_else(|| default_name.to_owned()),
            wasm,
            input: Input {
                json: input,
                args: command_args.to_vec(),
                env: args.env.clone(),
            },
            session,
            limits,
        })
    }
}

/// A jobs file: several plugins run at once in one process.
///
/// ```toml
/// [[job]]
/// plugin = "shop.wasm"          # relative to the jobs file
/// manifest = "shop.toml"        # default: crawlbox.toml beside the plugin
/// name = "shop"                 # default: the manifest's name, else the file stem
/// input = { start = ["https://shop.example.com/"] }
/// # or, as JSON text: input_json = '{"start": ["https://shop.example.com/"]}'
/// ```
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsFile {
    pub job: Vec<JobEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobEntry {
    pub plugin: PathBuf,
    pub manifest: Option<PathBuf>,
    pub name: Option<String>,
    pub input: Option<toml::Value>,
    pub input_json: Option<String>,
}

impl JobEntry {
    /// The entry's input as JSON text, if it has one.
    pub fn input(&self) -> anyhow::Result<Option<String>> {
        match (&self.input, &self.input_json) {
            (Some(_), Some(_)) => bail!(
                "job {}: give `input` or `input_json`, not both",
                self.plugin.display()
            ),
            (Some(value), None) => Ok(Some(serde_json::to_string(value)?)),
            (None, Some(json)) => {
                serde_json::from_str::<serde_json::Value>(json).with_context(|| {
                    format!(
                        "job {}: input_json is not valid JSON",
                        self.plugin.display()
                    )
                })?;
                Ok(Some(json.clone()))
            }
            (None, None) => Ok(None),
        }
    }
}

impl JobsFile {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the jobs file {}", path.display()))?;
        let mut jobs: JobsFile = toml::from_str(&text)
            .with_context(|| format!("invalid jobs file {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for job in &mut jobs.job {
            if let Some(name) = &job.name {
                let source = format!(
                    "the jobs file {}, job {}",
                    path.display(),
                    job.plugin.display()
                );
                crate::names::validate(name, &source)?;
            }
            job.plugin = base.join(&job.plugin);
            if let Some(manifest) = &mut job.manifest {
                *manifest = base.join(&*manifest);
            }
        }
        if jobs.job.is_empty() {
            bail!("the jobs file {} lists no [[job]]", path.display());
        }
        Ok(jobs)
    }
}

/// `path/to/my_plugin.wasm` → `my-plugin`.
pub fn plugin_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().replace('_', "-"))
        .unwrap_or_else(|| "plugin".to_owned())
}

/// Makes names unique by suffixing `-2`, `-3`, … to repeats.
pub fn dedup_names(jobs: &mut [Job]) {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for job in jobs {
        let count = seen.entry(job.name.clone()).or_default();
        *count += 1;
        if *count > 1 {
            job.name = format!("{}-{count}", job.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_manifest_parses() {
        let manifest: Manifest = toml::from_str(
            r#"
            name = "shop"
            input = { start = ["https://shop.example.com/"], max_pages = 5 }
            [network]
            allowed_hosts = ["https://shop.example.com"]
            allowed_networks = ["10.0.0.0/8"]
            max_requests = 100
            [limits]
            memory = "64MiB"
            cpu_time = "30s"
            "#,
        )
        .unwrap();
        assert_eq!(manifest.name.as_deref(), Some("shop"));
        assert_eq!(manifest.network.max_requests, Some(100));
        assert_eq!(manifest.limits.memory, Some(64 << 20));
        assert_eq!(
            manifest.limits.cpu_time,
            Some(std::time::Duration::from_secs(30))
        );
    }

    #[test]
    fn typos_are_refused() {
        let err = toml::from_str::<Manifest>("[network]\nallowed_host = []").unwrap_err();
        assert!(err.to_string().contains("allowed_host"), "{err}");
        let err = toml::from_str::<Manifest>("[limits]\nmemroy = \"1MiB\"").unwrap_err();
        assert!(err.to_string().contains("memroy"), "{err}");
    }

    #[test]
    fn bad_units_are_refused_with_the_parsers_message() {
        let err = toml::from_str::<Manifest>("[limits]\nmemory = \"12 parsecs\"").unwrap_err();
        assert!(err.to_string().contains("unknown unit"), "{err}");
        let err =
            toml::from_str::<Manifest>("[network]\nmax_response_size = \"lots\"").unwrap_err();
        assert!(err.to_string().contains("is not a size"), "{err}");
        let err = toml::from_str::<Manifest>("[limits]\ncpu_time = \"soon\"").unwrap_err();
        assert!(err.to_string().contains("is not a duration"), "{err}");
    }
}
