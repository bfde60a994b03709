//! Errors as OpenAI's API shapes them (`{"error": {"message", "type", "param", "code"}}`), with
//! the status code a client acts on. Server-side failures are logged in full and answered
//! without their details (they may name files on the server).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::state::{Busy, Panicked};
use crate::{Error, ErrorKind, OptionName};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// OpenAI's `type`: `invalid_request_error`, `server_error`, ...
    pub kind: &'static str,
    pub code: Option<&'static str>,
    pub param: Option<&'static str>,
    pub retry_after_s: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            kind: if status.is_server_error() {
                "server_error"
            } else {
                "invalid_request_error"
            },
            code: None,
            param: None,
            retry_after_s: None,
        }
    }

    /// 400 about one form field.
    pub fn bad_field(param: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            param: Some(param),
            ..ApiError::new(StatusCode::BAD_REQUEST, message)
        }
    }

    pub fn code(mut self, code: &'static str) -> ApiError {
        self.code = Some(code);
        self
    }

    pub fn unauthorized(message: &str) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, message).code("invalid_api_key")
    }

    pub fn shutting_down() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The server is shutting down; retry against another instance or later.",
        )
        .code("shutting_down")
    }

    pub fn loading() -> ApiError {
        ApiError {
            retry_after_s: Some(5),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "The model is still loading.",
            )
            .code("model_loading")
        }
    }

    pub fn unknown_model(name: &str, loaded: &[String]) -> ApiError {
        ApiError {
            param: Some("model"),
            ..ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "The model `{name}` does not exist on this server; it serves: {}.",
                    loaded.join(", ")
                ),
            )
            .code("model_not_found")
        }
    }
}

impl From<Busy> for ApiError {
    fn from(busy: Busy) -> ApiError {
        ApiError {
            retry_after_s: Some(busy.retry_after_s),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "The server is busy (its queue is full); retry after the time in Retry-After.",
            )
            .code("queue_full")
        }
    }
}

impl From<Panicked> for ApiError {
    fn from(panic: Panicked) -> ApiError {
        tracing::error!("a request's job panicked: {}", panic.0);
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal error while processing the request (logged on the server).",
        )
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> ApiError {
        match &error {
            Error::AudioTooLong {
                seconds, limit_s, ..
            } => {
                let message = match seconds {
                    Some(s) => format!(
                        "The audio is {s:.1} s long; this server takes at most {limit_s} s."
                    ),
                    None => {
                        format!("The audio is longer than {limit_s} s, the most this server takes.")
                    }
                };
                return ApiError::bad_field("file", message).code("audio_too_long");
            }
            Error::InvalidOption {
                option,
                value,
                reason,
            } => return invalid_option(*option, value, reason),
            Error::Cancelled => {
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The request was cancelled (the server is shutting down).",
                )
                .code("cancelled");
            }
            _ => {}
        }
        match error.kind() {
            ErrorKind::Usage => ApiError::new(StatusCode::BAD_REQUEST, error.to_string()),
            ErrorKind::InvalidInput => {
                ApiError::new(StatusCode::BAD_REQUEST, error.to_string()).code("invalid_audio")
            }
            ErrorKind::NpuUnavailable | ErrorKind::Interrupted => {
                tracing::error!("{error}");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string())
            }
            _ => {
                tracing::error!("{error}");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal error while processing the request (logged on the server).",
                )
            }
        }
    }
}

impl ApiError {
    /// `{"error": {"message", "type", "param", "code"}}`.
    pub fn json_body(&self) -> String {
        self.json().to_string()
    }

    fn json(&self) -> serde_json::Value {
        json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }})
    }
}

/// A decoding option the model refused, worded for the form field that set it.
fn invalid_option(option: OptionName, value: &str, reason: &str) -> ApiError {
    let (param, message) = match option {
        OptionName::Task => ("model", format!("Translation is not possible: {reason}.")),
        OptionName::Language => ("language", format!("language `{value}`: {reason}.")),
        OptionName::InitialPrompt => ("prompt", format!("prompt: {reason}.")),
        OptionName::Temperature => ("temperature", format!("temperature `{value}`: {reason}.")),
        OptionName::WordTimestamps => (
            "timestamp_granularities",
            format!("word timestamps: {reason}."),
        ),
        other => {
            // Not a form field: the server's own decoding settings.
            tracing::error!(
                "a server decoding setting was refused: {} {value}: {reason}",
                other.name()
            );
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error while processing the request (logged on the server).",
            );
        }
    };
    ApiError::bad_field(param, message).code("invalid_value")
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.json())).into_response();
        if let Some(seconds) = self.retry_after_s {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
