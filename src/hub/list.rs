//! `model list` and `model rm`: what the two caches hold, and taking it out again.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::hf_cache::is_commit;
use super::local::{Provenance, is_complete};
use super::lock::Lock;
use super::progress::Progress;
use super::{ModelRef, Settings, catalogue};
use crate::error::{Error, Result};

/// One cached model (or the VAD).
#[derive(Debug, Clone, Serialize)]
pub struct CachedModel {
    /// The catalogue name, else the Hub id, else the directory's name.
    pub name: String,
    /// `hub`, `pypi` or `local` (a directory put there by hand).
    pub source: String,
    /// The Hub id of a Hub snapshot.
    pub repo: Option<String>,
    /// A Hub snapshot's commit (with the refs naming it), a PyPI import's wheels.
    pub revision: String,
    /// Bytes on disk.
    pub bytes: u64,
    /// `d_model 512, layers 6+6, 80 mels, vocab 51865`; absent for what is not a Whisper model.
    pub dims: Option<String>,
    /// Where it is.
    pub path: PathBuf,
}

/// Everything in npu-whisper's directory and the Whisper models in the Hub cache.
pub fn list(settings: &Settings) -> Vec<CachedModel> {
    let mut models = Vec::new();
    for (name, dir) in super::local::entries(&settings.local_dir) {
        if !is_complete(&dir) {
            continue;
        }
        let provenance = Provenance::read(&dir);
        models.push(CachedModel {
            source: provenance
                .as_ref()
                .map_or("local".into(), |p| p.source.clone()),
            revision: provenance
                .as_ref()
                .map_or("-".into(), |p| match &p.wheels[..] {
                    [] => "-".into(),
                    [one] => one.clone(),
                    [first, rest @ ..] => format!("{first} +{}", rest.len()),
                }),
            repo: None,
            bytes: tree_bytes(&dir),
            dims: dims_of(&dir),
            path: dir,
            name,
        });
    }
    for (repo, repo_dir) in settings.hub_cache.repos() {
        let refs = refs_of(&repo_dir);
        let Ok(snapshots) = std::fs::read_dir(repo_dir.join("snapshots")) else {
            continue;
        };
        let mut found: Vec<PathBuf> = snapshots.filter_map(|e| e.ok()).map(|e| e.path()).collect();
        found.sort();
        for snapshot in found {
            let Some(dims) = dims_of(&snapshot) else {
                continue; // not a Whisper model (the Hub cache holds every kind)
            };
            let commit = snapshot
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let named: Vec<&str> = refs
                .iter()
                .filter(|(_, c)| *c == commit)
                .map(|(r, _)| r.as_str())
                .collect();
            let short = &commit[..commit.len().min(12)];
            models.push(CachedModel {
                name: catalogue::by_repo(&repo).map_or(repo.clone(), |e| e.name.clone()),
                source: "hub".into(),
                repo: Some(repo.clone()),
                revision: if named.is_empty() {
                    short.to_string()
                } else {
                    format!("{short} ({})", named.join(", "))
                },
                bytes: tree_bytes(&snapshot),
                dims: Some(dims),
                path: snapshot,
            });
        }
    }
    models
}

/// Remove `model` from the caches: a catalogue name from npu-whisper's directory and its Hub
/// repository; `org/name` wholly, `org/name@revision` that snapshot (and the blobs no other
/// snapshot uses). What was removed; an error when nothing was cached.
pub fn remove(
    settings: &Settings,
    model: &ModelRef,
    progress: &dyn Progress,
) -> Result<Vec<CachedModel>> {
    let cached = list(settings);
    let mut removed = Vec::new();
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::WriteOutput { path, source }
    };
    match model {
        ModelRef::Path(p) => {
            return Err(Error::Usage(format!(
                "{} is a path: `model rm` takes a cached model's name (see `npu-whisper model list`)",
                p.display()
            )));
        }
        ModelRef::Named(entry) => {
            let local = settings.local_dir.join(&entry.name);
            if local.is_dir() {
                let _lock = Lock::acquire(
                    &settings
                        .local_dir
                        .join(".locks")
                        .join(format!("{}.lock", entry.name)),
                    progress,
                )?;
                removed.extend(cached.iter().filter(|c| c.path == local).cloned());
                std::fs::remove_dir_all(&local).map_err(write_error(&local))?;
            }
            if let Some(repo) = &entry.hub {
                removed.extend(remove_repo(settings, repo, None, &cached)?);
            }
        }
        ModelRef::Repo(r) => {
            let revision = (r.revision != "main").then_some(r.revision.as_str());
            removed.extend(remove_repo(settings, &r.repo, revision, &cached)?);
        }
    }
    if removed.is_empty() {
        return Err(Error::fetch(
            model.display_name(),
            "not in the cache (see `npu-whisper model list`)",
        ));
    }
    Ok(removed)
}

