//! The Hugging Face Hub protocol, as huggingface_hub speaks it: the revision's commit and file
//! list from `GET /api/models/REPO/revision/REV`, each file's metadata from a `HEAD` on
//! `/REPO/resolve/COMMIT/FILE` (small files answer 200 with their git ETag; LFS files 302 to a
//! CDN with `X-Linked-Etag` = sha256 and `X-Linked-Size`), and the bytes from the CDN.

use std::path::PathBuf;

use serde::Deserialize;

use super::download::{Digest, Expected, download};
use super::hf_cache::{HubCache, is_commit};
use super::http::{Client, Failure, Reply, join_url, origin_of};
use super::lock::Lock;
use super::progress::{Progress, human_bytes};
use super::{Needs, Settings};
use crate::error::{Error, Result};
use crate::model::tensor_file::SHARD_INDEX;

/// Largest API answer read (a repository's file list).
const API_LIMIT: u64 = 16 << 20;

/// A repository at a revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoRef {
    /// `org/name`.
    pub repo: String,
    /// A branch, tag or commit (`main` by default).
    pub revision: String,
}

impl std::fmt::Display for RepoRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.revision == "main" {
            write!(f, "{}", self.repo)
        } else {
            write!(f, "{}@{}", self.repo, self.revision)
        }
    }
}

/// One file to fetch and where its bytes will be.
struct Planned {
    file: String,
    etag: String,
    size: Option<u64>,
    /// The URL that serves the bytes (the CDN location for LFS files).
    url: String,
}

/// Fetch `target`'s model files into the Hub cache; the snapshot directory.
///
/// Kept whole: one transaction in order (resolve the revision, plan the files with the shard index
/// first and config.json last, download every blob, then link the snapshot and write the ref), each
/// step using the one before.
pub fn fetch(
    settings: &Settings,
    target: &RepoRef,
    needs: Needs,
    progress: &dyn Progress,
) -> Result<PathBuf> {
    let client = Client::new(settings.timeouts).with_token(&settings.endpoint, settings.token());
    let cache = &settings.hub_cache;
    let info = revision_info(&client, settings, target)?;
    let commit = info.sha.clone();
    let files: Vec<&str> = info.siblings.iter().map(|s| s.rfilename.as_str()).collect();
    let has = |f: &str| files.contains(&f);
    if !has("config.json") {
        return Err(Error::fetch(
            target.to_string(),
            "no config.json: not a model in the Hugging Face layout",
        ));
    }
    let mut wanted: Vec<String> = Vec::new();
    for optional in ["tokenizer.json", "generation_config.json"] {
        if has(optional) {
            wanted.push(optional.to_string());
        } else if needs == Needs::Transcription {
            return Err(Error::fetch(
                target.to_string(),
                format!(
                    "no {optional}: transcription needs it (the repository has {})",
                    files.join(", ")
                ),
            ));
        }
    }
    let mut plan: Vec<Planned> = Vec::new();
    if has("model.safetensors") {
        plan.push(plan_file(
            &client,
            settings,
            target,
            &commit,
            "model.safetensors",
        )?);
    } else if has(SHARD_INDEX) {
        // The index names the shards: fetch it first.
        let index = plan_file(&client, settings, target, &commit, SHARD_INDEX)?;
        fetch_blob(&client, cache, &target.repo, &index, progress)?;
        let text = std::fs::read_to_string(cache.blob_path(&target.repo, &index.etag)).map_err(
            |source| Error::ReadInput {
                path: cache.blob_path(&target.repo, &index.etag),
                source,
            },
        )?;
        for shard in shard_names(&text)
            .map_err(|why| Error::fetch(format!("{target}: {SHARD_INDEX}"), why))?
        {
            if !has(&shard) {
                return Err(Error::fetch(
                    target.to_string(),
                    format!("{SHARD_INDEX} names `{shard}`, which the repository does not have"),
                ));
            }
            plan.push(plan_file(&client, settings, target, &commit, &shard)?);
        }
        plan.push(index);
    } else {
        return Err(Error::fetch(
            target.to_string(),
            format!(
                "no safetensors weights (model.safetensors or {SHARD_INDEX}); the repository has {}: npu-whisper reads safetensors only",
                files.join(", ")
            ),
        ));
    }
    for file in &wanted {
        plan.push(plan_file(&client, settings, target, &commit, file)?);
    }
    plan.push(plan_file(
        &client,
        settings,
        target,
        &commit,
        "config.json",
    )?);
    let total: u64 = plan.iter().filter_map(|p| p.size).sum();
    progress.note(&format!(
        "fetching {target} (commit {}, {} files, {}) from {}",
        &commit[..12],
        plan.len(),
        human_bytes(total),
        settings.endpoint
    ));
    for planned in &plan {
        fetch_blob(&client, cache, &target.repo, planned, progress)?;
    }
    // Link only once every blob is in: config.json (which makes the snapshot look like a model)
    // comes last in the plan, the ref after it.
    for planned in &plan {
        cache.link(&target.repo, &commit, &planned.file, &planned.etag)?;
    }
    cache.write_ref(&target.repo, &target.revision, &commit)?;
    Ok(cache.snapshot_dir(&target.repo, &commit))
}

