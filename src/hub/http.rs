//! The HTTP client of model downloads: ureq (blocking HTTP/1.1) over rustls, certificates checked
//! against the operating system's store (machines behind a TLS-inspecting proxy trust its CA
//! there, never in a bundled list), connect and per-read timeouts, redirects followed here (at
//! most five) so that the Hub's metadata headers on a redirect can be read and a token is only
//! ever sent to the origin it belongs to, and retries with backoff for transient failures.

use std::time::Duration;

use crate::error::{Error, Result};

/// Redirects followed per request, at most.
pub const MAX_REDIRECTS: usize = 5;
/// Attempts per request for transient failures (connection errors, timeouts, 429, 5xx).
pub const ATTEMPTS: usize = 4;

/// A response whose status and headers have arrived (the body is still to be read).
pub struct Reply {
    pub status: u16,
    /// The URL that answered (after same-origin redirects, see `Client::send`).
    pub url: String,
    response: ureq::http::Response<ureq::Body>,
}

impl Reply {
    /// A header's value, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
    }

    /// The body as a reader (bounded by the caller).
    pub fn into_reader(self) -> impl std::io::Read {
        self.response.into_body().into_reader()
    }

    /// The body as text, at most `limit` bytes.
    pub fn text(self, limit: u64) -> std::result::Result<String, ureq::Error> {
        self.response
            .into_body()
            .into_with_config()
            .limit(limit)
            .read_to_string()
    }
}

/// Why a request did not produce a response.
#[derive(Debug)]
pub enum Failure {
    /// The host could not be resolved or connected to at all (no network, wrong endpoint).
    Unreachable(String),
    /// A failure worth retrying: a dropped connection, a timeout.
    Transient(String),
    /// Anything else (TLS refused, malformed response): retrying will not help.
    Fatal(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Unreachable(s) | Failure::Transient(s) | Failure::Fatal(s) => f.write_str(s),
        }
    }
}

/// Classify a ureq error: unreachable, transient or fatal.
pub fn classify(error: &ureq::Error) -> Failure {
    use std::io::ErrorKind as K;
    let text = error.to_string();
    match error {
        ureq::Error::HostNotFound => Failure::Unreachable(format!("host not found ({text})")),
        ureq::Error::ConnectionFailed => Failure::Unreachable(text),
        ureq::Error::Io(io) => match io.kind() {
            K::ConnectionRefused | K::HostUnreachable | K::NetworkUnreachable => {
                Failure::Unreachable(text)
            }
            // getaddrinfo's failures reach us as uncategorised I/O errors: only the text says
            // the name did not resolve.
            _ if text.contains("lookup address") || text.contains("not known") => {
                Failure::Unreachable(text)
            }
            _ => Failure::Transient(text),
        },
        ureq::Error::Timeout(_) => Failure::Transient(text),
        ureq::Error::Protocol(_) => Failure::Transient(text),
        _ => Failure::Fatal(text),
    }
}

/// Timeouts and retry pacing; from the environment variables huggingface_hub uses.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Connection set-up, and waiting for a response's headers.
    pub connect: Duration,
    /// Longest silence while reading a body.
    pub read: Duration,
    /// First retry delay; doubled for each further retry.
    pub backoff: Duration,
}

impl Timeouts {
    /// `HF_HUB_ETAG_TIMEOUT` (connect and headers) and `HF_HUB_DOWNLOAD_TIMEOUT` (body reads),
    /// seconds, default 10 each as in huggingface_hub.
    pub fn from_env() -> Self {
        let seconds = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s > 0.0)
                .map(Duration::from_secs_f64)
        };
        Timeouts {
            connect: seconds("HF_HUB_ETAG_TIMEOUT").unwrap_or(Duration::from_secs(10)),
            read: seconds("HF_HUB_DOWNLOAD_TIMEOUT").unwrap_or(Duration::from_secs(10)),
            backoff: Duration::from_millis(500),
        }
    }
}

/// One agent for a whole fetch (connections are reused).
pub struct Client {
    agent: ureq::Agent,
    pub timeouts: Timeouts,
    /// `Authorization: Bearer` token and the origin (scheme://host:port) it is sent to.
    token: Option<(String, String)>,
    /// `Accept` header of every request, if set.
    accept: Option<String>,
}

impl Client {
    pub fn new(timeouts: Timeouts) -> Self {
        use ureq::tls::{RootCerts, TlsConfig, TlsProvider};
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(RootCerts::PlatformVerifier)
            .unversioned_rustls_crypto_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .build();
        let config = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("npu-whisper/", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(timeouts.connect))
            .timeout_recv_response(Some(timeouts.connect))
            .timeout_per_read(Some(timeouts.read))
            .build();
        Client {
            agent: ureq::Agent::new_with_config(config),
            timeouts,
            token: None,
            accept: None,
        }
    }

    /// Send `accept` as the `Accept` header.
    pub fn with_accept(mut self, accept: &str) -> Self {
        self.accept = Some(accept.to_string());
        self
    }

    /// Send `token` as a Bearer token to `origin_of(endpoint)`, and nowhere else.
    pub fn with_token(mut self, endpoint: &str, token: Option<String>) -> Self {
        self.token = token.map(|t| (origin_of(endpoint).to_string(), t));
        self
    }

