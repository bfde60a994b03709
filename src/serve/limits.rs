//! What a request may cost: upload size, audio length, form parts and field sizes, how long a
//! client may take; and who may ask at all (the API key).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::errors::ApiError;
use super::state::Service;
use crate::{Error, Result};

/// Per-request limits (from the command line).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Whole request body, bytes.
    pub max_upload_bytes: u64,
    /// Longest recording after decoding, seconds.
    pub max_audio_s: f64,
    /// Headers must arrive, and the body may pause, no longer than this.
    pub client_timeout: Duration,
    /// The whole upload must arrive within this.
    pub upload_deadline: Duration,
    /// Form parts in one request (OpenAI's form has nine fields; room for a few more).
    pub max_parts: usize,
    /// Bytes in one form field other than the file (a prompt is at most 224 tokens).
    pub max_field_bytes: usize,
    /// Bytes of a Wyoming event's JSON header line or data block.
    pub max_event_json_bytes: usize,
    /// Bytes of one Wyoming event's payload (an audio chunk).
    pub max_event_payload_bytes: usize,
}

impl Limits {
    pub fn new(max_upload_mb: u64, max_audio_s: f64, client_timeout_s: u64) -> Result<Limits> {
        if max_upload_mb == 0 || max_audio_s.is_nan() || max_audio_s <= 0.0 || client_timeout_s == 0
        {
            return Err(Error::Usage(
                "--max-upload-mb, --max-audio-s and --client-timeout-s must be above 0".into(),
            ));
        }
        Ok(Limits {
            max_upload_bytes: max_upload_mb.saturating_mul(1_000_000),
            max_audio_s,
            client_timeout: Duration::from_secs(client_timeout_s),
            upload_deadline: Duration::from_secs(client_timeout_s.saturating_mul(10)),
            max_parts: 32,
            max_field_bytes: 64 * 1024,
            max_event_json_bytes: 64 * 1024,
            max_event_payload_bytes: 4 << 20,
        })
    }
}

/// The API key, kept as its SHA-256 so that comparing takes the same time whatever the guess
/// (equal-length digests compared without an early exit) and the key itself is never in a log
/// or a debug print.
pub struct ApiKey {
    digest: [u8; 32],
}

impl ApiKey {
    /// Read the key file; surrounding whitespace (a trailing newline) is not part of the key.
    pub fn read(path: &Path) -> Result<ApiKey> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadInput {
            path: path.to_path_buf(),
            source,
        })?;
        let key = text.trim();
        if key.is_empty() {
            return Err(Error::Usage(format!(
                "--api-key-file {}: the file is empty",
                path.display()
            )));
        }
        Ok(ApiKey {
            digest: Sha256::digest(key.as_bytes()).into(),
        })
    }

    /// Whether `presented` is the key, in time independent of where it differs.
    pub fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let difference = digest
            .iter()
            .zip(&self.digest)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(difference) == 0
    }
}

/// Middleware: with a key configured, `Authorization: Bearer <key>` or 401 (OpenAI's
/// `invalid_api_key`); what was sent is never logged.
pub async fn require_key(
    State(service): State<Arc<Service>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(key) = &service.key else {
        return next.run(request).await;
    };
    let presented = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(presented) if key.matches(presented) => next.run(request).await,
        Some(_) => ApiError::unauthorized("Incorrect API key provided.").into_response(),
        None => {
            ApiError::unauthorized("No API key provided: send it as `Authorization: Bearer KEY`.")
                .into_response()
        }
    }
}

/// Middleware: once draining, new requests get 503; accepted ones are counted until answered.
pub async fn admit_unless_draining(
    State(service): State<Arc<Service>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(accepted) = service.accept() else {
        return ApiError::shutting_down().into_response();
    };
    let response = next.run(request).await;
    drop(accepted);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_is_trimmed_and_only_the_key_matches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "  s3cret-key\n").unwrap();
        let key = ApiKey::read(&path).unwrap();
        assert!(key.matches("s3cret-key"));
        for wrong in ["", "s3cret-ke", "s3cret-key ", "S3cret-key", "s3cret-keyy"] {
            assert!(!key.matches(wrong), "{wrong:?}");
        }
        std::fs::write(&path, " \n").unwrap();
        let empty = ApiKey::read(&path).err().unwrap();
        assert!(empty.to_string().contains("empty"), "{empty}");
    }
}
