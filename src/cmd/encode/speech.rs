//! `encode --vad`: which 30 s windows hold speech, and how the output says so.

use serde::Serialize;

use crate::{SpeechSpan, Vad, VadOptions, WindowSelection};

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
    #[serde(skip)]
    pub selection: WindowSelection,
}

/// Run the VAD over `samples` and keep the windows its speech touches.
pub(super) fn select(vad: &Vad, options: &VadOptions, samples: &[f32]) -> SpeechWindows {
    let started = std::time::Instant::now();
    let ranges = vad.speech(samples, options);
    let vad_ms = super::elapsed_ms(started);
    let selection = WindowSelection::with_speech(samples.len(), &ranges);
    SpeechWindows {
        windows: selection.windows().iter().map(|w| w.index).collect(),
        encoded_ranges: selection.windows().iter().map(|w| w.seconds()).collect(),
        speech: ranges.iter().map(SpeechSpan::of).collect(),
        vad_ms,
        selection,
    }
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
