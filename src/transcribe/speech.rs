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
/// `ranges` joined together) to the recording's timeline. A word belongs to the range that
/// holds most of it (trailing padding, which is silence, not counted: `SpeechMap::range_of_word`)
/// and is clamped to it, so it is never stretched across removed silence nor moved before a
/// pause it follows; a segment with words takes its bounds from them, one without starts and
/// ends in the first and last range whose speech it overlaps; times rounded to 0.01 s as
/// faster-whisper's `get_original_time` rounds them. Where no word crosses the boundary of two
/// ranges, this is faster-whisper's `restore_speech_timestamps` exactly.
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
                let range = map.range_of_word(word.start, word.end);
                word.start = round2(map.original_time(map.clamp(word.start, range), range));
                word.end = round2(map.original_time(map.clamp(word.end, range), range));
            }
            segment.start = words[0].start;
            segment.end = words[words.len() - 1].end;
        }
        None => {
            let (first, last) = map.ranges_of_span(segment.start, segment.end);
            segment.start = map.original_time(map.clamp(segment.start, first), first);
            segment.end = map.original_time(map.clamp(segment.end, last), last);
        }
    }
}