#[derive(Deserialize)]
struct RevisionInfo {
    sha: String,
    #[serde(default)]
    siblings: Vec<Sibling>,
}

#[derive(Deserialize)]
struct Sibling {
    rfilename: String,
}

/// The revision's commit and file list.
fn revision_info(client: &Client, settings: &Settings, target: &RepoRef) -> Result<RevisionInfo> {
    let url = format!(
        "{}/api/models/{}/revision/{}",
        settings.endpoint,
        target.repo,
        encode_path(&target.revision, false)
    );
    let reply = client.send_retrying("GET", &url)?;
    if reply.status != 200 {
        return Err(status_error(settings, target, None, &reply));
    }
    let text = reply.text(API_LIMIT).map_err(|e| Error::Network {
        endpoint: settings.endpoint.clone(),
        reason: format!("reading the answer for {target}: {e}"),
    })?;
    let info: RevisionInfo = serde_json::from_str(&text).map_err(|e| {
        Error::fetch(
            target.to_string(),
            format!("the Hub's revision answer is not what huggingface_hub expects: {e}"),
        )
    })?;
    if !is_commit(&info.sha) {
        return Err(Error::fetch(
            target.to_string(),
            format!(
                "the Hub answered commit `{}`, not a 40-digit commit id",
                info.sha
            ),
        ));
    }
    Ok(info)
}

/// HEAD the file at the commit: its ETag, size and where its bytes are.
fn plan_file(
    client: &Client,
    settings: &Settings,
    target: &RepoRef,
    commit: &str,
    file: &str,
) -> Result<Planned> {
    let url = format!(
        "{}/{}/resolve/{commit}/{}",
        settings.endpoint,
        target.repo,
        encode_path(file, true)
    );
    let reply = head_retrying(client, &url)?;
    let redirected = matches!(reply.status, 301 | 302 | 303 | 307 | 308);
    if !(reply.status == 200 || redirected) {
        return Err(status_error(settings, target, Some(file), &reply));
    }
    let unquote = |v: &str| {
        v.trim()
            .trim_start_matches("W/")
            .trim_matches('"')
            .to_string()
    };
    let etag = reply
        .header("x-linked-etag")
        .or_else(|| reply.header("etag"))
        .map(unquote)
        // It names a file in blobs/: nothing but a plain token.
        .filter(|e| {
            (1..=128).contains(&e.len())
                && e.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .ok_or_else(|| {
            Error::fetch(
                format!("{target}: {file}"),
                "the Hub sent no usable ETag, so the file cannot be verified or cached",
            )
        })?;
    if let Some(answered) = reply.header("x-repo-commit")
        && answered != commit
    {
        return Err(Error::fetch(
            format!("{target}: {file}"),
            format!("asked for commit {commit}, the Hub answered {answered}"),
        ));
    }
    let size = reply
        .header("x-linked-size")
        .or_else(|| {
            if redirected {
                None
            } else {
                reply.header("content-length")
            }
        })
        .and_then(|s| s.trim().parse::<u64>().ok());
    let location = if redirected {
        reply.header("location").map(|l| join_url(&reply.url, l))
    } else {
        None
    };
    Ok(Planned {
        file: file.to_string(),
        etag,
        size,
        url: location.unwrap_or(url),
    })
}

/// A HEAD with retries for transient failures and 5xx (a redirect is an answer).
fn head_retrying(client: &Client, url: &str) -> Result<Reply> {
    let mut last = String::new();
    for attempt in 0..super::http::ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(client.timeouts.backoff * (1 << (attempt - 1)));
        }
        match client.send("HEAD", url, None) {
            Ok(reply) if reply.status == 429 || reply.status >= 500 => {
                last = format!("HTTP {}", reply.status);
            }
            Ok(reply) => return Ok(reply),
            Err(Failure::Transient(why)) => last = why,
            Err(Failure::Unreachable(why) | Failure::Fatal(why)) => {
                return Err(Error::Network {
                    endpoint: origin_of(url).to_string(),
                    reason: why,
                });
            }
        }
    }
    Err(Error::Network {
        endpoint: origin_of(url).to_string(),
        reason: format!("{last} (after {} attempts)", super::http::ATTEMPTS),
    })
}

