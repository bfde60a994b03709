//! `/metrics` in Prometheus' text format: requests by route and status, latency, audio
//! seconds, the queue, and where the encoder's ops ran (from each request's ledger), fallbacks
//! included. Routes are the router's patterns, never raw paths (a client cannot grow the label
//! set).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::LedgerEntry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeviceLabel {
    device: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabel {
    op: String,
}

type LatencyFamily = Family<RouteLabel, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RouteStatus, Counter>,
    latency: LatencyFamily,
    audio_seconds: Family<RouteLabel, Counter<f64, AtomicU64>>,
    queue_waiting: Gauge,
    running: Gauge,
    op_runs: Family<DeviceLabel, Counter>,
    fallbacks: Family<OpLabel, Counter>,
    cancelled: Family<RouteLabel, Counter>,
    connections_open: Gauge,
    connections_refused: Counter,
}

fn latency_buckets() -> Histogram {
    // 10 ms to about 82 s.
    Histogram::new(exponential_buckets(0.01, 2.0, 14))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("npu_whisper");
        let requests = Family::<RouteStatus, Counter>::default();
        let latency = LatencyFamily::new_with_constructor(latency_buckets);
        let audio_seconds = Family::<RouteLabel, Counter<f64, AtomicU64>>::default();
        let queue_waiting = Gauge::default();
        let running = Gauge::default();
        let op_runs = Family::<DeviceLabel, Counter>::default();
        let fallbacks = Family::<OpLabel, Counter>::default();
        let cancelled = Family::<RouteLabel, Counter>::default();
        let connections_open = Gauge::default();
        let connections_refused = Counter::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route pattern and status code",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its response, by route pattern",
            latency.clone(),
        );
        registry.register(
            "audio_seconds",
            "Seconds of audio transcribed or encoded, by route (`wyoming` for Wyoming)",
            audio_seconds.clone(),
        );
        registry.register(
            "queue_waiting",
            "Requests admitted and waiting for a turn",
            queue_waiting.clone(),
        );
        registry.register(
            "requests_running",
            "Requests being transcribed or encoded now",
            running.clone(),
        );
        registry.register(
            "encoder_op_runs",
            "Encoder ops run, by the device they ran on (after any fallback)",
            op_runs.clone(),
        );
        registry.register(
            "encoder_fallbacks",
            "Encoder op runs that fell back from the NPU to the CPU, by op",
            fallbacks.clone(),
        );
        registry.register(
            "requests_cancelled",
            "Requests whose client went away before the answer, by route (their work is stopped)",
            cancelled.clone(),
        );
        registry.register(
            "connections_open",
            "Open client connections, HTTP and Wyoming",
            connections_open.clone(),
        );
        registry.register(
            "connections_refused",
            "Connections refused at --max-connections",
            connections_refused.clone(),
        );
        Metrics {
            cancelled,
            connections_open,
            connections_refused,
            registry,
            requests,
            latency,
            audio_seconds,
            queue_waiting,
            running,
            op_runs,
            fallbacks,
        }
    }
}

/// The figures read at each scrape.
pub struct Now {
    pub waiting: usize,
    pub running: usize,
    pub connections_open: usize,
    pub connections_refused: u64,
}

impl Metrics {
    /// One answered request (HTTP), or one transcript (Wyoming, status 200 or 500).
    pub fn record_request(&self, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RouteStatus {
                route: route.to_string(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabel {
                route: route.to_string(),
            })
            .observe(seconds);
    }

    /// Audio done by a route, and where its encoder ops ran.
    pub fn record_work(&self, route: &str, audio_s: f64, ledger: &[LedgerEntry]) {
        self.audio_seconds
            .get_or_create(&RouteLabel {
                route: route.to_string(),
            })
            .inc_by(audio_s);
        for entry in ledger {
            self.op_runs
                .get_or_create(&DeviceLabel {
                    device: entry.device.name().to_string(),
                })
                .inc_by(entry.runs);
            if entry.fallback.is_some() {
                self.fallbacks
                    .get_or_create(&OpLabel {
                        op: entry.name.to_string(),
                    })
                    .inc_by(entry.runs);
            }
        }
    }

    /// A request whose client went away before its answer.
    pub fn record_cancelled(&self, route: &str) {
        self.cancelled
            .get_or_create(&RouteLabel {
                route: route.to_string(),
            })
            .inc();
    }

    /// The text exposition, with the queue and connection figures read now.
    pub fn render(&self, now: Now) -> String {
        self.queue_waiting.set(now.waiting as i64);
        self.running.set(now.running as i64);
        self.connections_open.set(now.connections_open as i64);
        let counted = self.connections_refused.get();
        self.connections_refused
            .inc_by(now.connections_refused.saturating_sub(counted));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String");
        text
    }
}