/// Remove a Hub repository's folder, or one revision's snapshot and its now unused blobs.
fn remove_repo(
    settings: &Settings,
    repo: &str,
    revision: Option<&str>,
    cached: &[CachedModel],
) -> Result<Vec<CachedModel>> {
    let cache = &settings.hub_cache;
    let repo_dir = cache.repo_dir(repo);
    if !repo_dir.is_dir() {
        return Ok(Vec::new());
    }
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::WriteOutput { path, source }
    };
    let in_repo = |c: &&CachedModel| c.repo.as_deref() == Some(repo);
    let Some(revision) = revision else {
        let removed: Vec<CachedModel> = cached.iter().filter(in_repo).cloned().collect();
        std::fs::remove_dir_all(&repo_dir).map_err(write_error(&repo_dir))?;
        let locks = cache
            .root()
            .join(".locks")
            .join(super::hf_cache::HubCache::folder_name(repo));
        let _ = std::fs::remove_dir_all(locks);
        return Ok(removed);
    };
    let Some(commit) = cache.resolve_revision(repo, revision) else {
        return Ok(Vec::new());
    };
    let snapshot = cache.snapshot_dir(repo, &commit);
    let removed: Vec<CachedModel> = cached
        .iter()
        .filter(in_repo)
        .filter(|c| c.path == snapshot)
        .cloned()
        .collect();
    std::fs::remove_dir_all(&snapshot).map_err(write_error(&snapshot))?;
    for (name, target) in refs_of(&repo_dir) {
        if target == commit {
            let path = repo_dir.join("refs").join(name);
            std::fs::remove_file(&path).map_err(write_error(&path))?;
        }
    }
    // Blobs still linked from another snapshot stay.
    let mut used = std::collections::BTreeSet::new();
    if let Ok(snapshots) = std::fs::read_dir(repo_dir.join("snapshots")) {
        for s in snapshots.filter_map(|e| e.ok()) {
            collect_link_targets(&s.path(), &mut used);
        }
    }
    if let Ok(blobs) = std::fs::read_dir(repo_dir.join("blobs")) {
        for blob in blobs.filter_map(|e| e.ok()) {
            let name = blob.file_name().to_string_lossy().into_owned();
            if !used.contains(&name) {
                std::fs::remove_file(blob.path()).map_err(write_error(&blob.path()))?;
            }
        }
    }
    Ok(removed)
}

/// Names of the blobs the symlinks under `dir` point to.
fn collect_link_targets(dir: &Path, into: &mut std::collections::BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(|e| e.ok()) {
        let path = e.path();
        if let Ok(target) = std::fs::read_link(&path) {
            if let Some(name) = target.file_name() {
                into.insert(name.to_string_lossy().into_owned());
            }
        } else if path.is_dir() {
            collect_link_targets(&path, into);
        }
    }
}

/// `refs/<name>` -> commit, for every ref of a repository folder.
fn refs_of(repo_dir: &Path) -> Vec<(String, String)> {
    let mut refs = Vec::new();
    let root = repo_dir.join("refs");
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.filter_map(|e| e.ok()) {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                let commit = text.trim().to_string();
                if is_commit(&commit)
                    && let Ok(name) = path.strip_prefix(&root)
                {
                    refs.push((name.to_string_lossy().into_owned(), commit));
                }
            }
        }
    }
    refs.sort();
    refs
}

/// A Whisper config's dimensions in words; None when `dir` holds no Whisper config.
fn dims_of(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    let number = |key: &str| v.get(key).and_then(|n| n.as_u64());
    let whisper = v.get("model_type").and_then(|t| t.as_str()) == Some("whisper")
        || number("num_mel_bins").is_some();
    if !whisper {
        return None;
    }
    let show = |key: &str| number(key).map_or("?".to_string(), |n| n.to_string());
    Some(format!(
        "d_model {}, layers {}+{}, {} mels, vocab {}",
        show("d_model"),
        show("encoder_layers"),
        show("decoder_layers"),
        show("num_mel_bins"),
        show("vocab_size")
    ))
}

/// Bytes of the files under `dir`, following symlinks (a snapshot's files are links to blobs).
fn tree_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| {
            let path = e.path();
            match std::fs::metadata(&path) {
                Ok(m) if m.is_dir() => tree_bytes(&path),
                Ok(m) if m.is_file() => m.len(),
                _ => 0,
            }
        })
        .sum()
}
