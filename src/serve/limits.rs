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
    /// Headers must arrive, and the whole upload, within this; a Wyoming client may be silent
    /// no longer, and its audio fall behind real time by no more.
    pub client_timeout: Duration,
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
        .and_then(bearer_token);
    match presented {
        Some(presented) if key.matches(presented) => next.run(request).await,
        Some(_) => ApiError::unauthorized("Incorrect API key provided.").into_response(),
        None => {
            ApiError::unauthorized("No API key provided: send it as `Authorization: Bearer KEY`.")
                .into_response()
        }
    }
}

/// The token of `Authorization: Bearer TOKEN` (the scheme is case-insensitive, RFC 9110 11.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Middleware: a request that sends a body must say how long it is (Content-Length or chunked
/// transfer encoding), else 411; without either, HTTP/1.1 reads it as empty.
pub async fn require_body_length(request: Request, next: Next) -> Response {
    let headers = request.headers();
    let framed = headers.contains_key(axum::http::header::CONTENT_LENGTH)
        || headers.contains_key(axum::http::header::TRANSFER_ENCODING);
    if request.method() == axum::http::Method::POST && !framed {
        return axum::http::StatusCode::LENGTH_REQUIRED.into_response();
    }
    next.run(request).await
}

/// Middleware: once draining, new requests get 503; accepted ones are counted until their
/// answer has been sent whole (a streamed answer too), so a shutdown waits for them.
pub async fn admit_unless_draining(
    State(service): State<Arc<Service>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(accepted) = service.accept() else {
        return ApiError::shutting_down().into_response();
    };
    let response = next.run(request).await;
    response.map(|body| {
        axum::body::Body::new(HeldBy {
            body,
            _held: accepted,
        })
    })
}

/// A response body that keeps `_held` until it has been sent (or dropped).
struct HeldBy<G> {
    body: axum::body::Body,
    _held: G,
}

impl<G: Send + Unpin + 'static> hyper::body::Body for HeldBy<G> {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
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
        for (header, token) in [
            ("Bearer s3cret-key", Some("s3cret-key")),
            ("bearer s3cret-key", Some("s3cret-key")),
            ("BEARER  s3cret-key ", Some("s3cret-key")),
            ("Basic s3cret-key", None),
            ("s3cret-key", None),
        ] {
            assert_eq!(bearer_token(header), token, "{header}");
        }
        std::fs::write(&path, " \n").unwrap();
        let empty = ApiKey::read(&path).err().unwrap();
        assert!(empty.to_string().contains("empty"), "{empty}");
    }
}
