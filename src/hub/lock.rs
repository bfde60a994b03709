//! Advisory file locks (`flock`), held while a file is downloaded or a model imported, so two
//! processes fetching the same model at once leave one good copy. The Hub's lock files sit
//! where huggingface_hub puts its own (`<cache>/.locks/models--ORG--NAME/<etag>.lock`), and
//! Python's `filelock` uses `flock` too, so the two tools exclude each other as well.

use std::fs::File;
use std::path::Path;

use super::progress::Progress;
use crate::error::{Error, Result};

/// A held lock; released when dropped (and by the kernel if the process dies).
pub struct Lock {
    _file: File,
}

impl Lock {
    /// Take the lock at `path` (created with its directories), waiting for another holder to
    /// finish; the wait is announced through `progress`.
    pub fn acquire(path: &Path, progress: &dyn Progress) -> Result<Lock> {
        let write_error = |source| Error::WriteOutput {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(write_error)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(write_error)?;
        if !try_flock(&file, libc::LOCK_EX | libc::LOCK_NB).map_err(write_error)? {
            progress.note(&format!(
                "waiting for another process that holds {}",
                path.display()
            ));
            // Polled rather than blocking, so Ctrl-C stops the wait.
            while !try_flock(&file, libc::LOCK_EX | libc::LOCK_NB).map_err(write_error)? {
                crate::interrupt::check()?;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        Ok(Lock { _file: file })
    }
}

/// `flock(fd, op)`: Ok(true) when taken, Ok(false) when it would block (or was interrupted).
fn try_flock(file: &File, op: libc::c_int) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file descriptor this process owns; no memory is passed.
    if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
        return Ok(true);
    }
    let error = std::io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::EWOULDBLOCK) | Some(libc::EINTR) => Ok(false),
        _ => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::progress::Silent;

    #[test]
    fn a_second_holder_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x/y.lock");
        let first = Lock::acquire(&path, &Silent).unwrap();
        let other = File::open(&path).unwrap();
        assert!(!try_flock(&other, libc::LOCK_EX | libc::LOCK_NB).unwrap());
        drop(first);
        assert!(try_flock(&other, libc::LOCK_EX | libc::LOCK_NB).unwrap());
    }
}
