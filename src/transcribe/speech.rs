//! Transcripts of speech-only audio (`--vad`) moved back to the recording's timeline, as
//! faster-whisper's `restore_speech_timestamps` moves them.

use serde::Serialize;

use super::words::round2;
use super::{Segment, Transcript};
use crate::vad::{SpeechMap, SpeechRange};

/// A stretch of the recording that was transcribed, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SpeechSpan {
    /// Start (seconds).
    pub start: f64,
    /// End (seconds).
    pub end: f64,
}

impl SpeechSpan {
    /// A range of samples as seconds.
    pub fn of(range: &SpeechRange) -> Self {
        let sample_rate = crate::audio::SAMPLE_RATE as f64;
        SpeechSpan {
            start: range.start as f64 / sample_rate,
            end: range.end as f64 / sample_rate,
        }
    }
}

/// Move every segment and word time of `transcript` (decoded from the speech ranges
/// `ranges` joined together) to the recording's timeline. A word keeps to the range of its
/// middle, so it is never stretched across removed silence; a segment with words takes its
/// bounds from them, one without is mapped start and end on their own (an end exactly at a
/// range's end stays in that range); times rounded to 0.01 s as faster-whisper's
/// `get_original_time` rounds them.
pub fn restore_speech_times(transcript: &mut Transcript, ranges: &[SpeechRange]) {
    let map = SpeechMap::new(ranges);
    for segment in &mut transcript.segments {
        restore_segment_times(segment, &map);
    }
    transcript.speech = Some(ranges.iter().map(SpeechSpan::of).collect());
}

/// One segment's times (and its words') moved as [`restore_speech_times`] moves them.
pub fn restore_segment_times(segment: &mut Segment, map: &SpeechMap) {
    match segment.words.as_mut().filter(|w| !w.is_empty()) {
        Some(words) => {
            for word in words.iter_mut() {
                let range = map.range_of((word.start + word.end) / 2.0, false);
                word.start = round2(map.original_time(word.start, range));
                word.end = round2(map.original_time(word.end, range));
            }
            segment.start = words[0].start;
            segment.end = words[words.len() - 1].end;
        }
        None => {
            segment.start = map.original_time(segment.start, map.range_of(segment.start, false));
            segment.end = map.original_time(segment.end, map.range_of(segment.end, true));
        }
    }
}
