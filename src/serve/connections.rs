//! Open connections, counted and capped: HTTP and Wyoming share `--max-connections`. At the cap
//! a new connection is answered at once (HTTP 503 with OpenAI's JSON error, Wyoming an `error`
//! event) and closed; the first refusal of a burst is logged, and the burst's count when
//! connections are taken again, so a flood does not flood the log. Idle sockets therefore cannot
//! use up the process's file descriptors: the cap is checked against the open-file limit at
//! start (raised to its hard limit first).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{Error, Result};

/// File descriptors kept for what is not a client connection: listeners, model files, logs,
/// the NPU's device and buffers, refusals being written.
const RESERVED_FILES: u64 = 64;

/// Refusals answered at once; past this a refused connection is closed without an answer (a
/// flood must not open more sockets than the cap allows).
const REFUSALS_AT_ONCE: usize = 32;

/// How long a refused HTTP client gets to read its 503 before the socket closes.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

pub struct Connections {
    cap: usize,
    open: Arc<Semaphore>,
    refusing: Arc<Semaphore>,
    burst: AtomicBool,
    burst_started: std::sync::Mutex<Option<Instant>>,
    refused_in_burst: AtomicU64,
    refused_total: AtomicU64,
    /// Accept failures (such as running out of file descriptors) in the current burst.
    failing: AtomicBool,
}

/// Which protocol a refused connection speaks.
#[derive(Clone, Copy)]
pub enum Protocol {
    Http,
    Wyoming,
}

impl Connections {
    pub fn new(cap: usize) -> Connections {
        Connections {
            cap,
            open: Arc::new(Semaphore::new(cap)),
            refusing: Arc::new(Semaphore::new(REFUSALS_AT_ONCE)),
            burst: AtomicBool::new(false),
            burst_started: std::sync::Mutex::new(None),
            refused_in_burst: AtomicU64::new(0),
            refused_total: AtomicU64::new(0),
            failing: AtomicBool::new(false),
        }
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.cap - self.open.available_permits()
    }

    /// Connections refused since the start.
    pub fn refused(&self) -> u64 {
        self.refused_total.load(Ordering::Relaxed)
    }

    /// A new connection's place, held for its life; `None` at the cap (the stream is then
    /// answered and closed here).
    pub fn admit(
        &self,
        stream: TcpStream,
        protocol: Protocol,
    ) -> Option<(TcpStream, OwnedSemaphorePermit)> {
        match self.open.clone().try_acquire_owned() {
            Ok(permit) => {
                self.end_burst();
                Some((stream, permit))
            }
            Err(_) => {
                self.refused_total.fetch_add(1, Ordering::Relaxed);
                self.refused_in_burst.fetch_add(1, Ordering::Relaxed);
                if !self.burst.swap(true, Ordering::SeqCst) {
                    *self.burst_started.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some(Instant::now());
                    tracing::warn!(
                        "{} connections open (--max-connections): refusing new ones until some close",
                        self.cap
                    );
                }
                if let Ok(answering) = self.refusing.clone().try_acquire_owned() {
                    tokio::spawn(async move {
                        refuse(stream, protocol).await;
                        drop(answering);
                    });
                }
                None
            }
        }
    }

    /// An accept that failed: logged once per burst of failures, then a pause (the usual cause,
    /// no file descriptor left, does not mend by retrying at once).
    pub async fn accept_failed(&self, error: std::io::Error) {
        if !self.failing.swap(true, Ordering::SeqCst) {
            tracing::warn!("accepting connections fails: {error}; retrying every 100 ms");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    fn end_burst(&self) {
        if self.failing.swap(false, Ordering::SeqCst) {
            tracing::info!("accepting connections again");
        }
        if self.burst.swap(false, Ordering::SeqCst) {
            let refused = self.refused_in_burst.swap(0, Ordering::SeqCst);
            let since = self
                .burst_started
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .map_or(0.0, |t| t.elapsed().as_secs_f64());
            tracing::info!(
                "taking connections again: {refused} refused at the cap over {since:.1} s"
            );
        }
    }
}

/// Answer a connection over the cap and close it: HTTP gets 503 with a JSON body (then a moment
/// to read it: closing a socket with unread request bytes would reset it and lose the answer),
/// Wyoming an `error` event.
async fn refuse(mut stream: TcpStream, protocol: Protocol) {
    let bytes = match protocol {
        Protocol::Http => {
            let body = serde_json::json!({"error": {
                "message": "The server has too many open connections; retry shortly.",
                "type": "server_error",
                "param": null,
                "code": "too_many_connections",
            }})
            .to_string();
            format!(
                "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        }
        Protocol::Wyoming => {
            let data = serde_json::json!({"text": "too many open connections; retry shortly", "code": "too_many_connections"}).to_string();
            let mut event =
                serde_json::json!({"type": "error", "data_length": data.len()}).to_string();
            event.push('\n');
            event.push_str(&data);
            event.into_bytes()
        }
    };
    let answer = async {
        stream.write_all(&bytes).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<(), std::io::Error>(())
    };
    let _ = tokio::time::timeout(REFUSAL_LINGER, answer).await;
}

/// Raise the open-file limit to its hard limit and check that `cap` connections fit under it.
pub fn reserve_file_descriptors(cap: usize) -> Result<()> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    let soft = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Ok(());
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
        limit.rlim_cur
    };
    let needed = cap as u64 + RESERVED_FILES;
    if soft < needed {
        return Err(Error::Usage(format!(
            "--max-connections {cap} needs {needed} open files and this process may open {soft} \
             (ulimit -n; LimitNOFILE= under systemd): lower --max-connections or raise the limit"
        )));
    }
    Ok(())
}
