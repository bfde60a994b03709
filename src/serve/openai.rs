//! OpenAI's audio API: `POST /v1/audio/transcriptions` and `/v1/audio/translations`
//! (multipart: `file`, `model`, `language`, `prompt`, `response_format`, `temperature`,
//! `timestamp_granularities[]`), `GET /v1/models`. A request becomes the library calls
//! `transcribe` makes, with the server's decoding defaults (those of `transcribe`) and the
//! request's overrides.

use std::path::Path;
use std::sync::Arc;

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::errors::ApiError;
use super::form::{self, Form};
use super::state::{Admission, CancelOnDrop, Loaded, Service};
use super::stream;
use crate::{CancelToken, CueLayout, Task, TranscribeHooks, Transcript, audio};

/// Seconds of audio a response carried, for the request log line.
#[derive(Clone, Copy)]
pub struct AudioSeconds(pub f64);

pub async fn transcriptions(
    State(service): State<Arc<Service>>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    transcribe(service, multipart, Task::Transcribe).await
}

pub async fn translations(
    State(service): State<Arc<Service>>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    transcribe(service, multipart, Task::Translate).await
}

#[derive(Clone, Copy, PartialEq)]
enum ResponseFormat {
    Json,
    Text,
    Srt,
    VerboseJson,
    Vtt,
}

impl ResponseFormat {
    fn parse(value: Option<&str>) -> Result<ResponseFormat, ApiError> {
        Ok(match value.unwrap_or("json") {
            "json" => ResponseFormat::Json,
            "text" => ResponseFormat::Text,
            "srt" => ResponseFormat::Srt,
            "verbose_json" => ResponseFormat::VerboseJson,
            "vtt" => ResponseFormat::Vtt,
            other => {
                return Err(ApiError::bad_field(
                    "response_format",
                    format!(
                        "response_format `{}` is not one of json, text, srt, verbose_json, vtt.",
                        other.chars().take(40).collect::<String>()
                    ),
                ));
            }
        })
    }
}

/// The requested `timestamp_granularities[]`: (segments, words).
fn granularities(form: &Form, format: ResponseFormat) -> Result<(bool, bool), ApiError> {
    let asked: Vec<&str> = form
        .all("timestamp_granularities[]")
        .into_iter()
        .chain(form.all("timestamp_granularities"))
        .collect();
    if asked.is_empty() {
        return Ok((true, false));
    }
    if format != ResponseFormat::VerboseJson {
        return Err(ApiError::bad_field(
            "timestamp_granularities",
            "timestamp_granularities needs response_format verbose_json.",
        ));
    }
    let (mut segments, mut words) = (false, false);
    for value in asked {
        match value {
            "segment" => segments = true,
            "word" => words = true,
            _ => {
                return Err(ApiError::bad_field(
                    "timestamp_granularities",
                    "timestamp_granularities[] takes `word` and `segment`.",
                ));
            }
        }
    }
    Ok((segments, words))
}

/// The model a form names, once the service is ready.
pub fn loaded_model<'s>(service: &'s Service, name: Option<&str>) -> Result<&'s Loaded, ApiError> {
    let Some(models) = service.models.get() else {
        return Err(ApiError::loading());
    };
    service.model(name).ok_or_else(|| {
        let names: Vec<String> = models.iter().map(|m| m.name.clone()).collect();
        ApiError::unknown_model(name.unwrap_or_default(), &names)
    })
}

/// Decode an upload to 16 kHz mono, at most `limit` seconds of it; 400 when it is unreadable
/// or longer.
pub fn decode_upload(upload: form::Upload, limit: f64) -> Result<audio::Audio, ApiError> {
    let limits = audio::AudioLimits::max_seconds_of(limit);
    Ok(audio::decode_bytes(
        upload.bytes,
        Path::new(&upload.name),
        &limits,
    )?)
}

/// The multipart extractor's refusal (not a multipart body) as OpenAI's 400.
pub fn not_multipart(rejection: MultipartRejection) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        format!(
            "Expected a multipart/form-data body: {}.",
            rejection.body_text()
        ),
    )
}

