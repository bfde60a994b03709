//! `npu-whisper serve`: the models loaded once and shared by every request; HTTP (OpenAI's
//! audio API, our embeddings, /health, /metrics) and optionally Wyoming over TCP. The service
//! is a client of the library's public API like the other commands: handlers turn a request
//! into the calls `transcribe` and `encode` make. On SIGTERM or Ctrl-C it stops taking
//! requests (503), finishes those it accepted within --grace-s, and exits 0.

mod connections;
mod embeddings;
mod errors;
mod form;
mod http_errors;
mod limits;
mod metrics;
mod openai;
mod state;
mod stream;
mod wyoming;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower_http::limit::RequestBodyLimitLayer;

use self::errors::ApiError;
use self::limits::{ApiKey, Limits};
use self::state::{Loaded, Pool, Service};
use crate::cli::{GlobalArgs, ServeArgs};
use crate::{Error, Result, TranscribeOptions, Transcriber};

/// Requests at once when --max-concurrency is not given: one, which has the whole pool. On the
/// 2-core test machine (docs/service.md, `cargo bench --bench serve_load`) two at once gave the
/// same audio seconds per second and a worse tail (a request's parallel work waits behind the
/// other's), three were slower still; a machine with many cores may do better with more.
const DEFAULT_CONCURRENCY: usize = 1;

pub fn run(args: &ServeArgs, global: &GlobalArgs) -> Result<i32> {
    let limits = Limits::new(args.max_upload_mb, args.max_audio_s, args.client_timeout_s)?;
    let key = args.api_key_file.as_deref().map(ApiKey::read).transpose()?;
    check_wyoming_exposure(args, key.is_some())?;
    let max_connections = args.max_connections as usize;
    connections::reserve_file_descriptors(max_connections)?;
    // Everything that can be checked without loading is checked before listening: a bad model
    // name or VAD model fails the start, not the first request.
    let names = model_names(&args.model);
    let fetch = crate::FetchOptions::default().offline(global.offline);
    for name in &names {
        crate::Model::check_name(name, &fetch)?;
    }
    let options = load_options(args, global)?;
    let concurrency = args
        .max_concurrency
        .map_or(DEFAULT_CONCURRENCY, |n| n.get());
    let service = Arc::new(Service::new(
        limits,
        key,
        Pool::new(concurrency, args.queue),
        connections::Connections::new(max_connections),
    ));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("serve-io")
        .enable_all()
        .build()
        .map_err(|e| Error::Runtime(format!("cannot start the service's runtime: {e}")))?;
    let outcome = runtime.block_on(serve(args, names, options, service));
    // A model still loading (the load failed elsewhere, or a signal came first) is not waited
    // for.
    runtime.shutdown_timeout(Duration::from_secs(1));
    outcome
}

