//! Multipart forms (OpenAI's audio endpoints and ours) read under the limits: the upload's
//! size is enforced by the body-limit layer while it streams, here the part count, each
//! field's size, text that must be UTF-8, and a deadline for the whole upload.

use axum::extract::Multipart;
use axum::extract::multipart::MultipartError;
use axum::http::StatusCode;

use super::errors::ApiError;
use super::limits::Limits;

/// The uploaded audio: its bytes and a display name (the client's file name, reduced to its
/// last component; never used to open anything).
pub struct Upload {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// A form's fields: the file, and the text fields in the order sent.
#[derive(Default)]
pub struct Form {
    pub file: Option<Upload>,
    fields: Vec<(String, String)>,
}

impl Form {
    /// The last value sent for `name` (repeated fields: the last one counts).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value sent for `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.fields
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The file, or 400 naming the field.
    pub fn take_file(&mut self) -> Result<Upload, ApiError> {
        self.file
            .take()
            .ok_or_else(|| ApiError::bad_field("file", "The form has no `file` part (the audio)."))
    }
}

/// Read the whole form within `limits.client_timeout`.
pub async fn read(multipart: Multipart, limits: &Limits) -> Result<Form, ApiError> {
    match tokio::time::timeout(limits.client_timeout, read_parts(multipart, limits)).await {
        Ok(form) => form,
        Err(_) => Err(too_slow(limits)),
    }
}

fn too_slow(limits: &Limits) -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        format!(
            "The upload did not arrive whole within {} s, this server's limit; send it again, over a faster link.",
            limits.client_timeout.as_secs()
        ),
    )
    .code("upload_timeout")
}

async fn read_parts(mut multipart: Multipart, limits: &Limits) -> Result<Form, ApiError> {
    let mut form = Form::default();
    let mut parts = 0;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| unreadable(e, limits))?
    {
        parts += 1;
        if parts > limits.max_parts {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("The form has more than {} parts.", limits.max_parts),
            ));
        }
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            if form.file.is_some() {
                return Err(ApiError::bad_field(
                    "file",
                    "The form has more than one `file`.",
                ));
            }
            let display = display_name(field.file_name());
            let mut bytes = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(|e| unreadable(e, limits))? {
                bytes.extend_from_slice(&chunk);
            }
            form.file = Some(Upload {
                name: display,
                bytes,
            });
            continue;
        }
        let mut value = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|e| unreadable(e, limits))? {
            if value.len() + chunk.len() > limits.max_field_bytes {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "The form field `{}` is longer than {} bytes.",
                        printable(&name),
                        limits.max_field_bytes
                    ),
                ));
            }
            value.extend_from_slice(&chunk);
        }
        let value = String::from_utf8(value).map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("The form field `{}` is not UTF-8 text.", printable(&name)),
            )
        })?;
        form.fields.push((name, value));
    }
    Ok(form)
}

/// A multipart failure as the client should see it: 413 past the size limit, 400 for a
/// malformed form (a stalled body is the deadline's, 408).
fn unreadable(error: MultipartError, limits: &Limits) -> ApiError {
    match error.status() {
        StatusCode::PAYLOAD_TOO_LARGE => too_large(limits),
        _ => ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("The multipart form cannot be read: {}.", error.body_text()),
        ),
    }
}

/// 413: the body crossed --max-upload-mb.
fn too_large(limits: &Limits) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "The request body is larger than this server accepts ({} MB).",
            limits.max_upload_bytes / 1_000_000
        ),
    )
    .code("upload_too_large")
}

/// The last path component of a client's file name, printable, at most 100 characters.
fn display_name(file_name: Option<&str>) -> String {
    let name = file_name
        .and_then(|n| n.rsplit(['/', '\\']).next())
        .filter(|n| !n.is_empty())
        .unwrap_or("upload");
    printable(name)
}

fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(100).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_file_name_is_only_ever_a_short_printable_last_component() {
        assert_eq!(display_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(display_name(Some("C:\\x\\talk.wav")), "talk.wav");
        assert_eq!(display_name(Some("dir/")), "upload");
        assert_eq!(display_name(None), "upload");
        assert_eq!(display_name(Some("a\u{7}b\nc.wav")), "abc.wav");
        assert_eq!(display_name(Some(&"x".repeat(500))).len(), 100);
    }
}
