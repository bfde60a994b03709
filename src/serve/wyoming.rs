//! The Wyoming protocol (Home Assistant's voice pipelines; the `wyoming` package's event
//! format): each event is a JSON line `{"type", "data"?, "data_length"?, "payload_length"?}`,
//! then `data_length` bytes of JSON merged into `data`, then `payload_length` bytes of payload.
//! `describe` is answered with `info`; `transcribe` (optional: language, model name),
//! `audio-start`, `audio-chunk`..., `audio-stop` with `transcript`; `ping` with `pong`. Other
//! events are dropped, as the protocol asks of servers.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::limits::Limits;
use super::state::{Accepted, Admission, Service};
use crate::audio;

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

/// Accept connections until `stop` fires; each is served on its own task.
pub async fn serve(listener: TcpListener, service: Arc<Service>, stop: Arc<tokio::sync::Notify>) {
    loop {
        let stopped = stop.notified();
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let service = service.clone();
                    tokio::spawn(async move {
                        if let Err(e) = connection(stream, &service).await {
                            tracing::debug!("wyoming {peer}: {e}");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!("wyoming: accepting a connection failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            () = stopped => return,
        }
    }
}

/// The audio of one utterance, as it arrives.
struct Utterance {
    rate: u32,
    width: u16,
    channels: u16,
    pcm: Vec<u8>,
    /// Counted as accepted from `audio-start`: a shutdown waits for its transcript.
    _accepted: Accepted,
    /// Its place in the queue, also from `audio-start`: the audio held while it arrives is
    /// bounded by the queue like HTTP uploads are.
    admission: Admission,
}

async fn connection(stream: TcpStream, service: &Arc<Service>) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let limits = service.limits.clone();
    let mut language: Option<String> = None;
    let mut model: Option<String> = None;
    let mut utterance: Option<Utterance> = None;
    loop {
        let event =
            match tokio::time::timeout(limits.client_timeout, read_event(&mut reader, &limits))
                .await
            {
                Ok(Ok(Some(event))) => event,
                Ok(Ok(None)) => return Ok(()),
                Ok(Err(Closed::ByClient)) => return Ok(()),
                Ok(Err(Closed::Io(e))) => return Err(e),
                Ok(Err(Closed::Refused(why))) => {
                    return refuse(&mut writer, &why, "bad_event").await;
                }
                Err(_) => {
                    return refuse(&mut writer, "no event within --client-timeout-s", "timeout")
                        .await;
                }
            };
        let draining = service.draining.load(Ordering::SeqCst);
        match event.kind.as_str() {
            "describe" => write_event(&mut writer, "info", info(service)).await?,
            "ping" => {
                let text = event.data.get("text").cloned().unwrap_or(Value::Null);
                write_event(&mut writer, "pong", json!({ "text": text })).await?
            }
            "transcribe" => {
                language = event
                    .data
                    .get("language")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                model = event
                    .data
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_string);
            }
            "audio-start" => {
                if draining {
                    return refuse(&mut writer, "the server is shutting down", "shutting_down")
                        .await;
                }
                let Some(accepted) = service.accept() else {
                    return refuse(&mut writer, "the server is shutting down", "shutting_down")
                        .await;
                };
                let (rate, width, channels) = match format_of(&event.data) {
                    Ok(format) => format,
                    Err(why) => return refuse(&mut writer, &why, "bad_audio").await,
                };
                let admission = match service.pool.admit() {
                    Ok(admission) => admission,
                    Err(busy) => {
                        // This utterance is dropped (its chunks fall outside one); the
                        // connection stays for the next.
                        let text = format!("the server is busy; retry in {} s", busy.retry_after_s);
                        write_event(
                            &mut writer,
                            "error",
                            json!({"text": text, "code": "queue_full"}),
                        )
                        .await?;
                        continue;
                    }
                };
                utterance = Some(Utterance {
                    rate,
                    width,
                    channels,
                    pcm: Vec::new(),
                    _accepted: accepted,
                    admission,
                });
            }
            "audio-chunk" => {
                let Some(current) = utterance.as_mut() else {
                    // A chunk outside audio-start/stop: nothing to add it to (dropped).
                    continue;
                };
                match format_of(&event.data) {
                    Ok(format) if format == (current.rate, current.width, current.channels) => {}
                    Ok(_) => {
                        return refuse(
                            &mut writer,
                            "an audio-chunk changed the rate, width or channels of its utterance",
                            "bad_audio",
                        )
                        .await;
                    }
                    Err(why) => return refuse(&mut writer, &why, "bad_audio").await,
                }
                let bytes_per_s =
                    current.rate as f64 * current.width as f64 * current.channels as f64;
                let held = (current.pcm.len() + event.payload.len()) as f64;
                if held > limits.max_audio_s * bytes_per_s {
                    return refuse(
                        &mut writer,
                        &format!("the audio is longer than {:.0} s", limits.max_audio_s),
                        "audio_too_long",
                    )
                    .await;
                }
                // Raw PCM is held until audio-stop: no more of it than an HTTP upload.
                if held > limits.max_upload_bytes as f64 {
                    return refuse(
                        &mut writer,
                        "the utterance's audio is larger than --max-upload-mb",
                        "audio_too_large",
                    )
                    .await;
                }
                current.pcm.extend_from_slice(&event.payload);
            }
            "audio-stop" => {
                let Some(done) = utterance.take() else {
                    continue;
                };
                let started = Instant::now();
                let reply = transcribe(service, done, language.take(), model.as_deref()).await;
                let status = if reply.0 == "transcript" { 200 } else { 500 };
                service
                    .metrics
                    .record_request("wyoming", status, started.elapsed().as_secs_f64());
                write_event(&mut writer, reply.0, reply.1).await?;
            }
            _ => {}
        }
    }
}

/// The transcript of one utterance (`transcript`), or an `error` event.
async fn transcribe(
    service: &Arc<Service>,
    utterance: Utterance,
    language: Option<String>,
    model: Option<&str>,
) -> (&'static str, Value) {
    let error = |text: String, code: &str| ("error", json!({"text": text, "code": code}));
    let Some(loaded) = service.model(model).or_else(|| service.model(None)) else {
        return error("the model is still loading".into(), "model_loading");
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
    let Utterance {
        rate,
        width,
        channels,
        pcm,
        _accepted,
        admission,
    } = utterance;
    let max_audio_s = service.limits.max_audio_s;
    let job = admission
        .run(move || {
            let format = audio::PcmFormat {
                rate,
                width,
                channels,
            };
            let limits = audio::AudioLimits::max_seconds_of(max_audio_s);
            let audio = audio::from_pcm(&pcm, format, "wyoming audio", &limits)?;
            let duration = audio.duration_secs();
            transcriber
                .transcribe(&audio.samples)
                .map(|t| (t, duration))
        })
        .await;
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
fn format_of(data: &Map<String, Value>) -> Result<(u32, u16, u16), String> {
    let field = |name: &str| data.get(name).and_then(Value::as_u64);
    match (field("rate"), field("width"), field("channels")) {
        (Some(rate), Some(width), Some(channels))
            if (1_000..=384_000).contains(&rate)
                && (1..=4).contains(&width)
                && (1..=32).contains(&channels) =>
        {
            Ok((rate as u32, width as u16, channels as u16))
        }
        _ => Err(
            "audio events need rate (1000-384000 Hz), width (1-4 bytes) and channels (1-32)".into(),
        ),
    }
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
        assert_eq!(format_of(&chunk.data).unwrap(), (16000, 2, 1));
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
