//! The Wyoming protocol (Home Assistant's voice pipelines; the `wyoming` package's event
//! format): each event is a JSON line `{"type", "data"?, "data_length"?, "payload_length"?}`,
//! then `data_length` bytes of JSON merged into `data`, then `payload_length` bytes of payload.
//! `describe` is answered with `info`; `transcribe` (optional: language, model name),
//! `audio-start`, `audio-chunk`..., `audio-stop` with `transcript`; `ping` with `pong`. Other
//! events are dropped, as the protocol asks of servers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::{TcpListener, TcpStream};

use super::limits::Limits;
use super::state::{Accepted, Service};
use crate::TranscribeHooks;
use crate::audio::{self, PcmFormat};

/// One event as read.
#[derive(Debug)]
struct Event {
    pub kind: String,
    pub data: Map<String, Value>,
    pub payload: Vec<u8>,
}

/// Why a connection ends.
#[derive(Debug)]
enum Closed {
    /// The client closed it (between events).
    ByClient,
    /// The client broke the protocol or a limit, or went silent: tell it why, then close.
    Refused(String),
    /// The socket failed.
    Io(std::io::Error),
}

/// Accept connections until `stop` fires; each is served on its own task, holding a place
/// under --max-connections.
pub async fn serve(listener: TcpListener, service: Arc<Service>, stop: Arc<tokio::sync::Notify>) {
    loop {
        let stopped = stop.notified();
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Some((stream, place)) = service
                        .connections
                        .admit(stream, super::connections::Protocol::Wyoming)
                    else {
                        continue;
                    };
                    let service = service.clone();
                    tokio::spawn(async move {
                        if let Err(e) = Session::new(&service).run(stream).await {
                            tracing::debug!("wyoming {peer}: {e}");
                        }
                        drop(place);
                    });
                }
                Err(e) => service.connections.accept_failed(e).await,
            },
            () = stopped => return,
        }
    }
}

/// The audio of one utterance, as it arrives.
struct Utterance {
    format: PcmFormat,
    pcm: Vec<u8>,
    started: Instant,
    /// Counted as accepted from `audio-start`: a shutdown waits for its transcript.
    accepted: Accepted,
}

impl Utterance {
    fn seconds(&self) -> f64 {
        self.pcm.len() as f64 / (self.format.frame_bytes() as f64 * f64::from(self.format.rate))
    }
}

/// What to do after an event.
enum Next {
    Continue,
    /// Tell the client why (an `error` event with this text and code), then close.
    Close(String, &'static str),
}

/// One connection: the options a `transcribe` event set, and the utterance arriving. An
/// utterance holds a connection and at most --max-upload-mb of audio while it arrives; it
/// takes a place in the queue only at `audio-stop`, when it is whole.
struct Session<'a> {
    service: &'a Arc<Service>,
    limits: Limits,
    language: Option<String>,
    model: Option<String>,
    utterance: Option<Utterance>,
}

impl<'a> Session<'a> {
    fn new(service: &'a Arc<Service>) -> Self {
        Session {
            service,
            limits: service.limits.clone(),
            language: None,
            model: None,
            utterance: None,
        }
    }

    async fn run(mut self, stream: TcpStream) -> std::io::Result<()> {
        let _ = stream.set_nodelay(true);
        let (reader, mut writer) = stream.into_split();
        let mut reader = BufReader::new(reader);
        loop {
            let (wait, why) = self.deadline();
            let event =
                match tokio::time::timeout(wait, read_event(&mut reader, &self.limits)).await {
                    Ok(Ok(Some(event))) => event,
                    Ok(Ok(None)) | Ok(Err(Closed::ByClient)) => return Ok(()),
                    Ok(Err(Closed::Io(e))) => return Err(e),
                    Ok(Err(Closed::Refused(why))) => {
                        return refuse(&mut writer, &why, "bad_event").await;
                    }
                    Err(_) => return refuse(&mut writer, why, "timeout").await,
                };
            let next = match event.kind.as_str() {
                "audio-stop" => self.audio_stop(&mut reader, &mut writer).await?,
                _ => self.handle(event, &mut writer).await?,
            };
            if let Next::Close(why, code) = next {
                return refuse(&mut writer, &why, code).await;
            }
        }
    }

