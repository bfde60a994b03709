//! `encode --vad`: which 30 s windows hold speech, and how the output says so.

use serde::Serialize;

use crate::SpeechSpan;
use crate::mel::WINDOW_SAMPLES;
use crate::{SpeechRange, Vad, VadOptions};

/// The windows a recording's speech falls in.
#[derive(Debug, Clone, Serialize)]
pub(super) struct SpeechWindows {
    /// Indices of the 30 s windows that overlap speech, in order.
    pub windows: Vec<usize>,
    /// Seconds of the recording each encoded window covers.
    pub encoded_ranges: Vec<[f64; 2]>,
    /// The speech the VAD found.
    pub speech: Vec<SpeechSpan>,
    pub vad_ms: f64,
}

/// Run the VAD over `samples` and keep the windows its speech touches.
pub(super) fn select(vad: &Vad, options: &VadOptions, samples: &[f32]) -> SpeechWindows {
    let started = std::time::Instant::now();
    let ranges = vad.speech(samples, options);
    let vad_ms = super::elapsed_ms(started);
    let windows = windows_with_speech(&ranges, crate::mel::window_count(samples.len()));
    let seconds = |sample: usize| sample as f64 / crate::audio::SAMPLE_RATE as f64;
    SpeechWindows {
        encoded_ranges: windows
            .iter()
            .map(|&w| {
                let end = ((w + 1) * WINDOW_SAMPLES).min(samples.len());
                [seconds(w * WINDOW_SAMPLES), seconds(end)]
            })
            .collect(),
        speech: ranges.iter().map(SpeechSpan::of).collect(),
        windows,
        vad_ms,
    }
}

/// Windows (of `WINDOW_SAMPLES`, `count` in all) that overlap one of `ranges`.
fn windows_with_speech(ranges: &[SpeechRange], count: usize) -> Vec<usize> {
    (0..count)
        .filter(|&w| {
            let (start, end) = (w * WINDOW_SAMPLES, (w + 1) * WINDOW_SAMPLES);
            ranges.iter().any(|r| r.start < end && r.end > start)
        })
        .collect()
}

/// The safetensors metadata entries that record the selection.
pub(super) fn metadata(selection: &SpeechWindows, options: &VadOptions) -> Vec<(String, String)> {
    let json = |v: serde_json::Value| v.to_string();
    let spans: Vec<[f64; 2]> = selection.speech.iter().map(|s| [s.start, s.end]).collect();
    vec![
        (
            "vad".into(),
            format!(
                "silero-vad v6: threshold {}, min_silence_duration_ms {}, speech_pad_ms {}",
                options.threshold, options.min_silence_duration_ms, options.speech_pad_ms
            ),
        ),
        (
            "encoded_windows".into(),
            json(serde_json::json!(selection.windows)),
        ),
        (
            "encoded_ranges".into(),
            json(serde_json::json!(selection.encoded_ranges)),
        ),
        ("speech_ranges".into(), json(serde_json::json!(spans))),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(windows_with_speech(&ranges, 6), vec![0, 2, 3, 4]);
        assert!(windows_with_speech(&[], 6).is_empty());
    }
}