/// Kept whole: the route in the order of the request (form, options, admission, transcription, the
/// response in the asked format), as OpenAI documents the endpoint.
async fn transcribe(
    service: Arc<Service>,
    multipart: Result<Multipart, MultipartRejection>,
    task: Task,
) -> Result<Response, ApiError> {
    // The whole upload first (within --client-timeout-s), then the checks a form needs no
    // model time for; only then a place in the queue: a slow client holds no place.
    let multipart = multipart.map_err(not_multipart)?;
    let mut form = form::read(multipart, &service.limits).await?;
    let upload = form.take_file()?;
    let loaded = loaded_model(&service, form.get("model"))?;
    let transcriber = loaded.transcriber.clone().ok_or_else(|| {
        ApiError::bad_field(
            "model",
            format!(
                "The model `{}` has no tokenizer here: it serves embeddings only.",
                loaded.name
            ),
        )
    })?;
    let format = ResponseFormat::parse(form.get("response_format"))?;
    let (segment_times, word_times) = granularities(&form, format)?;
    let stream = match form.get("stream").map(str::trim) {
        None | Some("") | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::bad_field(
                "stream",
                "stream must be true or false.",
            ));
        }
    };
    if stream && !matches!(format, ResponseFormat::Json | ResponseFormat::Text) {
        return Err(ApiError::bad_field(
            "stream",
            "stream needs response_format json or text (the events carry text only).",
        ));
    }
    let transcriber =
        transcriber.with_decoding(decoding_of(&form, &transcriber, task, word_times)?)?;
    let admission = service.pool.admit()?;
    let max_audio_s = service.limits.max_audio_s;
    let token = service.request_token();
    let route = match task {
        Task::Transcribe => "/v1/audio/transcriptions",
        Task::Translate => "/v1/audio/translations",
    };
    if stream {
        return streamed(
            service.clone(),
            admission,
            token,
            upload,
            transcriber,
            route,
        )
        .await;
    }
    let (transcript, duration) = admission
        .run(
            token,
            move |cancel| -> Result<(Transcript, f64), ApiError> {
                let audio = decode_upload(upload, max_audio_s)?;
                let hooks = TranscribeHooks::default().cancel(cancel);
                Ok((
                    transcriber.transcribe_with(&audio.samples, hooks)?,
                    audio.duration_secs(),
                ))
            },
        )
        .await??;
    service
        .metrics
        .record_work(route, duration, &transcript.ledger);

    let text = transcript.text().trim().to_string();
    let mut response = match format {
        ResponseFormat::Json => Json(json!({ "text": text })).into_response(),
        ResponseFormat::Text => plain("text/plain; charset=utf-8", format!("{text}\n")),
        ResponseFormat::Srt => plain(
            "text/plain; charset=utf-8",
            transcript.to_srt(&CueLayout::default()),
        ),
        ResponseFormat::Vtt => plain(
            "text/vtt; charset=utf-8",
            transcript.to_vtt(&CueLayout::default()),
        ),
        ResponseFormat::VerboseJson => Json(verbose_json(
            &transcript,
            task,
            duration,
            segment_times,
            word_times,
        ))
        .into_response(),
    };
    response.extensions_mut().insert(AudioSeconds(duration));
    Ok(response)
}

/// The transcriber's decoding with the form's overrides: `language`, `prompt`, `temperature`,
/// word times, and the route's task.
fn decoding_of(
    form: &Form,
    transcriber: &crate::Transcriber,
    task: Task,
    word_times: bool,
) -> Result<crate::DecodingOptions, ApiError> {
    let mut decoding = transcriber.decoding().clone();
    decoding.task = task;
    if let Some(language) = form
        .get("language")
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        decoding.language = Some(language.to_lowercase());
    }
    if let Some(prompt) = form.get("prompt").filter(|p| !p.trim().is_empty()) {
        decoding.initial_prompt = Some(prompt.to_string());
    }
    if let Some(text) = form.get("temperature").filter(|t| !t.is_empty()) {
        let temperature: f32 = text
            .trim()
            .parse()
            .ok()
            .filter(|t: &f32| (0.0..=1.0).contains(t))
            .ok_or_else(|| {
                ApiError::bad_field("temperature", "temperature must be a number from 0 to 1.")
            })?;
        // OpenAI's semantics: 0 keeps the fallback ladder (0, 0.2, ... 1); above 0 the
        // decode starts at that temperature and climbs from there on failure.
        if temperature > 0.0 {
            decoding.temperatures = std::iter::successors(Some(temperature), |t| {
                Some(t + 0.2).filter(|t| *t <= 1.0 + 1e-6)
            })
            .collect();
        }
    }
    decoding.word_timestamps = word_times;
    Ok(decoding)
}