    /// How long the next event may take, and what to say when it does not come: the idle
    /// limit, or less while an utterance arrives, whose audio may fall behind real time by at
    /// most --client-timeout-s (a client streaming a microphone keeps up; one that holds an
    /// utterance open with pings does not).
    fn deadline(&self) -> (Duration, &'static str) {
        let idle = self.limits.client_timeout;
        let Some(utterance) = &self.utterance else {
            return (idle, "no event within the server's idle limit");
        };
        let allowed = idle + Duration::from_secs_f64(utterance.seconds());
        let left = allowed.saturating_sub(utterance.started.elapsed());
        if left < idle {
            (left, "the utterance's audio fell behind real time")
        } else {
            (idle, "no event within the server's idle limit")
        }
    }

    async fn handle<W: AsyncWrite + Unpin>(
        &mut self,
        event: Event,
        writer: &mut W,
    ) -> std::io::Result<Next> {
        match event.kind.as_str() {
            "describe" => write_event(writer, "info", info(self.service)).await?,
            "ping" => {
                let text = event.data.get("text").cloned().unwrap_or(Value::Null);
                write_event(writer, "pong", json!({ "text": text })).await?
            }
            "transcribe" => {
                self.language = event
                    .data
                    .get("language")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                self.model = event
                    .data
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_string);
            }
            "audio-start" => return Ok(self.audio_start(&event)),
            "audio-chunk" => return Ok(self.audio_chunk(event)),
            // Other events are not for a speech-to-text server: dropped, as the protocol asks.
            _ => {}
        }
        Ok(Next::Continue)
    }

    fn audio_start(&mut self, event: &Event) -> Next {
        let Some(accepted) = self.service.accept() else {
            return Next::Close("the server is shutting down".into(), "shutting_down");
        };
        let format = match format_of(&event.data) {
            Ok(format) => format,
            Err(why) => return Next::Close(why, "bad_audio"),
        };
        // A second audio-start replaces an utterance that never stopped.
        self.utterance = Some(Utterance {
            format,
            pcm: Vec::new(),
            started: Instant::now(),
            accepted,
        });
        Next::Continue
    }

    fn audio_chunk(&mut self, event: Event) -> Next {
        let limits = &self.limits;
        let Some(current) = self.utterance.as_mut() else {
            // A chunk outside audio-start/stop: nothing to add it to (dropped).
            return Next::Continue;
        };
        match format_of(&event.data) {
            Ok(format) if format == current.format => {}
            Ok(_) => {
                return Next::Close(
                    "an audio-chunk changed the rate, width or channels of its utterance".into(),
                    "bad_audio",
                );
            }
            Err(why) => return Next::Close(why, "bad_audio"),
        }
        let held = current.pcm.len() + event.payload.len();
        let bytes_per_s = current.format.frame_bytes() as f64 * f64::from(current.format.rate);
        if held as f64 > limits.max_audio_s * bytes_per_s {
            return Next::Close(
                format!("the audio is longer than {} s", limits.max_audio_s),
                "audio_too_long",
            );
        }
        // Raw PCM is held until audio-stop: no more of it than an HTTP upload.
        if held as u64 > limits.max_upload_bytes {
            return Next::Close(
                format!(
                    "the utterance's audio is larger than {} MB",
                    limits.max_upload_bytes / 1_000_000
                ),
                "audio_too_large",
            );
        }
        current.pcm.extend_from_slice(&event.payload);
        Next::Continue
    }

    /// The utterance is whole: a place in the queue, the transcript (or an `error` event). A
    /// client that closes the connection meanwhile cancels its job.
    async fn audio_stop<R, W>(&mut self, reader: &mut R, writer: &mut W) -> std::io::Result<Next>
    where
        R: AsyncBufRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let Some(utterance) = self.utterance.take() else {
            write_event(
                writer,
                "error",
                json!({"text": "audio-stop without audio-start", "code": "no_audio"}),
            )
            .await?;
            return Ok(Next::Continue);
        };
        let started = Instant::now();
        let token = self.service.request_token();
        let job = transcribe(
            self.service,
            utterance,
            self.language.take(),
            self.model.as_deref(),
            token.clone(),
        );
        tokio::pin!(job);
        let reply = tokio::select! {
            reply = &mut job => reply,
            () = closed(reader) => {
                token.cancel();
                let _ = job.await;
                self.service.metrics.record_cancelled("wyoming");
                tracing::info!("wyoming utterance cancelled: the client went away");
                return Ok(Next::Continue);
            }
        };
        let status = match reply.0 {
            "transcript" => 200,
            _ => match reply.1["code"].as_str() {
                Some("transcription_failed" | "internal") => 500,
                Some("queue_full") => 429,
                _ => 400,
            },
        };
        self.service
            .metrics
            .record_request("wyoming", status, started.elapsed().as_secs_f64());
        write_event(writer, reply.0, reply.1).await?;
        Ok(Next::Continue)
    }
}

