//! One file downloaded the way a multi-gigabyte model needs: appended to a partial file that an
//! interrupted command resumes on its next run, resumed with an HTTP Range request when the
//! connection drops (a few times), bounded by the announced size, and verified (sha256, or the
//! git blob sha1 of the Hub's small files) before the caller moves it into place. A file that
//! fails verification is deleted.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use sha2::Digest as _;

use super::http::{ATTEMPTS, Client, Failure, Reply, origin_of, redact};
use super::progress::Progress;
use crate::error::{Error, Result};

/// Resumptions of one file after a dropped connection that had made progress.
const MAX_RESUMES: usize = 20;

/// What the finished file must hash to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Digest {
    /// Hex sha256 of the bytes (the Hub's LFS files, PyPI files).
    Sha256(String),
    /// Hex git blob sha1 (`sha1("blob {len}\0" + bytes)`, the Hub's ETag of a small file).
    GitBlobSha1(String),
}

impl Digest {
    /// The digest an ETag names: 64 hex digits are a sha256, 40 a git blob sha1.
    pub fn from_etag(etag: &str) -> Option<Self> {
        let hex = etag.chars().all(|c| c.is_ascii_hexdigit());
        match etag.len() {
            64 if hex => Some(Digest::Sha256(etag.to_ascii_lowercase())),
            40 if hex => Some(Digest::GitBlobSha1(etag.to_ascii_lowercase())),
            _ => None,
        }
    }
}

/// What the download must be.
#[derive(Debug, Clone)]
pub struct Expected {
    pub size: Option<u64>,
    pub digest: Option<Digest>,
}

/// Download `url` into `partial` (continuing what it holds), then verify it against `expected`.
/// `what` names the file in messages; `status_error` turns a 4xx answer into the error to
/// report (its wording depends on the server).
///
/// Kept whole: one retry loop; the attempts, resumptions and last failure are its state, and
/// each answer's meaning (`judge`) and each body (`append_body`) are already steps of their own.
pub fn download(
    client: &Client,
    url: &str,
    partial: &Path,
    expected: &Expected,
    what: &str,
    progress: &dyn Progress,
    status_error: &dyn Fn(&Reply) -> Error,
) -> Result<()> {
    let write_error = |source| Error::WriteOutput {
        path: partial.to_path_buf(),
        source,
    };
    let (mut file, mut have) = open_partial(partial, expected).map_err(write_error)?;
    progress.start(what, expected.size, have);
    let (mut failures, mut resumes) = (0usize, 0usize);
    let mut last_failure = String::new();
    let network = |reason: String| Error::Network {
        endpoint: origin_of(url).to_string(),
        reason,
    };
    while expected.size != Some(have) {
        crate::interrupt::check()?;
        if failures >= ATTEMPTS {
            return Err(network(format!(
                "{what}: {last_failure} (after {ATTEMPTS} attempts)"
            )));
        }
        if failures > 0 {
            std::thread::sleep(client.timeouts.backoff * (1 << (failures - 1).min(4)));
        }
        let reply = match client.send_following("GET", url, Some(have)) {
            Ok(reply) => reply,
            Err(Failure::Fatal(why)) => return Err(network(format!("{what}: {why}"))),
            Err(Failure::Transient(why) | Failure::Unreachable(why)) => {
                last_failure = why;
                failures += 1;
                continue;
            }
        };
        let reply = match judge(reply, partial, &mut file, &mut have, expected, what)? {
            Verdict::Append(reply) => reply,
            Verdict::Retry(why) => {
                failures += 1;
                last_failure = why;
                continue;
            }
            Verdict::Complete => break,
            Verdict::Refused(reply) => return Err(status_error(&reply)),
        };
        let before = have;
        match append_body(reply, &mut file, &mut have, expected.size, progress) {
            Ok(()) if expected.size.is_none_or(|size| have == size) => break,
            Ok(()) => {
                last_failure = format!(
                    "the connection closed after {have} of {} bytes",
                    expected.size.unwrap_or(0)
                );
            }
            Err(BodyError::Write(source)) => return Err(write_error(source)),
            Err(BodyError::Interrupted) => return Err(Error::Interrupted),
            Err(BodyError::TooLong(size)) => {
                drop(file);
                let _ = std::fs::remove_file(partial);
                return Err(Error::fetch(
                    what,
                    format!(
                        "the server sent more than the announced {size} bytes; the partial file is deleted"
                    ),
                ));
            }
            Err(BodyError::Read(why)) => last_failure = why,
        }
        // A drop after progress is resumed at once; one without progress counts as a failure.
        if have > before {
            resumes += 1;
            failures = 0;
            if resumes > MAX_RESUMES {
                return Err(network(format!(
                    "{what}: the connection dropped {resumes} times ({last_failure})"
                )));
            }
            tracing::info!("{what}: {last_failure}; resuming at byte {have}");
        } else {
            failures += 1;
        }
    }
    file.sync_all().map_err(write_error)?;
    drop(file);
    progress.finish();
    verify(partial, expected, what)
}