/// Kept whole: the service's life in order (bind, spawn the listeners, load the models while
/// answering health checks, wait for a signal, drain within the grace), one `select!` over its
/// tasks.
async fn serve(
    args: &ServeArgs,
    names: Vec<String>,
    options: LoadOptions,
    service: Arc<Service>,
) -> Result<i32> {
    let http = bind(&args.host, args.port).await?;
    tracing::info!(
        "listening on http://{}",
        http.local_addr().map_err(io_error)?
    );
    let wyoming = match args.wyoming_port {
        Some(port) => {
            let listener = bind(&args.host, port).await?;
            tracing::info!(
                "wyoming on tcp://{}",
                listener.local_addr().map_err(io_error)?
            );
            Some(listener)
        }
        None => None,
    };
    if service.key.is_none() && !is_loopback(&args.host) {
        tracing::warn!(
            "listening on {} without --api-key-file: anyone who can reach it can use it",
            args.host
        );
    }

    let stop = Arc::new(Notify::new());
    let connections = hyper_util::server::graceful::GracefulShutdown::new();
    let app = router(service.clone());
    let http_task = tokio::spawn(accept_http(
        http,
        app,
        service.clone(),
        stop.clone(),
        connections,
    ));
    let wyoming_task = wyoming
        .map(|listener| tokio::spawn(wyoming::serve(listener, service.clone(), stop.clone())));

    let loading = tokio::task::spawn_blocking(move || load(&names, options));
    tokio::pin!(loading);
    let signal = shutdown_signal();
    tokio::pin!(signal);
    tokio::select! {
        loaded = &mut loading => {
            let models = loaded.map_err(|e| Error::Runtime(format!("loading the models: {e}")))??;
            let _ = service.models.set(models);
            tracing::info!(
                "ready: {} request(s) at once, {} more may wait",
                service.pool.concurrency(),
                args.queue
            );
            (&mut signal).await;
        }
        () = &mut signal => {}
    }

    // Drain: refuse new requests, wait for the accepted ones.
    service.draining.store(true, Ordering::SeqCst);
    tracing::info!(
        "shutting down: {} accepted request(s) to finish within {} s; new requests get 503",
        service.accepted(),
        args.grace_s
    );
    tokio::spawn(async {
        shutdown_signal().await;
        eprintln!("npu-whisper: second signal: exiting without finishing the accepted requests");
        std::process::exit(crate::ErrorKind::Interrupted.exit_code());
    });
    let grace = Duration::from_secs(args.grace_s);
    let finished = tokio::time::timeout(grace, service.drained()).await.is_ok();
    let left = service.accepted();
    if !finished {
        // Past the grace: every running job stops at its next window or decoder step, and
        // its client gets 503 (`cancelled`); give them a moment to be told.
        tracing::warn!(
            "{left} accepted request(s) still running after --grace-s {}; cancelling them",
            args.grace_s
        );
        service.stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(2), service.drained()).await;
    }
    stop.notify_waiters();
    let connections = http_task.await.map_err(|e| Error::Runtime(e.to_string()))?;
    if let Some(task) = wyoming_task {
        let _ = task.await;
    }
    // Idle keep-alive connections close now; a response still being written gets a moment.
    let linger = if finished { 5 } else { 1 };
    let _ = tokio::time::timeout(Duration::from_secs(linger), connections.shutdown()).await;
    if finished {
        tracing::info!("every accepted request answered; exiting");
        Ok(0)
    } else {
        Err(Error::Runtime(format!(
            "{left} accepted request(s) still running after --grace-s {} were cancelled; exiting",
            args.grace_s
        )))
    }
}

/// Wyoming has no authentication of its own: with a key protecting HTTP on an address beyond
/// loopback, serving it too would leave a door without a lock, unless the admin says so.
fn check_wyoming_exposure(args: &ServeArgs, has_key: bool) -> Result<()> {
    if args.wyoming_port.is_none() || !has_key || is_loopback(&args.host) {
        return Ok(());
    }
    if args.wyoming_unauthenticated {
        tracing::warn!(
            "Wyoming on {} has no authentication: anyone who reaches its port can transcribe \
             without the API key (--wyoming-unauthenticated)",
            args.host
        );
        return Ok(());
    }
    Err(Error::Usage(format!(
        "--wyoming-port on {} with --api-key-file: Wyoming has no authentication, so anyone \
         reaching the port could skip the key; serve it on 127.0.0.1 behind your own proxy, or \
         add --wyoming-unauthenticated to accept that",
        args.host
    )))
}

fn io_error(e: std::io::Error) -> Error {
    Error::Runtime(e.to_string())
}