/// Resolves when the client has closed its side (more events meanwhile stay buffered).
async fn closed<R: AsyncBufRead + Unpin>(reader: &mut R) {
    match reader.fill_buf().await {
        Ok([]) | Err(_) => {}
        Ok(_) => std::future::pending().await,
    }
}

/// The transcript of one utterance (`transcript`), or an `error` event.
///
/// Kept whole: one utterance's transcription in the protocol's order (admission, decode of the
/// buffered audio, the transcript or error event), each answer written where it is known.
async fn transcribe(
    service: &Arc<Service>,
    utterance: Utterance,
    language: Option<String>,
    model: Option<&str>,
    token: crate::CancelToken,
) -> (&'static str, Value) {
    let error = |text: String, code: &str| ("error", json!({"text": text, "code": code}));
    let Some(models) = service.models.get() else {
        return error("the model is still loading".into(), "model_loading");
    };
    let Some(loaded) = service.model(model) else {
        let names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
        return error(
            format!(
                "no model `{}` here; this server has: {}",
                model.unwrap_or_default(),
                names.join(", ")
            ),
            "unknown_model",
        );
    };
    let Some(transcriber) = loaded.transcriber.clone() else {
        return error(
            format!("{} serves embeddings only", loaded.name),
            "no_tokenizer",
        );
    };
    let mut decoding = transcriber.decoding().clone();
    if let Some(code) = language.filter(|c| !c.is_empty()) {
        decoding.language = Some(code.to_lowercase());
    }
    let transcriber = match transcriber.with_decoding(decoding) {
        Ok(t) => t,
        Err(e) => return error(e.to_string(), "bad_request"),
    };
    let admission = match service.pool.admit() {
        Ok(admission) => admission,
        Err(busy) => {
            let text = format!("the server is busy; retry in {} s", busy.retry_after_s);
            return error(text, "queue_full");
        }
    };
    let Utterance {
        format,
        pcm,
        accepted,
        ..
    } = utterance;
    let max_audio_s = service.limits.max_audio_s;
    let job = admission
        .run(token, move |cancel| {
            let limits = audio::AudioLimits::max_seconds_of(max_audio_s);
            let audio = audio::from_pcm(&pcm, format, "wyoming audio", &limits)?;
            let duration = audio.duration_secs();
            transcriber
                .transcribe_with(&audio.samples, TranscribeHooks::default().cancel(cancel))
                .map(|t| (t, duration))
        })
        .await;
    drop(accepted);
    match job {
        Ok(Ok((transcript, duration))) => {
            tracing::info!("wyoming transcript 200 audio {duration:.2} s");
            service
                .metrics
                .record_work("wyoming", duration, &transcript.ledger);
            let mut data = json!({ "text": transcript.text().trim() });
            if let Some(code) = &transcript.language {
                data["language"] = json!(code);
            }
            ("transcript", data)
        }
        Ok(Err(e)) if e.kind() == crate::ErrorKind::InvalidInput => {
            error(e.to_string(), "bad_audio")
        }
        Ok(Err(e)) => {
            tracing::warn!("wyoming: {e}");
            error(e.to_string(), "transcription_failed")
        }
        Err(panic) => {
            tracing::error!("wyoming: a transcription panicked: {}", panic.0);
            error("internal error (logged on the server)".into(), "internal")
        }
    }
}

