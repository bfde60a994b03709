//! `CancelToken`: how a caller stops a long encode or transcription from another thread (a
//! service whose client went away, a shutdown past its grace). Plain std: an atomic flag the
//! work checks at its natural boundaries, no async runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

/// A flag that stops work at its next check: before each 30 s window in
/// [`Encoder::encode_cancellable`](crate::Encoder::encode_cancellable), and before each window
/// and each decoder step in [`Transcriber::transcribe_with`](crate::Transcriber::transcribe_with).
/// Clones share the flag; a cancelled call returns [`Error::Cancelled`].
///
/// ```
/// use npu_whisper::CancelToken;
/// let token = CancelToken::new();
/// let for_the_worker = token.clone();
/// assert!(for_the_worker.check().is_ok());
/// token.cancel();
/// assert!(for_the_worker.is_cancelled());
/// assert!(for_the_worker.check().is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<Flag>);

#[derive(Debug, Default)]
struct Flag {
    cancelled: AtomicBool,
    /// Cancelling the parent cancels this one too.
    parent: Option<Arc<Flag>>,
}

impl CancelToken {
    /// A token not yet cancelled.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// A token cancelled by its own [`cancel`](Self::cancel) or by this one's (a service's
    /// shutdown stops every request; a request's end stops only its own work).
    ///
    /// ```
    /// use npu_whisper::CancelToken;
    /// let service = CancelToken::new();
    /// let (first, second) = (service.child(), service.child());
    /// first.cancel();
    /// assert!(!second.is_cancelled() && !service.is_cancelled());
    /// service.cancel();
    /// assert!(second.is_cancelled());
    /// ```
    pub fn child(&self) -> CancelToken {
        CancelToken(Arc::new(Flag {
            cancelled: AtomicBool::new(false),
            parent: Some(self.0.clone()),
        }))
    }

    /// Stop the work that checks this token (its clones and children) at its next check.
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
    }

    /// Whether this token, or one it is a child of, was cancelled.
    pub fn is_cancelled(&self) -> bool {
        let mut flag = Some(&self.0);
        while let Some(f) = flag {
            if f.cancelled.load(Ordering::SeqCst) {
                return true;
            }
            flag = f.parent.as_ref();
        }
        false
    }

    /// `Err(Error::Cancelled)` once cancelled, `Err(Error::Interrupted)` once Ctrl-C or
    /// SIGTERM arrived (after [`install_signal_handlers`](crate::tools::install_signal_handlers)).
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            return Err(Error::Cancelled);
        }
        crate::interrupt::check()
    }
}
