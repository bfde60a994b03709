//! `ModelCache`: the models on this machine, as `npu-whisper model fetch|list|rm` manages them —
//! npu-whisper's own directory and the Hugging Face Hub cache that Python tools share.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::hub::progress::Progress;
use crate::hub::{self, ModelRef, Needs, Settings};
pub use crate::hub::{CachedModel, Source as ModelSource};

/// The model caches, as the environment configures them (`NPU_WHISPER_MODEL_DIR`, `HF_HOME`,
/// `HF_HUB_CACHE`, `HF_ENDPOINT`, `PIP_INDEX_URL`, `HF_HUB_OFFLINE`, `HF_TOKEN`).
#[derive(Debug, Clone)]
pub struct ModelCache {
    settings: Settings,
}

/// A model fetched (or found already cached) by [`ModelCache::fetch`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Fetched {
    /// The name as the caller gave it, normalised (`base`, `openai/whisper-small@main`).
    pub name: String,
    /// The model's directory.
    pub path: PathBuf,
    /// Whether it was on disk already (nothing downloaded).
    pub already_cached: bool,
}

impl ModelCache {
    /// The caches from the environment; `offline` forbids the network (as `HF_HUB_OFFLINE=1`).
    pub fn from_env(offline: bool) -> ModelCache {
        ModelCache {
            settings: Settings::from_env(offline),
        }
    }

    /// npu-whisper's own model directory.
    pub fn dir(&self) -> &Path {
        &self.settings.local_dir
    }

    /// Fetch `name` (a short name or a Hub id) from `source` unless it is cached, everything
    /// its repository has (a model without a tokenizer can still encode).
    pub fn fetch(
        &self,
        name: &str,
        source: ModelSource,
        progress: &dyn Progress,
    ) -> Result<Fetched> {
        // Names only: a path is never "cached" as a model (a model directory is opened where it
        // is, with `Model::open`).
        let model = ModelRef::parse_cached(name).map_err(|e| {
            if Path::new(name).exists() {
                Error::Usage(format!(
                    "{name} is a path, not a model name: fetching takes names (base, \
                     large-v3-turbo, org/name); a model directory is used where it is"
                ))
            } else {
                e
            }
        })?;
        let needs = Needs::Encoder;
        let (path, already_cached) = match hub::locate_from(&self.settings, &model, needs, source) {
            Some(path) => (path, true),
            None => (
                hub::fetch(&self.settings, &model, needs, source, progress)?,
                false,
            ),
        };
        if model.display_name() == crate::vad::MODEL_NAME {
            // Imported now, not on first use: what `list` shows does not change later.
            crate::vad::locate_weights(None, self.settings.offline, progress)?;
        }
        Ok(Fetched {
            name: model.display_name(),
            path,
            already_cached,
        })
    }

    /// Every cached model: npu-whisper's directory and the Whisper models in the Hub cache.
    pub fn list(&self) -> Vec<CachedModel> {
        hub::list(&self.settings)
    }

    /// Remove `name` from the caches: a short name from npu-whisper's directory and its Hub
    /// repository; `org/name` wholly, `org/name@revision` that snapshot (and the blobs no
    /// other snapshot uses). What was removed; an error when nothing was cached.
    pub fn remove(&self, name: &str, progress: &dyn Progress) -> Result<Vec<CachedModel>> {
        hub::remove(&self.settings, &ModelRef::parse_cached(name)?, progress)
    }
}