/// `info`: one ASR program with each loaded model that can transcribe and its languages.
fn info(service: &Service) -> Value {
    let attribution =
        json!({"name": "npu-whisper", "url": "https://github.com/npu-whisper/npu-whisper"});
    let version = env!("CARGO_PKG_VERSION");
    let models: Vec<Value> = service
        .models
        .get()
        .map(|models| {
            models
                .iter()
                .filter(|m| m.transcriber.is_some())
                .map(|m| {
                    json!({
                        "name": m.name,
                        "attribution": {"name": "OpenAI", "url": "https://github.com/openai/whisper"},
                        "installed": true,
                        "description": format!("Whisper {}", m.name),
                        "version": null,
                        "languages": m.model.languages(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "asr": [{
            "name": "npu-whisper",
            "attribution": attribution,
            "installed": true,
            "description": "Whisper on AMD Ryzen AI NPUs and CPUs",
            "version": version,
            "models": models,
            "supports_transcript_streaming": false,
        }],
        "tts": [], "handle": [], "intent": [], "wake": [], "mic": [], "snd": [],
    })
}

/// `rate`, `width`, `channels` of an audio event, within what the protocol's converters take
/// (widths 1 to 4 bytes) and a sane range.
fn format_of(data: &Map<String, Value>) -> Result<PcmFormat, String> {
    let field = |name: &str| data.get(name).and_then(Value::as_u64);
    let needs = || {
        format!(
            "audio events need rate ({}-{} Hz), width (1-4 bytes) and channels (1-{})",
            audio::MIN_SAMPLE_RATE,
            audio::MAX_SAMPLE_RATE,
            audio::MAX_CHANNELS
        )
    };
    let (Some(rate), Some(width), Some(channels)) =
        (field("rate"), field("width"), field("channels"))
    else {
        return Err(needs());
    };
    let format = PcmFormat {
        rate: u32::try_from(rate).map_err(|_| needs())?,
        width: u16::try_from(width).map_err(|_| needs())?,
        channels: u16::try_from(channels).map_err(|_| needs())?,
    };
    format.check("wyoming audio").map_err(|_| needs())?;
    Ok(format)
}

/// Read one event within the size limits; `Ok(None)` at a clean end of stream.
async fn read_event<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    limits: &Limits,
) -> Result<Option<Event>, Closed> {
    let mut line = Vec::new();
    let read = (&mut *reader)
        .take(limits.max_event_json_bytes as u64 + 1)
        .read_until(b'\n', &mut line)
        .await
        .map_err(Closed::Io)?;
    if read == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(if line.len() > limits.max_event_json_bytes {
            Closed::Refused(format!(
                "an event header is longer than {} bytes",
                limits.max_event_json_bytes
            ))
        } else {
            Closed::ByClient
        });
    }
    let header: Value = serde_json::from_slice(&line)
        .map_err(|e| Closed::Refused(format!("an event header is not JSON: {e}")))?;
    let kind = header
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| Closed::Refused("an event has no type".into()))?
        .to_string();
    let mut data = match header.get("data") {
        Some(Value::Object(map)) => map.clone(),
        None | Some(Value::Null) => Map::new(),
        Some(_) => return Err(Closed::Refused("an event's data is not an object".into())),
    };
    let length = |name: &str, limit: usize| -> Result<usize, Closed> {
        match header.get(name) {
            None | Some(Value::Null) => Ok(0),
            Some(v) => match v.as_u64() {
                Some(n) if n as usize <= limit => Ok(n as usize),
                Some(n) => Err(Closed::Refused(format!(
                    "{name} {n} is above the limit of {limit} bytes"
                ))),
                None => Err(Closed::Refused(format!("{name} is not a byte count"))),
            },
        }
    };
    let data_length = length("data_length", limits.max_event_json_bytes)?;
    let payload_length = length("payload_length", limits.max_event_payload_bytes)?;
    if data_length > 0 {
        let mut bytes = vec![0; data_length];
        reader.read_exact(&mut bytes).await.map_err(Closed::Io)?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(more)) => data.extend(more),
            _ => {
                return Err(Closed::Refused(
                    "an event's data block is not a JSON object".into(),
                ));
            }
        }
    }
    let mut payload = vec![0; payload_length];
    reader.read_exact(&mut payload).await.map_err(Closed::Io)?;
    Ok(Some(Event {
        kind,
        data,
        payload,
    }))
}

