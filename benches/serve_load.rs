//! Load on `npu-whisper serve`, on 127.0.0.1 only: C concurrent clients send R requests in all
//! (POST /v1/audio/transcriptions, one file), bounded by --max-s. Reports throughput (audio
//! seconds per wall second), latency percentiles, errors by status, and the server's resident
//! memory after 100 and after every further `--rss-every` requests (growth means a leak).
//!
//! cargo bench --bench serve_load -- [--model tiny.en] [--file assets/samples/jfk.wav]
//!     [--clients 4] [--requests 200] [--concurrency N] [--queue 64] [--rss-every 100]
//!     [--max-s 900] [--words]
//!
//! The server is this build's binary, started here with the model from the cache (offline).

#[path = "../tests/common/http.rs"]
mod http;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

struct Args {
    model: String,
    file: String,
    clients: usize,
    requests: usize,
    concurrency: Option<usize>,
    queue: usize,
    rss_every: usize,
    max_s: f64,
    words: bool,
}

fn args() -> Args {
    let mut a = Args {
        model: "tiny.en".into(),
        file: "assets/samples/jfk.wav".into(),
        clients: 4,
        requests: 200,
        concurrency: None,
        queue: 64,
        rss_every: 100,
        max_s: 900.0,
        words: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--model" => a.model = value(),
            "--file" => a.file = value(),
            "--clients" => a.clients = value().parse().unwrap(),
            "--requests" => a.requests = value().parse().unwrap(),
            "--concurrency" => a.concurrency = Some(value().parse().unwrap()),
            "--queue" => a.queue = value().parse().unwrap(),
            "--rss-every" => a.rss_every = value().parse().unwrap(),
            "--max-s" => a.max_s = value().parse().unwrap(),
            "--words" => a.words = true,
            // cargo bench passes --bench.
            "--bench" => {}
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((p / 100.0) * (sorted.len() - 1) as f64).round() as usize]
}

fn main() {
    let a = args();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(root.join(&a.file)).expect("the audio file");
    let audio_s =
        npu_whisper::audio::decode_bytes(bytes.clone(), a.file.as_ref(), &Default::default())
            .expect("decodable audio")
            .duration_secs();
    let mut command = Command::new(env!("CARGO_BIN_EXE_npu-whisper"));
    command
        .args(["serve", "--offline", "--port", "0", "--model", &a.model])
        .args(["--queue", &a.queue.to_string()]);
    if let Some(n) = a.concurrency {
        command.args(["--max-concurrency", &n.to_string()]);
    }
    let mut server = command
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stderr.take().unwrap()).lines();
    let mut port = 0u16;
    let mut concurrency_line = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(addr) = line.split("listening on http://").nth(1) {
            port = addr.rsplit(':').next().unwrap().trim().parse().unwrap();
        }
        if line.contains("ready:") {
            concurrency_line = line.split("ready: ").nth(1).unwrap_or("").to_string();
            break;
        }
    }
    assert!(port != 0, "the server did not start");
    // Drain the log (one line per request) so the pipe never fills.
    std::thread::spawn(move || for _ in lines {});
    let pid = server.id();
    println!(
        "serve_load: {} x {:.2} s ({}), model {}, {} clients, {} requests; server: {concurrency_line}",
        a.file,
        audio_s,
        bytes.len(),
        a.model,
        a.clients,
        a.requests
    );
    let rss_start = rss_mib(pid);

    let mut fields = vec![("response_format", "json")];
    if a.words {
        fields = vec![
            ("response_format", "verbose_json"),
            ("timestamp_granularities[]", "word"),
        ];
    }
    let (content_type, body) = http::multipart(&fields, Some(("audio", &bytes)));
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let latencies = Mutex::new(Vec::new());
    let errors = Mutex::new(std::collections::BTreeMap::<u16, usize>::new());
    let rss_marks = Mutex::new(Vec::new());
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(a.max_s);
    std::thread::scope(|scope| {
        for _ in 0..a.clients {
            scope.spawn(|| {
                while next.fetch_add(1, Ordering::SeqCst) < a.requests && Instant::now() < deadline
                {
                    let sent = Instant::now();
                    let reply = http::http(
                        port,
                        "POST",
                        "/v1/audio/transcriptions",
                        &[("Content-Type", &content_type)],
                        &body,
                    );
                    let seconds = sent.elapsed().as_secs_f64();
                    if reply.status == 200 {
                        latencies.lock().unwrap().push(seconds);
                    } else {
                        *errors.lock().unwrap().entry(reply.status).or_default() += 1;
                    }
                    let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                    if n.is_multiple_of(a.rss_every) {
                        let rss = rss_mib(pid);
                        println!(
                            "  after {n:>5} requests: RSS {rss:.1} MiB, {:.0} s",
                            started.elapsed().as_secs_f64()
                        );
                        rss_marks.lock().unwrap().push((n, rss));
                    }
                }
            });
        }
    });
    let wall = started.elapsed().as_secs_f64();
    let mut latencies = latencies.into_inner().unwrap();
    latencies.sort_by(f64::total_cmp);
    let ok = latencies.len();
    let errors = errors.into_inner().unwrap();
    println!(
        "  {ok} ok, errors {errors:?}, wall {wall:.1} s, throughput {:.1} audio s per s ({:.2} requests/s)",
        ok as f64 * audio_s / wall,
        ok as f64 / wall
    );
    println!(
        "  latency p50 {:.3} s, p95 {:.3} s, p99 {:.3} s, max {:.3} s",
        percentile(&latencies, 50.0),
        percentile(&latencies, 95.0),
        percentile(&latencies, 99.0),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    let marks = rss_marks.into_inner().unwrap();
    println!(
        "  RSS at start {rss_start:.1} MiB; {}",
        marks
            .iter()
            .map(|(n, rss)| format!("after {n}: {rss:.1} MiB"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = server.kill();
    let _ = server.wait();
}
