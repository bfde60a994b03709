//! Ctrl-C and SIGTERM as a flag: long runs check it between windows and files, so an interrupted
//! run stops at a clean point, its temporary output is removed, and the process exits with 130.
//! A second signal while the first is being handled ends the process at once.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Install the handlers (once, from `main`).
pub fn install() {
    #[cfg(unix)]
    // SAFETY: the handler only touches an atomic and, on a second signal, calls `_exit`, both
    // async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
}

#[cfg(unix)]
extern "C" fn on_signal(_: libc::c_int) {
    if INTERRUPTED.swap(true, Ordering::SeqCst) {
        // SAFETY: `_exit` is async-signal-safe.
        unsafe { libc::_exit(crate::error::exit_code::INTERRUPTED) };
    }
}

/// `Err(Error::Interrupted)` once a signal has arrived.
pub fn check() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        Err(Error::Interrupted)
    } else {
        Ok(())
    }
}
