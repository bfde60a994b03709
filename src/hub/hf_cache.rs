//! The Hugging Face Hub's own cache layout, read and written the way huggingface_hub does, so a
//! model fetched by Python tools is used here and the other way round:
//!
//! ```text
//! $HF_HUB_CACHE/models--ORG--NAME/
//!     blobs/<etag>                  the bytes (sha256 for LFS files, git sha1 for small ones)
//!     snapshots/<commit>/<file>     relative symlinks to ../../blobs/<etag>
//!     refs/<revision>               the commit a branch or tag resolved to
//! $HF_HUB_CACHE/.locks/models--ORG--NAME/<etag>.lock
//! ```
//!
//! Downloads go to `blobs/<etag>.incomplete` and are resumed from there.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A Hub cache directory.
#[derive(Debug, Clone)]
pub struct HubCache {
    root: PathBuf,
}

impl HubCache {
    #[cfg(test)]
    pub fn new(root: PathBuf) -> Self {
        HubCache { root }
    }

    /// `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else
    /// `~/.cache/huggingface/hub` (huggingface_hub's order).
    pub fn from_env() -> Self {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let root = var("HF_HUB_CACHE")
            .map(PathBuf::from)
            .or_else(|| var("HF_HOME").map(|h| PathBuf::from(h).join("hub")))
            .unwrap_or_else(|| hf_home_default().join("hub"));
        HubCache { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `models--ORG--NAME`.
    pub fn folder_name(repo: &str) -> String {
        format!("models--{}", repo.replace('/', "--"))
    }

    pub fn repo_dir(&self, repo: &str) -> PathBuf {
        self.root.join(Self::folder_name(repo))
    }

    pub fn blob_path(&self, repo: &str, etag: &str) -> PathBuf {
        self.repo_dir(repo).join("blobs").join(etag)
    }

    pub fn lock_path(&self, repo: &str, etag: &str) -> PathBuf {
        self.root
            .join(".locks")
            .join(Self::folder_name(repo))
            .join(format!("{etag}.lock"))
    }

    pub fn snapshot_dir(&self, repo: &str, commit: &str) -> PathBuf {
        self.repo_dir(repo).join("snapshots").join(commit)
    }

    /// The commit `revision` names in the cache: itself when it is a commit with a snapshot,
    /// else what `refs/<revision>` holds.
    pub fn resolve_revision(&self, repo: &str, revision: &str) -> Option<String> {
        if is_commit(revision) && self.snapshot_dir(repo, revision).is_dir() {
            return Some(revision.to_string());
        }
        let text = std::fs::read_to_string(self.repo_dir(repo).join("refs").join(revision)).ok()?;
        let commit = text.trim();
        is_commit(commit).then(|| commit.to_string())
    }

    /// Record that `revision` is `commit` (atomically: a reader never sees half a ref).
    pub fn write_ref(&self, repo: &str, revision: &str, commit: &str) -> Result<()> {
        if revision == commit {
            return Ok(());
        }
        let path = self.repo_dir(repo).join("refs").join(revision);
        write_atomic(&path, commit.as_bytes())
    }

    /// Make `snapshots/<commit>/<file>` a relative symlink to the blob `etag`.
    pub fn link(&self, repo: &str, commit: &str, file: &str, etag: &str) -> Result<()> {
        let link = self.snapshot_dir(repo, commit).join(file);
        let write_error = |source| Error::WriteOutput {
            path: link.clone(),
            source,
        };
        if let Some(dir) = link.parent() {
            std::fs::create_dir_all(dir).map_err(write_error)?;
        }
        // snapshots/<commit>/a/b.json -> ../../../blobs/<etag>: one `..` per directory level.
        let depth = file.split('/').count() + 1;
        let target = PathBuf::from("../".repeat(depth)).join("blobs").join(etag);
        match std::fs::read_link(&link) {
            Ok(existing) if existing == target => return Ok(()),
            Ok(_) => std::fs::remove_file(&link).map_err(write_error)?,
            Err(_) if link.exists() => std::fs::remove_file(&link).map_err(write_error)?,
            Err(_) => {}
        }
        match std::os::unix::fs::symlink(&target, &link) {
            // Another process linked the same file meanwhile: the same target.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            other => other.map_err(write_error),
        }
    }

    /// Every repository folder in the cache: (repo id, folder).
    pub fn repos(&self) -> Vec<(String, PathBuf)> {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut repos: Vec<(String, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let rest = name.strip_prefix("models--")?;
                // huggingface_hub's own reading of the folder name.
                let (org, model) = rest.split_once("--")?;
                Some((format!("{org}/{}", model.replace("--", "/")), e.path()))
            })
            .collect();
        repos.sort();
        repos
    }
}

/// `$HF_HOME`'s default: `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`.
pub fn hf_home_default() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"))
        .join("huggingface")
}

/// A full 40-hex-digit git commit id.
pub fn is_commit(text: &str) -> bool {
    text.len() == 40 && text.chars().all(|c| c.is_ascii_hexdigit())
}

/// Write `bytes` to `path` through a temporary file renamed into place.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let write_error = |source| Error::WriteOutput {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(write_error)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(write_error)?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(write_error)?;
    tmp.persist(path).map_err(|e| write_error(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_huggingface_hubs() {
        let dir = tempfile::tempdir().unwrap();
        let cache = HubCache::new(dir.path().to_path_buf());
        let repo = "openai/whisper-base";
        let commit = "e".repeat(40);
        std::fs::create_dir_all(cache.repo_dir(repo).join("blobs")).unwrap();
        std::fs::write(cache.blob_path(repo, "abc"), b"{}").unwrap();
        cache.link(repo, &commit, "config.json", "abc").unwrap();
        cache.link(repo, &commit, "sub/x.json", "abc").unwrap();
        cache.link(repo, &commit, "config.json", "abc").unwrap(); // again: no error
        let snapshot = cache.snapshot_dir(repo, &commit);
        assert_eq!(
            std::fs::read_link(snapshot.join("config.json")).unwrap(),
            PathBuf::from("../../blobs/abc")
        );
        assert_eq!(std::fs::read(snapshot.join("sub/x.json")).unwrap(), b"{}");
        assert_eq!(cache.resolve_revision(repo, "main"), None);
        cache.write_ref(repo, "main", &commit).unwrap();
        assert_eq!(cache.resolve_revision(repo, "main"), Some(commit.clone()));
        assert_eq!(cache.resolve_revision(repo, &commit), Some(commit.clone()));
        assert_eq!(
            cache.repos(),
            vec![(repo.to_string(), cache.repo_dir(repo))]
        );
        assert!(
            cache
                .lock_path(repo, "abc")
                .ends_with(".locks/models--openai--whisper-base/abc.lock")
        );
    }
}
