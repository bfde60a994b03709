//! How a download tells its caller where it is: the `Progress` trait (the `npu-whisper`
//! binary shows a bar or lines on stderr through it), and `Silent`, the library's default.

/// Receives a download's progress.
pub trait Progress {
    /// A file of `total` bytes (if known) starts, `done` of them already on disk (resumed).
    fn start(&self, what: &str, total: Option<u64>, done: u64);
    /// `done` bytes of the current file are on disk.
    fn set(&self, done: u64);
    /// The current file is complete.
    fn finish(&self);
    /// A one-line note (which source, a fallback): always shown unless silent.
    fn note(&self, text: &str);
}

/// Nothing shown.
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _: &str, _: Option<u64>, _: u64) {}
    fn set(&self, _: u64) {}
    fn finish(&self) {}
    fn note(&self, _: &str) {}
}

/// `145.2 MB`, `3.09 GB`: decimal units, as the Hub shows sizes.
pub fn human_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{bytes} B")
    }
}
