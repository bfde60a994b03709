//! The 30 s windows the encoder runs over: which samples each holds, how many of its 1500
//! output frames hold audio, and which windows a voice activity detector keeps. One place for
//! this arithmetic, used by [`Encoder::encode`](crate::Encoder::encode), `npu-whisper encode`
//! and the service.

use std::ops::Range;

use crate::SpeechRange;
use crate::audio::SAMPLE_RATE;
use crate::mel::{HOP_LENGTH, WINDOW_SAMPLES};
pub use crate::model::config::ENCODER_FRAMES;

/// Audio samples per encoder frame (20 ms): the second convolution halves the 10 ms mel frames.
pub const SAMPLES_PER_FRAME: usize = 2 * HOP_LENGTH;

/// One 30 s window of a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderWindow {
    /// Position among all the recording's windows (0 for the first 30 s).
    pub index: usize,
    /// The recording's samples the window holds (fewer than 30 s only in the last window; the
    /// encoder pads them with silence).
    pub samples: Range<usize>,
    /// Output frames (of 1500) that hold audio; at least 1, so an empty recording keeps one.
    pub audio_frames: usize,
}

impl EncoderWindow {
    /// Output rows for this window: all 1500, or with `trim` only those that hold audio.
    pub fn rows(&self, trim: bool) -> usize {
        if trim {
            self.audio_frames
        } else {
            ENCODER_FRAMES
        }
    }

    /// Start and end of the window's audio in seconds of the recording.
    pub fn seconds(&self) -> [f64; 2] {
        let at = |sample: usize| sample as f64 / f64::from(SAMPLE_RATE);
        [at(self.samples.start), at(self.samples.end)]
    }
}

/// The windows of a recording to encode, in order: all of them, or those speech touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowSelection {
    windows: Vec<EncoderWindow>,
    total: usize,
}

impl WindowSelection {
    /// Every window of `n_samples` 16 kHz samples (an empty recording has one silent window, as
    /// the mel front end has).
    pub fn all(n_samples: usize) -> Self {
        Self::filtered(n_samples, |_| true)
    }

    /// The windows that overlap one of `speech` (a range that ends where a window starts is not
    /// in it). No speech selects no window.
    pub fn with_speech(n_samples: usize, speech: &[SpeechRange]) -> Self {
        Self::filtered(n_samples, |window| {
            speech
                .iter()
                .any(|r| r.start < window.end && r.end > window.start)
        })
    }

    fn filtered(n_samples: usize, keep: impl Fn(Range<usize>) -> bool) -> Self {
        let total = crate::mel::window_count(n_samples);
        let all_frames = n_samples.div_ceil(SAMPLES_PER_FRAME).max(1);
        let windows = (0..total)
            .filter(|&w| keep(w * WINDOW_SAMPLES..(w + 1) * WINDOW_SAMPLES))
            .map(|index| {
                let start = (index * WINDOW_SAMPLES).min(n_samples);
                EncoderWindow {
                    index,
                    samples: start..(start + WINDOW_SAMPLES).min(n_samples),
                    audio_frames: (all_frames - index * ENCODER_FRAMES).min(ENCODER_FRAMES),
                }
            })
            .collect();
        WindowSelection { windows, total }
    }

    /// The selected windows, in order.
    pub fn windows(&self) -> &[EncoderWindow] {
        &self.windows
    }

    /// Selected windows.
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    /// No window selected (a recording without speech).
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// Windows of the whole recording, selected or not.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Output rows of all selected windows, as [`EncoderWindow::rows`] counts them.
    pub fn rows(&self, trim: bool) -> usize {
        self.windows.iter().map(|w| w.rows(trim)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_recording_and_count_the_frames_that_hold_audio() {
        let n = 2 * WINDOW_SAMPLES + 321;
        let all = WindowSelection::all(n);
        assert_eq!(all.total(), 3);
        let last = &all.windows()[2];
        assert_eq!(last.samples, 2 * WINDOW_SAMPLES..n);
        // 321 samples are two 20 ms frames (the second partly filled).
        assert_eq!(last.audio_frames, 2);
        assert_eq!(all.windows()[0].audio_frames, ENCODER_FRAMES);
        assert_eq!(all.rows(true), 2 * ENCODER_FRAMES + 2);
        assert_eq!(all.rows(false), 3 * ENCODER_FRAMES);
        assert_eq!(last.seconds(), [60.0, n as f64 / 16_000.0]);

        let empty = WindowSelection::all(0);
        assert_eq!(empty.windows()[0].samples, 0..0);
        assert_eq!(empty.rows(true), 1);
        let exact = WindowSelection::all(WINDOW_SAMPLES);
        assert_eq!((exact.len(), exact.rows(true)), (1, ENCODER_FRAMES));
    }

    #[test]
    fn only_windows_that_speech_touches_are_kept() {
        let w = WINDOW_SAMPLES;
        let ranges = [
            SpeechRange::new(100, 200),
            // Across the boundary of windows 2 and 3.
            SpeechRange::new(3 * w - 10, 3 * w + 10),
            // Ends exactly where window 5 starts: not in window 5.
            SpeechRange::new(5 * w - 50, 5 * w),
        ];
        let kept = WindowSelection::with_speech(6 * w, &ranges);
        let indices: Vec<usize> = kept.windows().iter().map(|w| w.index).collect();
        assert_eq!(indices, vec![0, 2, 3, 4]);
        assert_eq!(kept.total(), 6);
        assert!(WindowSelection::with_speech(6 * w, &[]).is_empty());
    }
}
