//! How a download shows on stderr: a progress bar when stderr is a terminal, one line per note
//! otherwise (logs and pipes never see control characters), or nothing (`-q`).

use crate::DownloadProgress as Progress;
use npu_whisper::tools::human_bytes;

/// Nothing shown.
struct Silent;

impl Progress for Silent {
    fn start(&self, _: &str, _: Option<u64>, _: u64) {}
    fn set(&self, _: u64) {}
    fn finish(&self) {}
    fn note(&self, _: &str) {}
}

/// The notes on stderr, one line each (which source, how much); a file is named only when a
/// partial download of it is resumed.
struct Lines;

impl Progress for Lines {
    fn start(&self, what: &str, total: Option<u64>, done: u64) {
        if done > 0 {
            let size = total
                .map(|t| format!(" of {}", human_bytes(t)))
                .unwrap_or_default();
            eprintln!(
                "npu-whisper: resuming {what} at {}{size}",
                human_bytes(done)
            );
        }
    }
    fn set(&self, _: u64) {}
    fn finish(&self) {}
    fn note(&self, text: &str) {
        eprintln!("npu-whisper: {text}");
    }
}

/// A bar on a terminal.
struct Bar {
    bar: indicatif::ProgressBar,
}

impl Bar {
    fn new() -> Self {
        let bar = indicatif::ProgressBar::hidden();
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} (eta {eta})",
        ) {
            bar.set_style(style);
        }
        Bar { bar }
    }
}

impl Progress for Bar {
    fn start(&self, what: &str, total: Option<u64>, done: u64) {
        self.bar
            .set_draw_target(indicatif::ProgressDrawTarget::stderr());
        self.bar.reset();
        self.bar.set_length(total.unwrap_or(0));
        self.bar.set_position(done);
        self.bar.set_message(what.to_string());
    }
    fn set(&self, done: u64) {
        self.bar.set_position(done);
    }
    fn finish(&self) {
        self.bar.finish_and_clear();
    }
    fn note(&self, text: &str) {
        self.bar.suspend(|| eprintln!("npu-whisper: {text}"));
    }
}

/// The reporter for this process: a bar when stderr is a terminal (unless
/// `HF_HUB_DISABLE_PROGRESS_BARS=1`, as huggingface_hub reads it), lines otherwise, nothing
/// when `quiet`.
pub fn stderr_progress(quiet: bool) -> Box<dyn Progress + Send + Sync> {
    use std::io::IsTerminal;
    let bars_disabled = std::env::var("HF_HUB_DISABLE_PROGRESS_BARS").is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    });
    if quiet {
        Box::new(Silent)
    } else if std::io::stderr().is_terminal() && !bars_disabled {
        Box::new(Bar::new())
    } else {
        Box::new(Lines)
    }
}