async fn bind(host: &str, port: u16) -> Result<TcpListener> {
    TcpListener::bind((host, port))
        .await
        .map_err(|e| Error::Usage(format!("cannot listen on {host}:{port}: {e}")))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// What every model is loaded with: the command line's device, precision and decoding
/// defaults (those of `transcribe`), and the VAD when asked for.
struct LoadOptions {
    transcribe: TranscribeOptions,
    vad: Option<(crate::Vad, crate::VadOptions)>,
    offline: bool,
    device: crate::cli::DeviceArg,
}

fn load_options(args: &ServeArgs, global: &GlobalArgs) -> Result<LoadOptions> {
    let transcribe = TranscribeOptions::default()
        .encoder(crate::options::encoder_options(
            args.device,
            args.precision,
            args.require_npu,
        ))
        .decoding(crate::options::decoding_of(&args.decoding))
        .kv_storage(crate::options::kv_storage_of(args.kv_storage));
    transcribe.decoding.check()?;
    Ok(LoadOptions {
        transcribe,
        vad: crate::options::vad_of(&args.vad, global)?,
        offline: global.offline,
        device: args.device,
    })
}

/// The models asked for: `--model` (repeated), else `$NPU_WHISPER_MODEL`, else base.
fn model_names(asked: &[String]) -> Vec<String> {
    if !asked.is_empty() {
        return asked.to_vec();
    }
    vec![match std::env::var(crate::options::MODEL_ENV) {
        Ok(v) if !v.is_empty() => v,
        _ => crate::options::DEFAULT_MODEL.to_string(),
    }]
}

/// Open (fetching if needed) and load every model: the transcriber where the model has a
/// tokenizer, the encoder alone where it has not.
fn load(names: &[String], options: LoadOptions) -> Result<Vec<Loaded>> {
    let started = Instant::now();
    let mut loaded: Vec<Loaded> = Vec::new();
    for asked in names {
        let model = crate::Model::fetch(
            asked,
            &crate::FetchOptions::default()
                .offline(options.offline)
                .progress(crate::progress::stderr_progress(true)),
        )?;
        // Requests name it by its short name (a directory's name, not its path).
        let name = model.name().to_string();
        if loaded.iter().any(|m| m.name == name) {
            continue;
        }
        let (encoder, transcriber) = if model.can_transcribe() {
            let mut transcriber = Transcriber::new(&model, options.transcribe.clone())?;
            if let Some((vad, vad_options)) = &options.vad {
                transcriber = transcriber.with_vad(vad.clone(), vad_options.clone());
            }
            (transcriber.encoder().clone(), Some(transcriber))
        } else {
            tracing::warn!("{name} has no tokenizer: it serves embeddings only");
            (
                crate::Encoder::new(&model, &options.transcribe.encoder)?,
                None,
            )
        };
        crate::options::log_device_note(encoder.device_note(), options.device);
        tracing::info!(
            "loaded {name}: encoder {} on {}",
            encoder.precision().name(),
            if encoder.device_note().is_some() {
                "the cpu"
            } else {
                "the requested device"
            }
        );
        loaded.push(Loaded {
            name,
            model,
            encoder,
            transcriber,
        });
    }
    tracing::info!(
        "{} model(s) loaded in {:.0} ms",
        loaded.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(loaded)
}

/// The routes and their layers. The API routes need the key (when one is set), are refused
/// while draining, and read bodies under the size limit (the time limit is the form reader's);
/// /health and /metrics are open. Every response is logged and counted by route pattern, and
/// every error status carries OpenAI's JSON error body.
fn router(service: Arc<Service>) -> Router {
    let limits = &service.limits;
    let api = Router::new()
        .route("/v1/audio/transcriptions", post(openai::transcriptions))
        .route("/v1/audio/translations", post(openai::translations))
        .route("/v1/audio/embeddings", post(embeddings::embeddings))
        .route("/v1/models", get(openai::models))
        .route("/v1/models/{model}", get(openai::model))
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(limits.max_upload_bytes as usize))
        .layer(middleware::from_fn(limits::require_body_length))
        .layer(middleware::from_fn_with_state(
            service.clone(),
            limits::require_key,
        ))
        .layer(middleware::from_fn_with_state(
            service.clone(),
            limits::admit_unless_draining,
        ));
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .merge(api)
        .fallback(not_found)
        .layer(middleware::map_response(http_errors::json_error_bodies))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .layer(middleware::from_fn_with_state(service.clone(), log_request))
        .with_state(service)
}

/// Serve HTTP/1.1 connections until `stop` fires; the returned watcher closes them. Each
/// connection holds a place under --max-connections for its life; hyper's own answers to
/// unparseable requests get JSON bodies (`http_errors::JsonErrorIo`).
async fn accept_http(
    listener: TcpListener,
    app: Router,
    service: Arc<Service>,
    stop: Arc<Notify>,
    connections: hyper_util::server::graceful::GracefulShutdown,
) -> hyper_util::server::graceful::GracefulShutdown {
    let header_timeout = service.limits.client_timeout;
    let hyper_service = hyper_util::service::TowerToHyperService::new(app);
    loop {
        let stopped = stop.notified();
        let (stream, peer): (_, SocketAddr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    service.connections.accept_failed(e).await;
                    continue;
                }
            },
            () = stopped => return connections,
        };
        let Some((stream, place)) = service
            .connections
            .admit(stream, connections::Protocol::Http)
        else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            // Slow or stalled headers (slowloris) end the connection.
            .header_read_timeout(header_timeout)
            .serve_connection(
                TokioIo::new(http_errors::JsonErrorIo::new(stream)),
                hyper_service.clone(),
            );
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("connection from {peer}: {e}");
            }
            drop(place);
        });
    }
}