/// What an answer to a GET from byte `have` on means for the download.
enum Verdict {
    /// Its body continues the partial file (emptied first if it is the whole file).
    Append(Reply),
    /// Try again (the partial file emptied where it could no longer be trusted).
    Retry(String),
    /// Nothing left to send and no size to check against: verification decides.
    Complete,
    /// A client error the caller words.
    Refused(Reply),
}

/// Judge `reply` to a request for the bytes from `have` on, emptying the partial file where the
/// server sends the whole file, a range we did not ask for, or 416 to a resumed range.
fn judge(
    reply: Reply,
    partial: &Path,
    file: &mut File,
    have: &mut u64,
    expected: &Expected,
    what: &str,
) -> Result<Verdict> {
    let write_error = |source| Error::WriteOutput {
        path: partial.to_path_buf(),
        source,
    };
    match reply.status {
        206 if *have > 0 => {
            let range = reply.header("content-range").unwrap_or("");
            if !range.starts_with(&format!("bytes {have}-")) {
                // A range we did not ask for: start over rather than splice it in.
                tracing::info!("{what}: Content-Range `{range}` does not resume at {have}");
                let why = format!("Content-Range `{range}` from {}", redact(&reply.url));
                restart(file, have).map_err(write_error)?;
                return Ok(Verdict::Retry(why));
            }
            Ok(Verdict::Append(reply))
        }
        200 | 206 => {
            if *have > 0 {
                // The server ignored the range: the body is the whole file.
                restart(file, have).map_err(write_error)?;
            }
            Ok(Verdict::Append(reply))
        }
        // Nothing left to send: the partial file is complete or wrong; verification (after
        // the download, or after a restart) decides.
        416 if expected.size.is_none() => Ok(Verdict::Complete),
        416 => {
            restart(file, have).map_err(write_error)?;
            Ok(Verdict::Retry("HTTP 416 for a resumed range".into()))
        }
        429 | 500..=599 => Ok(Verdict::Retry(format!(
            "HTTP {} from {}",
            reply.status,
            redact(&reply.url)
        ))),
        400..=499 => Ok(Verdict::Refused(reply)),
        status => Err(Error::Network {
            endpoint: origin_of(&reply.url).to_string(),
            reason: format!(
                "{what}: unexpected HTTP {status} from {}",
                redact(&reply.url)
            ),
        }),
    }
}

/// The partial file opened for appending and the bytes it holds (none if it holds more than
/// the expected size: it cannot be this file's beginning).
fn open_partial(partial: &Path, expected: &Expected) -> std::io::Result<(File, u64)> {
    let mut file = OpenOptions::new().create(true).append(true).open(partial)?;
    let mut have = file.metadata()?.len();
    if expected.size.is_some_and(|size| have > size) {
        restart(&mut file, &mut have)?;
    }
    Ok((file, have))
}

