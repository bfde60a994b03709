//! What every request shares: the loaded models, the admission queue in front of the CPU pool,
//! the count of accepted requests a shutdown waits for, and the metrics.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use tokio::sync::{Notify, Semaphore};

use super::connections::Connections;
use super::limits::{ApiKey, Limits};
use super::metrics::Metrics;
use crate::{CancelToken, Encoder, Model, Transcriber};

/// A model kept loaded: its encoder always, its transcriber when it has a tokenizer.
pub struct Loaded {
    /// Its short name (`base`; a directory's name), which requests use.
    pub name: String,
    pub model: Model,
    pub encoder: Encoder,
    pub transcriber: Option<Transcriber>,
}

/// The service.
pub struct Service {
    /// Set once, when every model is loaded: until then the service is not ready.
    pub models: OnceLock<Vec<Loaded>>,
    pub limits: Limits,
    pub key: Option<ApiKey>,
    pub pool: Arc<Pool>,
    pub metrics: Metrics,
    /// SIGTERM or Ctrl-C arrived: new requests are refused.
    pub draining: AtomicBool,
    /// The parent of every request's cancel token: cancelled when a shutdown's grace is over.
    pub stop: CancelToken,
    /// Open connections (HTTP and Wyoming), against --max-connections.
    pub connections: Connections,
    accepted: AtomicUsize,
    all_done: Notify,
}

impl Service {
    pub fn new(
        limits: Limits,
        key: Option<ApiKey>,
        pool: Pool,
        connections: Connections,
    ) -> Service {
        Service {
            stop: CancelToken::new(),
            connections,
            models: OnceLock::new(),
            limits,
            key,
            pool: Arc::new(pool),
            metrics: Metrics::default(),
            draining: AtomicBool::new(false),
            accepted: AtomicUsize::new(0),
            all_done: Notify::new(),
        }
    }

    /// The model a request names: `None`, empty or OpenAI's `whisper-1` mean the first one.
    pub fn model(&self, name: Option<&str>) -> Option<&Loaded> {
        let models = self.models.get()?;
        match name {
            None | Some("") | Some("whisper-1") => models.first(),
            Some(name) => models.iter().find(|m| m.name == name),
        }
    }

    /// Count a request as accepted (a shutdown waits for it), unless the service is draining.
    /// The count goes up before the flag is read, so a shutdown that has seen no request
    /// cannot miss one that saw no shutdown.
    pub fn accept(self: &Arc<Self>) -> Option<Accepted> {
        self.accepted.fetch_add(1, Ordering::SeqCst);
        let accepted = Accepted(self.clone());
        (!self.draining.load(Ordering::SeqCst)).then_some(accepted)
    }

    /// A new request's cancel token (cancelled too when the shutdown's grace is over).
    pub fn request_token(&self) -> CancelToken {
        self.stop.child()
    }

    /// Accepted requests not yet answered.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Wait until no accepted request is left (call after setting `draining`).
    pub async fn drained(&self) {
        loop {
            let notified = self.all_done.notified();
            if self.accepted() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// An accepted request; dropping it (the response sent, or the connection gone) releases it.
pub struct Accepted(Arc<Service>);

impl Drop for Accepted {
    fn drop(&mut self) {
        if self.0.accepted.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.all_done.notify_waiters();
        }
    }
}

/// The work queue: at most `concurrency` jobs run at once, each on the rayon pool (so the
/// whole service computes on that one pool's threads and never oversubscribes the CPU), and at
/// most `queue` more wait for a turn.
pub struct Pool {
    running: Arc<Semaphore>,
    concurrency: usize,
    queue: usize,
    /// Admitted and not finished: waiting or running.
    admitted: AtomicUsize,
    running_now: AtomicUsize,
    /// Mean seconds per job (exponentially weighted, in microseconds), for Retry-After.
    mean_job_us: AtomicU64,
}

/// The queue is full; come back in this many seconds.
#[derive(Debug)]
pub struct Busy {
    pub retry_after_s: u64,
}

/// A job that panicked: the request fails, the service goes on.
#[derive(Debug)]
pub struct Panicked(pub String);

impl Pool {
    pub fn new(concurrency: usize, queue: usize) -> Pool {
        Pool {
            running: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            queue,
            admitted: AtomicUsize::new(0),
            running_now: AtomicUsize::new(0),
            mean_job_us: AtomicU64::new(2_000_000),
        }
    }

    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// Jobs admitted and waiting for a turn.
    pub fn waiting(&self) -> usize {
        self.admitted
            .load(Ordering::SeqCst)
            .saturating_sub(self.running_now.load(Ordering::SeqCst))
    }

    /// Jobs running.
    pub fn running(&self) -> usize {
        self.running_now.load(Ordering::SeqCst)
    }

    /// A place in the queue, or `Busy` when `concurrency + queue` jobs are already admitted.
    pub fn admit(self: &Arc<Self>) -> Result<Admission, Busy> {
        let limit = self.concurrency + self.queue;
        let admitted = self
            .admitted
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < limit).then_some(n + 1)
            });
        match admitted {
            Ok(_) => Ok(Admission(self.clone())),
            Err(_) => {
                // The queue drains `concurrency` jobs per mean job time.
                let mean_s = self.mean_job_us.load(Ordering::Relaxed) as f64 / 1e6;
                let waits = (self.queue as f64 / self.concurrency as f64).max(1.0);
                Err(Busy {
                    retry_after_s: (waits * mean_s).ceil().clamp(1.0, 3600.0) as u64,
                })
            }
        }
    }
}

/// A job's place in the queue; `run` waits for its turn.
pub struct Admission(Arc<Pool>);

/// Cancels its token when dropped before `disarm`: a request's future dropped (its client gone)
/// stops its job at the job's next check.
pub struct CancelOnDrop(Option<CancelToken>);

impl CancelOnDrop {
    pub fn new(token: CancelToken) -> Self {
        CancelOnDrop(Some(token))
    }

    pub fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(token) = self.0.take() {
            token.cancel();
        }
    }
}

impl Admission {
    /// Run `job` on the rayon pool when a turn comes; a panic in it comes back as `Panicked`.
    /// `cancel` is the job's to check: it is cancelled when the caller gives up (this future is
    /// dropped: the client went away), so the job stops at its next window or decoder step. The
    /// turn is held by the job itself until then.
    pub async fn run<T: Send + 'static>(
        &self,
        cancel: CancelToken,
        job: impl FnOnce(CancelToken) -> T + Send + 'static,
    ) -> Result<T, Panicked> {
        let guard = CancelOnDrop::new(cancel.clone());
        let outcome = self.run_uncancelled(move || job(cancel)).await;
        guard.disarm();
        outcome
    }

    async fn run_uncancelled<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Panicked> {
        let pool = self.0.clone();
        let turn = pool
            .running
            .clone()
            .acquire_owned()
            .await
            .expect("never closed");
        let (sender, receiver) = tokio::sync::oneshot::channel();
        rayon::spawn(move || {
            pool.running_now.fetch_add(1, Ordering::SeqCst);
            let started = Instant::now();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            let us = started.elapsed().as_micros() as u64;
            let mean = pool.mean_job_us.load(Ordering::Relaxed);
            pool.mean_job_us
                .store((mean * 7 + us) / 8, Ordering::Relaxed);
            pool.running_now.fetch_sub(1, Ordering::SeqCst);
            drop(turn);
            let _ = sender.send(outcome);
        });
        match receiver.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(panic)) => Err(Panicked(panic_message(&panic))),
            Err(_) => Err(Panicked("the job was dropped".into())),
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.admitted.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a panic said, when it said it as text.
pub fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}
