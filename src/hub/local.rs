//! npu-whisper's own model directory (`$NPU_WHISPER_MODEL_DIR`, else
//! `${XDG_CACHE_HOME:-~/.cache}/npu-whisper/models`): models imported through the PyPI route
//! (not Hub snapshots, so they never pose as the Hub's files) and any directory a user puts
//! there. `NAME/` holds the Hugging Face layout, `.complete` once whole, and `source.json`
//! saying where it came from.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Written last into a finished model directory.
pub const COMPLETE_MARKER: &str = ".complete";
/// Where a directory's model came from.
pub const PROVENANCE: &str = "source.json";

/// A directory counts once it is marked complete (or, made by hand, holds the model files).
pub fn is_complete(dir: &Path) -> bool {
    dir.join(COMPLETE_MARKER).is_file()
        || (dir.join("config.json").is_file()
            && (dir.join("model.safetensors").is_file()
                || dir.join(crate::model::tensor_file::SHARD_INDEX).is_file()))
}

/// `source.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Provenance {
    /// `pypi`.
    pub source: String,
    pub description: String,
    /// `project==version` of each wheel.
    pub wheels: Vec<String>,
    /// The index the wheels came from.
    pub index: String,
    /// Seconds since 1970 when the import finished.
    pub fetched_unix: u64,
}

impl Provenance {
    pub fn read(dir: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(dir.join(PROVENANCE)).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// The entries of the directory (sub-directories), by name.
pub fn entries(root: &Path) -> Vec<(String, PathBuf)> {
    let Ok(read) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut found: Vec<(String, PathBuf)> = read
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(name, _)| !name.starts_with('.'))
        .collect();
    found.sort();
    found
}