/// Download one planned file into `blobs/<etag>` unless it is there, under the blob's lock.
fn fetch_blob(
    client: &Client,
    cache: &HubCache,
    repo: &str,
    planned: &Planned,
    progress: &dyn Progress,
) -> Result<()> {
    let blob = cache.blob_path(repo, &planned.etag);
    if blob.is_file() {
        return Ok(());
    }
    let _lock = Lock::acquire(&cache.lock_path(repo, &planned.etag), progress)?;
    if blob.is_file() {
        // Another process finished it while we waited.
        return Ok(());
    }
    let partial = blob.with_file_name(format!("{}.incomplete", planned.etag));
    if let Some(blobs) = blob.parent() {
        std::fs::create_dir_all(blobs).map_err(|source| Error::WriteOutput {
            path: blobs.to_path_buf(),
            source,
        })?;
    }
    let expected = Expected {
        size: planned.size,
        digest: Digest::from_etag(&planned.etag),
    };
    let what = format!("{repo}: {}", planned.file);
    let status_error = |reply: &Reply| {
        Error::fetch(
            what.clone(),
            format!(
                "HTTP {} from the download URL {}",
                reply.status,
                super::http::redact(&reply.url)
            ),
        )
    };
    download(
        client,
        &planned.url,
        &partial,
        &expected,
        &what,
        progress,
        &status_error,
    )?;
    std::fs::rename(&partial, &blob).map_err(|source| Error::WriteOutput {
        path: blob.clone(),
        source,
    })
}

/// The shard file names a `model.safetensors.index.json` lists.
fn shard_names(text: &str) -> std::result::Result<Vec<String>, String> {
    #[derive(Deserialize)]
    struct Index {
        weight_map: std::collections::BTreeMap<String, String>,
    }
    let index: Index = serde_json::from_str(text).map_err(|e| format!("not a shard index: {e}"))?;
    let mut shards: Vec<String> = index.weight_map.into_values().collect();
    shards.sort();
    shards.dedup();
    if let Some(bad) = shards
        .iter()
        .find(|s| s.contains('/') || s.contains("..") || !s.ends_with(".safetensors"))
    {
        return Err(format!(
            "shard `{bad}` is not a .safetensors file beside the index"
        ));
    }
    Ok(shards)
}

/// The error for a 4xx answer, in the words huggingface_hub users know.
fn status_error(settings: &Settings, target: &RepoRef, file: Option<&str>, reply: &Reply) -> Error {
    let code = reply.header("x-error-code").unwrap_or("");
    let page = format!("{}/{}", settings.endpoint, target.repo);
    let what = match file {
        Some(f) => format!("{target}: {f}"),
        None => target.to_string(),
    };
    let has_token = settings.token().is_some();
    let reason = match (reply.status, code) {
        (401 | 403, "GatedRepo") => format!(
            "gated: accept the licence on the model page {page} (with the account of your HF_TOKEN)"
        ),
        (401, _) if has_token => {
            "the Hub refused HF_TOKEN (HTTP 401): it is invalid or has no access to this repository"
                .into()
        }
        (401, _) => format!(
            "needs HF_TOKEN: the Hub answered 401 (a private or gated repository, or none of that name): set HF_TOKEN to a token with access to {page}"
        ),
        (403, _) => format!(
            "access denied (HTTP 403): needs HF_TOKEN with access to {page}, or the licence accepted there"
        ),
        (404, "EntryNotFound") => "no such file in the repository (HTTP 404)".into(),
        (404, "RevisionNotFound") => format!("no such revision `{}` (HTTP 404)", target.revision),
        (404, _) => format!("no such model/file on {} (HTTP 404)", settings.endpoint),
        (status, _) => format!("HTTP {status} from {}", super::http::redact(&reply.url)),
    };
    Error::fetch(what, reason)
}

/// Percent-encode the characters URLs reserve (`/` too unless `keep_slash`: a revision such
/// as `refs/pr/1` is one path segment of the API's URL, as huggingface_hub quotes it).
fn encode_path(path: &str, keep_slash: bool) -> String {
    let mut out = String::new();
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_indexes_are_read_and_hostile_ones_refused() {
        let ok = r#"{"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors", "c": "model-00001-of-00002.safetensors"}}"#;
        assert_eq!(
            shard_names(ok).unwrap(),
            vec![
                "model-00001-of-00002.safetensors",
                "model-00002-of-00002.safetensors"
            ]
        );
        let bad = r#"{"weight_map": {"a": "../../etc/passwd.safetensors"}}"#;
        assert!(shard_names(bad).is_err());
        assert!(shard_names("[]").is_err());
    }

    #[test]
    fn revisions_are_encoded() {
        assert_eq!(encode_path("refs/pr/1", false), "refs%2Fpr%2F1");
        assert_eq!(
            encode_path("sub/model.safetensors", true),
            "sub/model.safetensors"
        );
        assert_eq!(encode_path("v 1?", true), "v%201%3F");
    }
}
