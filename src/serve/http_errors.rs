//! Every error status with OpenAI's JSON error body, whoever answers it. The router's own
//! bodyless answers (405 from a route that takes another method, the body-limit layer's 413) are
//! given one by a response layer; hyper's automatic answers to requests it cannot parse (400, 414
//! URI too long, 431 headers too large) are written by hyper itself, below the router, so the
//! connection's socket is wrapped and such an answer's head is replaced, as it is written, by
//! the same head with a JSON body.

use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::errors::ApiError;

/// The error for a status the router or hyper answered without a body.
fn error_for(status: StatusCode) -> ApiError {
    let (message, code) = match status.as_u16() {
        400 => ("The request is not valid HTTP/1.1.", "bad_request"),
        405 => (
            "This route does not take that method.",
            "method_not_allowed",
        ),
        408 => ("The request took too long to arrive.", "request_timeout"),
        411 => (
            "The request body needs a Content-Length or chunked transfer encoding.",
            "length_required",
        ),
        413 => (
            "The request body is larger than this server accepts.",
            "upload_too_large",
        ),
        414 => ("The request's URI is too long.", "uri_too_long"),
        431 => (
            "The request's headers are too large or too many.",
            "headers_too_large",
        ),
        _ => (
            status.canonical_reason().unwrap_or("The request failed."),
            "http_error",
        ),
    };
    ApiError::new(status, message).code(code)
}

/// Response layer: an error status without a JSON body gets one (headers such as `Allow` kept).
pub async fn json_error_bodies(response: Response) -> Response {
    let status = response.status();
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || json {
        return response;
    }
    let (parts, _) = response.into_parts();
    let mut answer = error_for(status).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            answer.headers_mut().insert(name, value.clone());
        }
    }
    answer
}

/// A connection's socket, with hyper's bodyless error answers given a JSON body.
pub struct JsonErrorIo<T> {
    inner: T,
    /// A replacement being written: its bytes and how many are out.
    pending: Option<(Vec<u8>, usize)>,
}

impl<T> JsonErrorIo<T> {
    pub fn new(inner: T) -> Self {
        JsonErrorIo {
            inner,
            pending: None,
        }
    }
}

/// `head`, when it is a whole response head of an error status with `content-length: 0` (what
/// hyper writes for a request it cannot parse): the same head with a JSON body.
fn with_json_body(head: &[u8]) -> Option<Vec<u8>> {
    const EMPTY: &[u8] = b"\r\ncontent-length: 0\r\n";
    let status: u16 = std::str::from_utf8(head.strip_prefix(b"HTTP/1.1 ")?.get(..3)?)
        .ok()?
        .parse()
        .ok()?;
    let status = StatusCode::from_u16(status).ok()?;
    if !(status.is_client_error() || status.is_server_error()) || !head.ends_with(b"\r\n\r\n") {
        return None;
    }
    if head.windows(4).filter(|w| w == b"\r\n\r\n").count() != 1 {
        return None;
    }
    let at = head.windows(EMPTY.len()).position(|w| w == EMPTY)?;
    let body = error_for(status).json_body();
    let mut out = head[..at].to_vec();
    out.extend_from_slice(
        format!(
            "\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&head[at + EMPTY.len()..]);
    out.extend_from_slice(body.as_bytes());
    Some(out)
}

impl<T: AsyncWrite + Unpin> JsonErrorIo<T> {
    /// Write out a pending replacement; ready once none is left.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while let Some((bytes, written)) = &mut self.pending {
            if *written == bytes.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonErrorIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonErrorIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        if let Some(replacement) = with_json_body(buf) {
            self.pending = Some((replacement, 0));
            // The head counts as written; the replacement goes out now or on the next call.
            let _ = self.poll_pending(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        if let Some(first) = bufs.iter().find(|b| !b.is_empty())
            && with_json_body(first).is_some()
        {
            return self.poll_write(cx, first);
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_bodyless_error_heads_get_a_json_body_and_nothing_else_changes() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\ndate: Mon, 07 Dec 2026 14:57:02 GMT\r\n\r\n";
        let out = String::from_utf8(with_json_body(head).unwrap()).unwrap();
        let (new_head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(new_head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(new_head.contains("content-type: application/json"));
        assert!(new_head.contains(&format!("content-length: {}", body.len())));
        assert!(new_head.contains("date: Mon, 07 Dec 2026"));
        let doc: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(doc["error"]["code"], "headers_too_large");
        // Not an error, already a body, or not a whole head: left alone.
        for other in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n",
            b"{\"text\": \"HTTP/1.1 400 \"}",
        ] {
            assert!(
                with_json_body(other).is_none(),
                "{:?}",
                String::from_utf8_lossy(other)
            );
        }
    }
}