/// `stream=true`: the job runs as any other; the answer is an event stream once the audio has
/// decoded (a bad upload is still a plain 4xx).
async fn streamed(
    service: Arc<Service>,
    admission: Admission,
    token: CancelToken,
    upload: form::Upload,
    transcriber: crate::Transcriber,
    route: &'static str,
) -> Result<Response, ApiError> {
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    // Held here until the stream starts, then by the response body: dropped early, either
    // way, it stops the job.
    let guard = CancelOnDrop::new(token.clone());
    let max_audio_s = service.limits.max_audio_s;
    let metrics_service = service.clone();
    tokio::spawn(async move {
        let job_events = events.clone();
        let job = admission.run(token, move |cancel| -> Result<(), ApiError> {
            let audio = decode_upload(upload, max_audio_s)?;
            let duration = audio.duration_secs();
            let _ = job_events.send(stream::Progress::Started { duration });
            let mut deltas = stream::Deltas::default();
            let hooks = TranscribeHooks::default()
                .cancel(cancel)
                .on_segment(|segment| {
                    let delta = deltas.next(&segment.text);
                    if !delta.is_empty() {
                        let _ = job_events.send(stream::Progress::Delta(delta));
                    }
                });
            let transcript = transcriber.transcribe_with(&audio.samples, hooks)?;
            metrics_service
                .metrics
                .record_work(route, duration, &transcript.ledger);
            let text = transcript.text().trim().to_string();
            let _ = job_events.send(stream::Progress::Done { text });
            Ok(())
        });
        let failure = match job.await {
            Ok(Ok(())) => return,
            Ok(Err(error)) => error,
            Err(panic) => panic.into(),
        };
        let _ = events.send(stream::Progress::Failed(failure));
    });
    match received.recv().await {
        Some(stream::Progress::Started { duration }) => {
            let mut response = stream::response(received, guard);
            response.extensions_mut().insert(AudioSeconds(duration));
            Ok(response)
        }
        Some(stream::Progress::Failed(error)) => Err(error),
        _ => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal error while processing the request (logged on the server).",
        )),
    }
}

fn plain(content_type: &'static str, body: String) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// OpenAI's `verbose_json`: task, language by name, duration, text, and the segments and/or
/// words asked for.
fn verbose_json(
    transcript: &Transcript,
    task: Task,
    duration: f64,
    segment_times: bool,
    word_times: bool,
) -> Value {
    let mut doc = json!({
        "task": match task {
            Task::Transcribe => "transcribe",
            Task::Translate => "translate",
        },
        "language": transcript
            .language
            .as_deref()
            .map(|code| crate::language_name(code).unwrap_or(code)),
        "duration": duration,
        "text": transcript.text().trim(),
    });
    if segment_times {
        doc["segments"] = transcript
            .segments
            .iter()
            .map(|s| {
                json!({
                    "id": s.id,
                    "seek": s.seek,
                    "start": s.start,
                    "end": s.end,
                    "text": s.text,
                    "tokens": s.tokens,
                    "temperature": s.temperature,
                    "avg_logprob": s.avg_logprob,
                    "compression_ratio": s.compression_ratio,
                    "no_speech_prob": s.no_speech_prob,
                })
            })
            .collect();
    }
    if word_times {
        doc["words"] = transcript
            .segments
            .iter()
            .flat_map(|s| s.words.iter().flatten())
            .map(|w| json!({"word": w.word.trim(), "start": w.start, "end": w.end}))
            .collect();
    }
    doc
}

/// OpenAI's model name, answered by the first model.
const WHISPER_1: &str = "whisper-1";

/// `GET /v1/models`: the models this server keeps loaded, and `whisper-1` (the first of them).
pub async fn models(State(service): State<Arc<Service>>) -> Result<Json<Value>, ApiError> {
    let models = service.models.get().ok_or_else(ApiError::loading)?;
    let mut data: Vec<Value> = models.iter().map(|m| model_object(&m.name)).collect();
    if !models.iter().any(|m| m.name == WHISPER_1) {
        data.push(model_object(WHISPER_1));
    }
    Ok(Json(json!({ "object": "list", "data": data })))
}

/// `GET /v1/models/{model}`: the model under the name asked for (`whisper-1` too).
pub async fn model(
    State(service): State<Arc<Service>>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Result<Json<Value>, ApiError> {
    loaded_model(&service, Some(&name))?;
    Ok(Json(model_object(&name)))
}

fn model_object(id: &str) -> Value {
    json!({
        "id": id,
        "object": "model",
        "created": 0,
        "owned_by": "npu-whisper",
    })
}