    /// One request, following relative redirects (a renamed repository answers 307 with a
    /// path) up to `MAX_REDIRECTS`, as huggingface_hub does; an absolute redirect (the Hub's
    /// LFS files to their CDN) is returned as is, for the caller to read its headers and
    /// follow. No retries here.
    pub fn send(
        &self,
        method: &str,
        url: &str,
        range_from: Option<u64>,
    ) -> std::result::Result<Reply, Failure> {
        self.follow(method, url, range_from, false)
    }

    /// Follow redirects of any origin (for downloads from a CDN URL), at most `MAX_REDIRECTS`.
    pub fn send_following(
        &self,
        method: &str,
        url: &str,
        range_from: Option<u64>,
    ) -> std::result::Result<Reply, Failure> {
        self.follow(method, url, range_from, true)
    }

    fn follow(
        &self,
        method: &str,
        url: &str,
        range_from: Option<u64>,
        absolute_too: bool,
    ) -> std::result::Result<Reply, Failure> {
        let mut url = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let reply = self.send_once(method, &url, range_from)?;
            let location = match (reply.status, reply.header("location")) {
                (301 | 302 | 303 | 307 | 308, Some(location)) => location.to_string(),
                _ => return Ok(reply),
            };
            let absolute = location.contains("://") || location.starts_with("//");
            if absolute && !absolute_too {
                return Ok(reply);
            }
            url = join_url(&url, &location);
        }
        Err(Failure::Fatal(format!(
            "more than {MAX_REDIRECTS} redirects, the last to {}",
            redact(&url)
        )))
    }

    fn send_once(
        &self,
        method: &str,
        url: &str,
        range_from: Option<u64>,
    ) -> std::result::Result<Reply, Failure> {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(url)
            // Bytes as stored: the digests are of the file, not of a compressed transfer.
            .header("accept-encoding", "identity");
        if let Some(from) = range_from.filter(|&f| f > 0) {
            request = request.header("range", format!("bytes={from}-"));
        }
        if let Some(accept) = &self.accept {
            request = request.header("accept", accept.as_str());
        }
        if let Some((origin, token)) = &self.token
            && origin_of(url) == origin
        {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request
            .body(())
            .map_err(|e| Failure::Fatal(format!("bad request for {url}: {e}")))?;
        let response = self.agent.run(request).map_err(|e| classify(&e))?;
        Ok(Reply {
            status: response.status().as_u16(),
            url: url.to_string(),
            response,
        })
    }

    /// `send` with retries and backoff for transient failures, 429 and 5xx statuses. A host
    /// that cannot be reached fails at once (`Error::Network`): there is nothing to wait for.
    pub fn send_retrying(&self, method: &str, url: &str) -> Result<Reply> {
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(self.timeouts.backoff * (1 << (attempt - 1)));
            }
            match self.send(method, url, None) {
                Ok(reply) if reply.status == 429 || reply.status >= 500 => {
                    last = format!("HTTP {} from {}", reply.status, reply.url);
                    tracing::info!("{last}; retrying");
                }
                Ok(reply) => return Ok(reply),
                Err(Failure::Transient(why)) => {
                    last = why;
                    tracing::info!("{method} {}: {last}; retrying", redact(url));
                }
                Err(Failure::Unreachable(why)) => {
                    return Err(Error::Network {
                        endpoint: origin_of(url).to_string(),
                        reason: why,
                    });
                }
                Err(Failure::Fatal(why)) => {
                    return Err(Error::Network {
                        endpoint: origin_of(url).to_string(),
                        reason: why,
                    });
                }
            }
        }
        Err(Error::Network {
            endpoint: origin_of(url).to_string(),
            reason: format!("{last} (after {ATTEMPTS} attempts)"),
        })
    }
}

/// `scheme://host[:port]` of a URL (the whole string when it has no path).
pub fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

/// A URL without its query string (presigned CDN URLs carry credentials there).
pub fn redact(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// Resolve a `Location` against the URL that sent it.
pub fn join_url(base: &str, location: &str) -> String {
    if location.contains("://") {
        location.to_string()
    } else if let Some(rest) = location.strip_prefix("//") {
        let scheme = base.split("://").next().unwrap_or("https");
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{}{location}", origin_of(base))
    } else {
        let dir = match redact(base).rfind('/') {
            Some(i) if i >= origin_of(base).len() => &base[..=i],
            _ => base,
        };
        format!("{dir}{location}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_and_locations() {
        assert_eq!(
            origin_of("https://huggingface.co/api/models/x"),
            "https://huggingface.co"
        );
        assert_eq!(origin_of("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(
            join_url("http://h:1/a/b/c", "/cdn/x"),
            "http://h:1/cdn/x".to_string()
        );
        assert_eq!(join_url("http://h:1/a/b", "c"), "http://h:1/a/c");
        assert_eq!(
            join_url("https://h/a", "//cdn.example/x?y"),
            "https://cdn.example/x?y"
        );
        assert_eq!(join_url("https://h/a", "https://o/z"), "https://o/z");
        assert_eq!(redact("https://cdn/x?X-Amz-Signature=s"), "https://cdn/x");
    }
}