/// Empty the partial file to start again from byte 0.
fn restart(file: &mut File, have: &mut u64) -> std::io::Result<()> {
    *have = 0;
    file.set_len(0)
}

enum BodyError {
    Read(String),
    Write(std::io::Error),
    TooLong(u64),
    Interrupted,
}

/// Append a response body to `file`, never past `limit` bytes in all.
fn append_body(
    reply: Reply,
    file: &mut File,
    have: &mut u64,
    limit: Option<u64>,
    progress: &dyn Progress,
) -> std::result::Result<(), BodyError> {
    let mut reader = reply.into_reader();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        if crate::interrupt::check().is_err() {
            return Err(BodyError::Interrupted);
        }
        let n = match reader.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(BodyError::Read(e.to_string())),
        };
        if let Some(limit) = limit
            && *have + n as u64 > limit
        {
            return Err(BodyError::TooLong(limit));
        }
        file.write_all(&buffer[..n]).map_err(BodyError::Write)?;
        *have += n as u64;
        progress.set(*have);
    }
}

/// Check a finished file's size and digest; a mismatch deletes it.
pub fn verify(path: &Path, expected: &Expected, what: &str) -> Result<()> {
    let read_error = |source| Error::ReadInput {
        path: path.to_path_buf(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read_error)?.len();
    let mismatch = |reason: String| {
        let _ = std::fs::remove_file(path);
        Err(Error::fetch(
            what,
            format!("{reason}; the downloaded file is deleted"),
        ))
    };
    if let Some(want) = expected.size
        && size != want
    {
        return mismatch(format!("{size} bytes, expected {want}"));
    }
    let Some(digest) = &expected.digest else {
        return Ok(());
    };
    let (kind, got, want) = match digest {
        Digest::Sha256(want) => ("sha256", file_sha256(path)?, want),
        Digest::GitBlobSha1(want) => ("git blob sha1", file_git_sha1(path, size)?, want),
    };
    if &got != want {
        return mismatch(format!("{kind} mismatch: expected {want}, got {got}"));
    }
    Ok(())
}

/// Hex sha256 of a file.
pub fn file_sha256(path: &Path) -> Result<String> {
    let mut hasher = sha2::Sha256::new();
    feed(path, |block| hasher.update(block))?;
    Ok(hex(&hasher.finalize()))
}

/// Hex git blob sha1 of a file of `size` bytes.
fn file_git_sha1(path: &Path, size: u64) -> Result<String> {
    let mut hasher = sha1::Sha1::new();
    hasher.update(format!("blob {size}\0").as_bytes());
    feed(path, |block| hasher.update(block))?;
    Ok(hex(&hasher.finalize()))
}

fn feed(path: &Path, mut consume: impl FnMut(&[u8])) -> Result<()> {
    let read_error = |source| Error::ReadInput {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(read_error)?;
    let mut block = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut block).map_err(read_error)?;
        if n == 0 {
            return Ok(());
        }
        consume(&block[..n]);
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_name_their_digest() {
        let sha = "a".repeat(64);
        assert_eq!(Digest::from_etag(&sha), Some(Digest::Sha256(sha.clone())));
        assert!(matches!(
            Digest::from_etag(&"0".repeat(40)),
            Some(Digest::GitBlobSha1(_))
        ));
        assert_eq!(Digest::from_etag("W/abc"), None);
    }

    #[test]
    fn git_blob_sha1_is_gits() {
        // `printf 'hello\n' | git hash-object --stdin`
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello\n").unwrap();
        assert_eq!(
            file_git_sha1(&p, 6).unwrap(),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        let expected = Expected {
            size: Some(6),
            digest: Some(Digest::GitBlobSha1("0".repeat(40))),
        };
        let e = verify(&p, &expected, "f").unwrap_err();
        assert!(e.to_string().contains("git blob sha1 mismatch"), "{e}");
        assert!(!p.exists(), "a mismatching file is deleted");
    }
}
