//! `npu-whisper serve` as a client sees it, over real sockets on 127.0.0.1: every kind of bad
//! request gets its status code and a one-line OpenAI-shaped error, slow clients are cut off,
//! a full queue answers 429 with Retry-After, SIGTERM drains (503 for new requests, every
//! accepted one answered, exit 0), and the embeddings equal the library's. The official
//! `openai` and `wyoming` clients are run against it by scripts/test-serve.
//!
//! Needs tiny.en in the model cache (scripts/test fetches it).

mod common;
#[path = "common/http.rs"]
mod http;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{Reply, http, multipart, read_reply, wav_of};
use serde_json::Value;

/// A server process; killed when dropped.
struct Server {
    child: Child,
    port: u16,
    wyoming_port: Option<u16>,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Start `serve --port 0` with tiny.en and `args`; wait until /health says ready.
    fn start(args: &[&str]) -> Server {
        Server::start_with_env(args, &[])
    }

    /// As `start`, with environment variables set for the server.
    fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let cache = npu_whisper::ModelCache::from_env(true);
        assert!(
            cache.dir().join("tiny.en/tokenizer.json").exists(),
            "tiny.en is not cached: run scripts/fetch-model tiny.en (scripts/test does)"
        );
        let mut child = Command::new(env!("CARGO_BIN_EXE_npu-whisper"))
            .args(["serve", "--offline", "--port", "0", "--model", "tiny.en"])
            .args(args)
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let wyoming = Arc::new(Mutex::new(None));
        let wyoming_seen = wyoming.clone();
        let stderr = child.stderr.take().unwrap();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listening on http://").nth(1) {
                    let port: u16 = addr.rsplit(':').next().unwrap().trim().parse().unwrap();
                    let _ = port_tx.send(port);
                }
                if let Some(addr) = line.split("wyoming on tcp://").nth(1) {
                    *wyoming_seen.lock().unwrap() =
                        addr.rsplit(':').next().unwrap().trim().parse::<u16>().ok();
                }
                sink.lock().unwrap().push(line);
            }
        });
        let port = port_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the server printed its address");
        // The log reader may not have reached the Wyoming line yet.
        let wants_wyoming = args.contains(&"--wyoming-port");
        let deadline = Instant::now() + Duration::from_secs(30);
        while wants_wyoming && wyoming.lock().unwrap().is_none() {
            assert!(Instant::now() < deadline, "no wyoming address in the log");
            std::thread::sleep(Duration::from_millis(10));
        }
        let wyoming_port = *wyoming.lock().unwrap();
        let server = Server {
            child,
            port,
            wyoming_port,
            logs,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while server.get("/health").status != 200 {
            assert!(Instant::now() < deadline, "not ready within 60 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn get(&self, path: &str) -> Reply {
        self.request("GET", path, &[], b"")
    }

    fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        http(self.port, method, path, headers, body)
    }

    /// POST a multipart form with `fields` and, when given, `file` (name, bytes).
    fn post_form(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        fields: &[(&str, &str)],
        file: Option<(&str, &[u8])>,
    ) -> Reply {
        let (content_type, body) = multipart(fields, file);
        let mut all = vec![("Content-Type", content_type.as_str())];
        all.extend_from_slice(headers);
        self.request("POST", path, &all, &body)
    }

    fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// The log once it holds `needle` (bounded): a request's line is written as its response
    /// finishes, and the reader thread may not have it yet when the client already has the
    /// response.
    fn logs_with(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let logs = self.logs();
            if logs.contains(needle) || Instant::now() > deadline {
                return logs;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Wait for the process to exit (bounded).
    fn wait(&mut self, within: Duration) -> i32 {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "still running after {within:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn jfk() -> Vec<u8> {
    std::fs::read(common::sample("jfk.wav")).unwrap()
}

/// `copies` x jfk.wav as one 16-bit WAV (11 s each).
fn long_speech(copies: usize) -> Vec<u8> {
    let audio = npu_whisper::audio::load(
        &npu_whisper::audio::AudioSource::File(common::sample("jfk.wav")),
        &Default::default(),
    )
    .unwrap();
    wav_of(&audio.samples.repeat(copies))
}

const TRANSCRIPTIONS: &str = "/v1/audio/transcriptions";

/// POST `speech` for transcription on its own thread.
fn transcribe_in_background(port: u16, speech: Arc<Vec<u8>>) -> std::thread::JoinHandle<Reply> {
    std::thread::spawn(move || {
        let (content_type, body) = multipart(&[], Some(("long.wav", &speech)));
        http(
            port,
            "POST",
            TRANSCRIPTIONS,
            &[("Content-Type", &content_type)],
            &body,
        )
    })
}

/// Wait (bounded) until a request is running.
fn wait_until_running(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.get("/health").json()["running"] == 0 {
        assert!(Instant::now() < deadline, "no request ever ran");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn bad_requests_get_their_status_and_a_one_line_reason_and_the_service_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, "test-key-123\n").unwrap();
    let server = Server::start(&[
        "--api-key-file",
        key_file.to_str().unwrap(),
        "--max-upload-mb",
        "1",
        "--max-audio-s",
        "20",
        "--client-timeout-s",
        "2",
    ]);
    let key = [("Authorization", "Bearer test-key-123")];
    let jfk = jfk();
    let audio = Some(("jfk.wav", jfk.as_slice()));

    // The key: /health and /metrics are open, the API is not.
    assert_eq!(server.get("/health").status, 200);
    assert_eq!(server.get("/metrics").status, 200);
    let missing = server.post_form(TRANSCRIPTIONS, &[], &[], audio);
    assert_eq!(missing.status, 401);
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
    assert!(missing.error_message().contains("No API key"));
    let wrong = server.post_form(
        TRANSCRIPTIONS,
        &[("Authorization", "Bearer test-key-12")],
        &[],
        audio,
    );
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json()["error"]["code"], "invalid_api_key");
    assert_eq!(server.request("GET", "/v1/models", &key, b"").status, 200);

    let noise: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let header_only = wav_of(&[])[..44].to_vec();
    let long = wav_of(&vec![0.0; 16_000 * 25]);
    let too_big = vec![0u8; 1_100_000];
    let many_fields: Vec<(&str, &str)> = (0..40).map(|_| ("x", "y")).collect();
    let big_field = "p".repeat(70_000);
    let cases: Vec<(&str, u16, Reply, &str)> = vec![
        (
            "not a form",
            400,
            server.request(
                "POST",
                TRANSCRIPTIONS,
                &[key[0], ("Content-Type", "application/json")],
                b"{}",
            ),
            "multipart/form-data",
        ),
        (
            "no file",
            400,
            server.post_form(TRANSCRIPTIONS, &key, &[("model", "tiny.en")], None),
            "no `file`",
        ),
        (
            "noise bytes",
            400,
            server.post_form(TRANSCRIPTIONS, &key, &[], Some(("../../etc/x.mp3", &noise))),
            "x.mp3",
        ),
        (
            "empty file",
            400,
            server.post_form(TRANSCRIPTIONS, &key, &[], Some(("empty.wav", b""))),
            "empty.wav",
        ),
        (
            "a WAV header only",
            400,
            server.post_form(TRANSCRIPTIONS, &key, &[], Some(("head.wav", &header_only))),
            "head.wav",
        ),
        (
            "25 s over a 20 s limit",
            400,
            server.post_form(TRANSCRIPTIONS, &key, &[], Some(("long.wav", &long))),
            "at most 20 s",
        ),
        (
            "1.1 MB over a 1 MB limit",
            413,
            server.post_form(TRANSCRIPTIONS, &key, &[], Some(("big.wav", &too_big))),
            "larger than",
        ),
        (
            "unknown model",
            404,
            server.post_form(TRANSCRIPTIONS, &key, &[("model", "large-v9")], audio),
            "large-v9",
        ),
        (
            "unknown format",
            400,
            server.post_form(TRANSCRIPTIONS, &key, &[("response_format", "xml")], audio),
            "response_format",
        ),
        (
            "temperature 7",
            400,
            server.post_form(TRANSCRIPTIONS, &key, &[("temperature", "7")], audio),
            "temperature",
        ),
        (
            "unknown language",
            400,
            server.post_form(TRANSCRIPTIONS, &key, &[("language", "tlh")], audio),
            "English-only",
        ),
        (
            "translation, English-only model",
            400,
            server.post_form("/v1/audio/translations", &key, &[], audio),
            "translation",
        ),
        (
            "words without verbose_json",
            400,
            server.post_form(
                TRANSCRIPTIONS,
                &key,
                &[("timestamp_granularities[]", "word")],
                audio,
            ),
            "verbose_json",
        ),
        (
            "40 form parts",
            400,
            server.post_form(TRANSCRIPTIONS, &key, &many_fields, audio),
            "more than 32 parts",
        ),
        (
            "a 70 kB prompt",
            400,
            server.post_form(TRANSCRIPTIONS, &key, &[("prompt", &big_field)], audio),
            "longer than",
        ),
        (
            "embeddings format",
            400,
            server.post_form("/v1/audio/embeddings", &key, &[("format", "csv")], audio),
            "npy",
        ),
        (
            "unknown route",
            404,
            server.request("GET", "/v2/nothing", &key, b""),
            "No such route",
        ),
    ];
    for (what, status, reply, says) in &cases {
        assert_eq!(
            reply.status,
            *status,
            "{what}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        let message = reply.error_message();
        assert!(message.contains(says), "{what}: {message}");
        for server_path in ["/root", "/home", "/tmp", ".cache", "/etc/"] {
            assert!(
                !message.contains(server_path),
                "{what} names a path: {message}"
            );
        }
    }
    assert_eq!(server.request("GET", TRANSCRIPTIONS, &key, b"").status, 405);

    // A body sent without Content-Length (chunked) is cut off at the limit as it streams.
    let chunked = {
        let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        let (content_type, _) = multipart(&[], None);
        write!(stream, "POST {TRANSCRIPTIONS} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer test-key-123\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
        let preamble = "--npu-whisper-test-boundary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\n";
        write!(stream, "{:x}\r\n{preamble}\r\n", preamble.len()).unwrap();
        let block = vec![b'a'; 64 * 1024];
        for _ in 0..40 {
            if write!(stream, "{:x}\r\n", block.len())
                .and_then(|()| stream.write_all(&block))
                .and_then(|()| stream.write_all(b"\r\n"))
                .is_err()
            {
                break;
            }
        }
        read_reply(&mut stream)
    };
    assert_eq!(
        chunked.status,
        413,
        "{}",
        String::from_utf8_lossy(&chunked.body)
    );

    // Slow clients: headers that never finish, a body that stalls.
    let started = Instant::now();
    let mut slow = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    slow.write_all(b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(10),
        "headers: cut off after {waited:?}"
    );
    let started = Instant::now();
    let mut stalled = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let (content_type, body) = multipart(&[], Some(("jfk.wav", &jfk)));
    write!(stalled, "POST {TRANSCRIPTIONS} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer test-key-123\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n", body.len()).unwrap();
    stalled.write_all(&body[..1000]).unwrap();
    let reply = read_reply(&mut stalled);
    let waited = started.elapsed();
    assert_eq!(
        reply.status,
        408,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert!(
        waited < Duration::from_secs(10),
        "body: cut off after {waited:?}"
    );

    // After all that, the service still answers, and the metrics counted it by route.
    let good = server.post_form(TRANSCRIPTIONS, &key, &[("response_format", "text")], audio);
    assert_eq!(good.status, 200);
    assert!(
        String::from_utf8_lossy(&good.body).contains("ask not what your country can do for you")
    );
    let metrics = String::from_utf8(server.get("/metrics").body).unwrap();
    assert!(
        metrics.contains(
            r#"npu_whisper_http_requests_total{route="/v1/audio/transcriptions",status="400"}"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"npu_whisper_http_requests_total{route="unmatched",status="404"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"npu_whisper_encoder_op_runs_total{device="cpu"}"#),
        "{metrics}"
    );
    // One log line per request; the key never in the log.
    let line = "POST /v1/audio/transcriptions 200 audio 11.00 s";
    let logs = server.logs_with(line);
    assert!(logs.contains(line), "{logs}");
    assert!(!logs.contains("test-key-123"), "{logs}");
}

#[test]
fn a_full_queue_answers_429_with_retry_after() {
    let server = Server::start(&["--max-concurrency", "1", "--queue", "0"]);
    let first = transcribe_in_background(server.port, Arc::new(long_speech(8)));
    wait_until_running(&server);
    let refused = server.post_form(TRANSCRIPTIONS, &[], &[], Some(("jfk.wav", &jfk())));
    assert_eq!(refused.status, 429);
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    assert_eq!(refused.json()["error"]["code"], "queue_full");
    assert_eq!(first.join().unwrap().status, 200);
}

#[test]
fn sigterm_refuses_new_requests_answers_accepted_ones_and_exits_0() {
    let mut server = Server::start(&["--max-concurrency", "1", "--queue", "8"]);
    let speech = Arc::new(long_speech(4));
    let port = server.port;
    let accepted: Vec<_> = (0..3)
        .map(|_| transcribe_in_background(port, speech.clone()))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health = server.get("/health").json();
        if health["running"].as_u64().unwrap() + health["waiting"].as_u64().unwrap() == 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "three requests never queued: {health}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    server.terminate();
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.get("/health").status != 503 {
        assert!(Instant::now() < deadline, "/health never said draining");
        std::thread::sleep(Duration::from_millis(10));
    }
    let late = server.post_form(TRANSCRIPTIONS, &[], &[], Some(("jfk.wav", &jfk())));
    assert_eq!(late.status, 503);
    assert_eq!(late.json()["error"]["code"], "shutting_down");
    for request in accepted {
        let reply = request.join().unwrap();
        assert_eq!(
            reply.status,
            200,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        assert!(
            reply.json()["text"]
                .as_str()
                .unwrap()
                .contains("fellow Americans")
        );
    }
    assert_eq!(server.wait(Duration::from_secs(60)), 0, "{}", server.logs());
    assert!(
        server
            .logs_with("every accepted request answered")
            .contains("every accepted request answered")
    );
}

#[test]
fn the_grace_period_bounds_a_shutdown_and_says_what_was_left() {
    let mut server = Server::start(&["--max-concurrency", "1", "--grace-s", "1"]);
    let _slow = transcribe_in_background(server.port, Arc::new(long_speech(20)));
    wait_until_running(&server);
    server.terminate();
    assert_eq!(server.wait(Duration::from_secs(20)), 1);
    let logs = server.logs_with("still running after --grace-s 1");
    assert!(logs.contains("still running after --grace-s 1"), "{logs}");
}

#[test]
fn embeddings_are_the_librarys_with_the_placement() {
    let server = Server::start(&[]);
    let jfk = jfk();
    let reply = server.post_form(
        "/v1/audio/embeddings",
        &[],
        &[("model", "tiny.en")],
        Some(("jfk.wav", &jfk)),
    );
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let (shape, served) = common::parse_npy(&reply.body);
    assert_eq!(shape, vec![1, 1500, 384]);

    let model = npu_whisper::Model::fetch(
        "tiny.en",
        &npu_whisper::FetchOptions::default().offline(true),
    )
    .unwrap();
    let encoder =
        npu_whisper::Encoder::new(&model, &npu_whisper::EncoderOptions::default()).unwrap();
    let samples =
        npu_whisper::audio::decode_bytes(jfk.clone(), "jfk.wav".as_ref(), &Default::default())
            .unwrap()
            .samples;
    let direct = encoder.encode(&samples).unwrap();
    let placement = direct.placement();
    assert!(placement.starts_with("cpu: "), "{placement}");
    assert_eq!(
        reply.header("x-npu-whisper-placement"),
        Some(placement.as_str())
    );
    assert_eq!(
        served,
        direct.into_vec(),
        "the service's embeddings are the library's"
    );

    let trimmed = server.post_form(
        "/v1/audio/embeddings",
        &[],
        &[("format", "json"), ("trim", "true")],
        Some(("jfk.wav", &jfk)),
    );
    let doc = trimmed.json();
    assert_eq!(doc["shape"], serde_json::json!([550, 384]));
    assert_eq!(doc["embeddings"].as_array().unwrap().len(), 550 * 384);
    assert_eq!(doc["placement"], placement.as_str());
}

#[test]
fn an_npu_fault_falls_back_for_that_op_and_shows_in_the_metrics() {
    // The simulated NPU with one call made to fail (the documented test hook): the request
    // still succeeds, the op ran on the CPU, and /metrics counts the fallback.
    let server = Server::start_with_env(
        &["--device", "npu-sim", "--precision", "bf16"],
        &[("NPU_WHISPER_FAULT", "attention@1=error")],
    );
    let reply = server.post_form("/v1/audio/embeddings", &[], &[], Some(("jfk.wav", &jfk())));
    assert_eq!(
        reply.status,
        200,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let placement = reply.header("x-npu-whisper-placement").unwrap();
    assert!(placement.contains("1 fell back to the cpu"), "{placement}");
    let text = server.post_form(TRANSCRIPTIONS, &[], &[], Some(("jfk.wav", &jfk())));
    assert_eq!(text.status, 200);
    assert!(
        text.json()["text"]
            .as_str()
            .unwrap()
            .contains("fellow Americans")
    );
    let metrics = String::from_utf8(server.get("/metrics").body).unwrap();
    assert!(
        metrics.contains(r#"npu_whisper_encoder_fallbacks_total{op="attention"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"npu_whisper_encoder_op_runs_total{device="npu-sim"}"#),
        "{metrics}"
    );
}

/// One Wyoming event, data inline.
fn wyoming_event(kind: &str, data: Value, payload: &[u8]) -> Vec<u8> {
    let mut header = serde_json::json!({"type": kind, "data": data});
    if !payload.is_empty() {
        header["payload_length"] = payload.len().into();
    }
    let mut bytes = serde_json::to_vec(&header).unwrap();
    bytes.push(b'\n');
    bytes.extend_from_slice(payload);
    bytes
}

/// The next event's header line (data inline or in a data block, merged).
fn read_wyoming_event(reader: &mut BufReader<TcpStream>) -> Value {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let mut header: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    if let Some(length) = header["data_length"].as_u64() {
        let mut data = vec![0; length as usize];
        reader.read_exact(&mut data).unwrap();
        header["data"] = serde_json::from_slice(&data).unwrap();
    }
    header
}

#[test]
fn wyoming_utterances_are_bounded_by_the_queue_and_the_upload_limit() {
    let server = Server::start(&[
        "--wyoming-port",
        "0",
        "--max-concurrency",
        "1",
        "--queue",
        "0",
        "--max-upload-mb",
        "1",
    ]);
    let port = server.wyoming_port.expect("the wyoming address in the log");
    let format = serde_json::json!({"rate": 16000, "width": 2, "channels": 1});
    let connect = || {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream
    };
    // The first utterance takes the only place; a second one at the same time is refused.
    let mut first = connect();
    first
        .write_all(&wyoming_event("audio-start", format.clone(), b""))
        .unwrap();
    let mut second = connect();
    let mut second_reader = BufReader::new(second.try_clone().unwrap());
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.get("/health").json()["waiting"] == 0 {
        assert!(
            Instant::now() < deadline,
            "the first utterance was never admitted"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    second
        .write_all(&wyoming_event("audio-start", format.clone(), b""))
        .unwrap();
    let busy = read_wyoming_event(&mut second_reader);
    assert_eq!(busy["type"], "error", "{busy}");
    assert_eq!(busy["data"]["code"], "queue_full", "{busy}");

    // More PCM than --max-upload-mb in one utterance: an error event, then the end.
    let chunk = vec![0u8; 256 * 1024];
    let mut reader = BufReader::new(first.try_clone().unwrap());
    for _ in 0..5 {
        if first
            .write_all(&wyoming_event("audio-chunk", format.clone(), &chunk))
            .is_err()
        {
            break;
        }
    }
    let refused = read_wyoming_event(&mut reader);
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["data"]["code"], "audio_too_large", "{refused}");

    // The place is free again: a short utterance is transcribed.
    let audio = npu_whisper::audio::load(
        &npu_whisper::audio::AudioSource::File(common::sample("jfk.wav")),
        &Default::default(),
    )
    .unwrap();
    let pcm: Vec<u8> = audio
        .samples
        .iter()
        .flat_map(|s| ((s * 32767.0) as i16).to_le_bytes())
        .collect();
    let mut third = connect();
    let mut third_reader = BufReader::new(third.try_clone().unwrap());
    third
        .write_all(&wyoming_event("audio-start", format.clone(), b""))
        .unwrap();
    for piece in pcm.chunks(64 * 1024) {
        third
            .write_all(&wyoming_event("audio-chunk", format.clone(), piece))
            .unwrap();
    }
    third
        .write_all(&wyoming_event("audio-stop", Value::Null, b""))
        .unwrap();
    let transcript = read_wyoming_event(&mut third_reader);
    assert_eq!(transcript["type"], "transcript", "{transcript}");
    assert!(
        transcript["data"]["text"]
            .as_str()
            .unwrap()
            .contains("fellow Americans"),
        "{transcript}"
    );
}
