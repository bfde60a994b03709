//! `stream=true` on the transcription routes, in OpenAI's format: Server-Sent Events, a
//! `transcript.text.delta` as each segment is decoded, then `transcript.text.done` with the whole
//! text (the deltas joined are exactly that text). An error after the stream has started comes
//! as an event `{"error": {...}}`, which the official client raises as an `APIError`.
//!
//! The job runs in the queue like any other; its segments reach the response through a channel.
//! Dropping the response body (the client went away) cancels the job.

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use hyper::body::Frame;
use serde_json::json;
use tokio::sync::mpsc::UnboundedReceiver;

use super::errors::ApiError;
use super::state::CancelOnDrop;

/// What a streaming job tells the response, in order: `Started` (or `Failed` before it), then
/// `Delta`s, then `Done` or `Failed`.
pub enum Progress {
    Started { duration: f64 },
    Delta(String),
    Done { text: String },
    Failed(ApiError),
}

/// Segment texts turned into deltas whose concatenation is the transcript's text trimmed, as
/// the non-streamed `text` is: leading whitespace dropped, trailing whitespace held back until
/// more text follows it.
#[derive(Default)]
pub struct Deltas {
    started: bool,
    held: String,
}

impl Deltas {
    /// The delta for the next segment's text (empty: nothing to send yet).
    pub fn next(&mut self, text: &str) -> String {
        let text = if self.started {
            text
        } else {
            text.trim_start()
        };
        if text.is_empty() {
            return String::new();
        }
        self.started = true;
        let body = text.trim_end();
        let mut delta = std::mem::take(&mut self.held);
        if body.is_empty() {
            self.held = delta + text;
            return String::new();
        }
        delta.push_str(body);
        self.held = text[body.len()..].to_string();
        delta
    }
}

/// The response once the job has started: an event stream fed by `events`.
pub fn response(events: UnboundedReceiver<Progress>, guard: CancelOnDrop) -> Response {
    let body = Body::new(EventBody {
        events,
        _cancel_when_dropped: guard,
        finished: false,
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

struct EventBody {
    events: UnboundedReceiver<Progress>,
    _cancel_when_dropped: CancelOnDrop,
    finished: bool,
}

fn event(data: serde_json::Value) -> Frame<Bytes> {
    Frame::data(Bytes::from(format!("data: {data}\n\n")))
}

impl hyper::body::Body for EventBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        loop {
            if self.finished {
                return Poll::Ready(None);
            }
            let next = match self.events.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(next) => next,
            };
            let frame = match next {
                Some(Progress::Started { .. }) => continue,
                Some(Progress::Delta(delta)) => {
                    event(json!({"type": "transcript.text.delta", "delta": delta}))
                }
                Some(Progress::Done { text }) => {
                    self.finished = true;
                    event(json!({"type": "transcript.text.done", "text": text}))
                }
                Some(Progress::Failed(error)) => {
                    self.finished = true;
                    Frame::data(Bytes::from(format!("data: {}\n\n", error.json_body())))
                }
                None => {
                    self.finished = true;
                    let error = ApiError::new(
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                        "Internal error while processing the request (logged on the server).",
                    );
                    Frame::data(Bytes::from(format!("data: {}\n\n", error.json_body())))
                }
            };
            return Poll::Ready(Some(Ok(frame)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_join_to_the_trimmed_text() {
        for segments in [
            vec![" And so my fellow Americans,", " ask not.", " "],
            vec!["  ", " Hello ", "", " world.  "],
            vec![],
            vec![" one"],
        ] {
            let mut deltas = Deltas::default();
            let joined: String = segments.iter().map(|s| deltas.next(s)).collect();
            assert_eq!(joined, segments.concat().trim(), "{segments:?}");
        }
    }
}