/// One log line and the metrics for each request: method, route pattern, status, audio
/// seconds, milliseconds. A request whose client goes away before the answer (its future is
/// dropped, which also stops its job) is logged and counted as cancelled.
async fn log_request(
    State(service): State<Arc<Service>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let mut watch = Unanswered {
        service: &service,
        method: &method,
        route: &route,
        started,
        answered: false,
    };
    let response = next.run(request).await;
    watch.answered = true;
    let seconds = started.elapsed().as_secs_f64();
    let audio = response
        .extensions()
        .get::<openai::AudioSeconds>()
        .map(|a| format!(" audio {:.2} s", a.0))
        .unwrap_or_default();
    let status = response.status().as_u16();
    service.metrics.record_request(&route, status, seconds);
    tracing::info!("{method} {route} {status}{audio} {:.0} ms", seconds * 1e3);
    response
}

/// A request on its way: if it is dropped unanswered, its client went away.
struct Unanswered<'a> {
    service: &'a Service,
    method: &'a axum::http::Method,
    route: &'a str,
    started: Instant,
    answered: bool,
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        if !self.answered {
            self.service.metrics.record_cancelled(self.route);
            tracing::info!(
                "{} {} cancelled: the client went away after {:.0} ms",
                self.method,
                self.route,
                self.started.elapsed().as_secs_f64() * 1e3
            );
        }
    }
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "No such route on this server.").code("unknown_route")
}

fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::from(state::Panicked(state::panic_message(&panic))).into_response()
}

/// Ready (200) once every model is loaded; 503 while loading and while draining.
async fn health(State(service): State<Arc<Service>>) -> Response {
    let (status, state) = match service.models.get() {
        _ if service.draining.load(Ordering::SeqCst) => {
            (StatusCode::SERVICE_UNAVAILABLE, "draining")
        }
        None => (StatusCode::SERVICE_UNAVAILABLE, "loading"),
        Some(_) => (StatusCode::OK, "ok"),
    };
    let models: Vec<&str> = service
        .models
        .get()
        .map(|m| m.iter().map(|m| m.name.as_str()).collect())
        .unwrap_or_default();
    (
        status,
        axum::Json(json!({
            "status": state,
            "models": models,
            "running": service.pool.running(),
            "waiting": service.pool.waiting(),
        })),
    )
        .into_response()
}

async fn metrics(State(service): State<Arc<Service>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        service.metrics.render(metrics::Now {
            waiting: service.pool.waiting(),
            running: service.pool.running(),
            connections_open: service.connections.open(),
            connections_refused: service.connections.refused(),
        }),
    )
        .into_response()
}