async fn write_event<W: tokio::io::AsyncWrite + Unpin>(
    writer: &mut W,
    kind: &str,
    data: Value,
) -> std::io::Result<()> {
    let data = serde_json::to_vec(&data).expect("serialisable");
    let header = json!({"type": kind, "version": "1.10.2", "data_length": data.len()});
    let mut bytes = serde_json::to_vec(&header).expect("serialisable");
    bytes.push(b'\n');
    bytes.extend_from_slice(&data);
    writer.write_all(&bytes).await?;
    writer.flush().await
}

/// Tell the client why with an `error` event, then end the connection.
async fn refuse<W: tokio::io::AsyncWrite + Unpin>(
    writer: &mut W,
    why: &str,
    code: &str,
) -> std::io::Result<()> {
    tracing::info!("wyoming: closing a connection: {why}");
    write_event(writer, "error", json!({"text": why, "code": code})).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::new(25, 60.0, 5).unwrap()
    }

    async fn read_all(bytes: &[u8]) -> Vec<Result<Option<Event>, Closed>> {
        let mut reader = BufReader::new(bytes);
        let mut events = Vec::new();
        loop {
            let event = read_event(&mut reader, &limits()).await;
            let last = !matches!(event, Ok(Some(_)));
            events.push(event);
            if last {
                return events;
            }
        }
    }

    #[tokio::test]
    async fn events_read_with_inline_data_a_data_block_and_a_payload() {
        let mut stream = Vec::new();
        stream.extend_from_slice(b"{\"type\": \"describe\"}\n");
        stream.extend_from_slice(b"{\"type\": \"audio-chunk\", \"data\": {\"rate\": 16000}, \"data_length\": 27, \"payload_length\": 4}\n");
        stream.extend_from_slice(b"{\"width\": 2, \"channels\": 1}");
        stream.extend_from_slice(&[1, 0, 2, 0]);
        let events = read_all(&stream).await;
        assert_eq!(events.len(), 3);
        let Ok(Some(describe)) = &events[0] else {
            panic!("{:?}", events[0])
        };
        assert_eq!(describe.kind, "describe");
        let Ok(Some(chunk)) = &events[1] else {
            panic!("{:?}", events[1])
        };
        let format = format_of(&chunk.data).unwrap();
        assert_eq!((format.rate, format.width, format.channels), (16000, 2, 1));
        assert_eq!(chunk.payload, vec![1, 0, 2, 0]);
        assert!(matches!(events[2], Ok(None)));
    }

    #[tokio::test]
    async fn hostile_events_are_refused_with_a_reason() {
        let long = format!("{{\"type\": \"x\", \"pad\": \"{}\"}}\n", "a".repeat(70_000));
        for (bytes, why) in [
            (long.as_bytes().to_vec(), "longer than"),
            (b"not json\n".to_vec(), "not JSON"),
            (b"{\"data\": {}}\n".to_vec(), "no type"),
            (
                b"{\"type\": \"a\", \"payload_length\": 99999999}\n".to_vec(),
                "above the limit",
            ),
            (
                b"{\"type\": \"a\", \"data_length\": -1}\n".to_vec(),
                "not a byte count",
            ),
            (
                b"{\"type\": \"a\", \"data_length\": 2}\n[]".to_vec(),
                "not a JSON object",
            ),
        ] {
            let events = read_all(&bytes).await;
            match &events[0] {
                Err(Closed::Refused(reason)) => assert!(reason.contains(why), "{reason}"),
                other => panic!("{why}: {other:?}"),
            }
        }
        // Cut off inside a payload: the socket's end, not a protocol event.
        let events = read_all(b"{\"type\": \"a\", \"payload_length\": 8}\nabc").await;
        assert!(matches!(events[0], Err(Closed::Io(_))), "{:?}", events[0]);
        assert!(format_of(&Map::new()).is_err());
    }
}
