//! `POST /v1/audio/embeddings` (ours, not OpenAI's): multipart `file`, `model`, `format`
//! (`npy`, `safetensors` or `json`) and `trim`; the encoder's output as `encode` writes it, with
//! the placement summary in `X-Npu-Whisper-Placement` (and in the JSON and safetensors
//! metadata).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::errors::ApiError;
use super::form;
use super::openai::{AudioSeconds, decode_upload, loaded_model, not_multipart};
use super::state::Service;
use crate::Embeddings;
use crate::tools::export;

/// Longest recording this route encodes (or --max-audio-s when lower). The response is built in
/// memory: 600 s is 20 windows, 154 MB of float32 for large-v3 (3x that as JSON text).
const MAX_EMBEDDINGS_S: f64 = 600.0;

#[derive(Clone, Copy)]
enum Format {
    Npy,
    Safetensors,
    Json,
}

/// What the response says about the embeddings besides their values.
struct Described<'a> {
    model: &'a str,
    duration: f64,
    windows: usize,
    trim: bool,
    placement: &'a str,
}

/// The response body in `format`, and its content type.
fn body(
    format: Format,
    shape: &[usize],
    values: &[f32],
    described: &Described,
) -> (&'static str, Vec<u8>) {
    match format {
        Format::Npy => {
            let mut body = export::npy_header(shape);
            export::write_f32(&mut body, values).expect("writing to memory");
            ("application/octet-stream", body)
        }
        Format::Safetensors => {
            let metadata: HashMap<String, String> = [
                (
                    "producer",
                    format!("npu-whisper {}", env!("CARGO_PKG_VERSION")),
                ),
                ("model", described.model.to_string()),
                ("duration_s", format!("{:.6}", described.duration)),
                ("windows", described.windows.to_string()),
                ("trimmed", described.trim.to_string()),
                ("placement", described.placement.to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            let mut body = export::safetensors_header("embeddings", shape, &metadata);
            export::write_f32(&mut body, values).expect("writing to memory");
            ("application/octet-stream", body)
        }
        Format::Json => {
            let doc = json!({
                "model": described.model,
                "shape": shape,
                "duration_s": described.duration,
                "trimmed": described.trim,
                "placement": described.placement,
                "embeddings": values,
            });
            ("application/json", doc.to_string().into_bytes())
        }
    }
}

pub async fn embeddings(
    State(service): State<Arc<Service>>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let multipart = multipart.map_err(not_multipart)?;
    let mut form = form::read(multipart, &service.limits).await?;
    let upload = form.take_file()?;
    let loaded = loaded_model(&service, form.get("model"))?;
    let format = match form.get("format").unwrap_or("npy") {
        "npy" => Format::Npy,
        "safetensors" => Format::Safetensors,
        "json" => Format::Json,
        _ => {
            return Err(ApiError::bad_field(
                "format",
                "format must be npy, safetensors or json.",
            ));
        }
    };
    let trim = match form.get("trim").unwrap_or("false") {
        "true" | "1" => true,
        "false" | "0" => false,
        _ => return Err(ApiError::bad_field("trim", "trim must be true or false.")),
    };
    let encoder = loaded.encoder.clone();
    let max_audio_s = service.limits.max_audio_s.min(MAX_EMBEDDINGS_S);
    // A place in the queue only now that the upload is whole and the form checked.
    let admission = service.pool.admit()?;
    let (embeddings, duration) = admission
        .run(
            service.request_token(),
            move |cancel| -> Result<(Embeddings, f64), ApiError> {
                let audio = decode_upload(upload, max_audio_s)?;
                Ok((
                    encoder.encode_cancellable(&audio.samples, &cancel)?,
                    audio.duration_secs(),
                ))
            },
        )
        .await??;
    service
        .metrics
        .record_work("/v1/audio/embeddings", duration, embeddings.ledger());

    let placement = embeddings.placement();
    let view = if trim {
        embeddings.trimmed().into_dyn()
    } else {
        embeddings.view().into_dyn()
    };
    let shape = view.shape().to_vec();
    let values = view.to_slice().expect("standard layout");
    let described = Described {
        model: &loaded.name,
        duration,
        windows: embeddings.windows(),
        trim,
        placement: &placement,
    };
    let (content_type, body) = body(format, &shape, values, &described);
    let mut response = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    if let Ok(value) = HeaderValue::from_str(&placement) {
        response
            .headers_mut()
            .insert("x-npu-whisper-placement", value);
    }
    response.headers_mut().insert(
        "x-npu-whisper-shape",
        HeaderValue::from_str(&format!("{shape:?}")).expect("ascii"),
    );
    response.extensions_mut().insert(AudioSeconds(duration));
    Ok(response)
}
