//! From speech probabilities to speech ranges, and from the speech-only timeline back to the
//! recording's: `faster_whisper.vad.get_speech_timestamps` and `SpeechTimestampsMap`, line for
//! line (their float arithmetic and integer truncations included, so the ranges are equal).

use serde::Serialize;

use super::net::CHUNK;

/// faster-whisper's `VadOptions`, with its defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct VadOptions {
    /// A chunk with probability at or above this is speech.
    pub threshold: f32,
    /// Below this, silence; `None`: `max(threshold - 0.15, 0.01)`.
    pub neg_threshold: Option<f32>,
    /// Speech ranges this short (ms) are dropped.
    pub min_speech_duration_ms: u32,
    /// Longer ranges (s) are split, at a silence of more than 98 ms when there was one.
    pub max_speech_duration_s: f64,
    /// Silence (ms) that ends a range.
    pub min_silence_duration_ms: u32,
    /// Padding (ms) added to each side of a range.
    pub speech_pad_ms: u32,
}

impl Default for VadOptions {
    fn default() -> Self {
        VadOptions {
            threshold: 0.5,
            neg_threshold: None,
            min_speech_duration_ms: 0,
            max_speech_duration_s: f64::INFINITY,
            min_silence_duration_ms: 2000,
            speech_pad_ms: 400,
        }
    }
}

/// A range of speech in samples of the recording, `[start, end)`, padded as faster-whisper pads
/// it (`speech_pad_ms` each side, or half the gap to the next range), with the speech the
/// detector found inside it before the padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SpeechRange {
    /// First sample.
    pub start: usize,
    /// One past the last sample.
    pub end: usize,
    /// First sample the detector called speech (`start` plus the leading padding).
    pub speech_start: usize,
    /// One past the last sample it called speech (`end` less the trailing padding).
    pub speech_end: usize,
}

impl SpeechRange {
    /// A range that is all speech (no padding).
    pub fn new(start: usize, end: usize) -> Self {
        SpeechRange {
            start,
            end,
            speech_start: start,
            speech_end: end,
        }
    }
}

const SAMPLE_RATE: f64 = crate::audio::SAMPLE_RATE as f64;

/// `get_speech_timestamps` on the probabilities of a recording of `audio_len` samples.
///
/// Kept whole: a line-for-line port of Silero's `get_speech_timestamps` state machine; kept in its
/// shape so it can be compared with the original.
pub fn speech_ranges(probs: &[f32], audio_len: usize, o: &VadOptions) -> Vec<SpeechRange> {
    let window = CHUNK as f64;
    let min_speech_samples = SAMPLE_RATE * f64::from(o.min_speech_duration_ms) / 1000.0;
    let speech_pad_samples = SAMPLE_RATE * f64::from(o.speech_pad_ms) / 1000.0;
    let max_speech_samples =
        SAMPLE_RATE * o.max_speech_duration_s - window - 2.0 * speech_pad_samples;
    let min_silence_samples = SAMPLE_RATE * f64::from(o.min_silence_duration_ms) / 1000.0;
    let min_silence_samples_at_max_speech = SAMPLE_RATE * 98.0 / 1000.0;
    let threshold = f64::from(o.threshold);
    let neg_threshold = o
        .neg_threshold
        .map_or((threshold - 0.15).max(0.01), f64::from);

    let mut triggered = false;
    // Start of the speech being collected; Python's `current_speech` dict.
    let mut current: Option<usize> = None;
    let mut speeches: Vec<(usize, usize)> = Vec::new();
    let (mut temp_end, mut prev_end, mut next_start) = (0usize, 0usize, 0usize);
    for (i, &p) in probs.iter().enumerate() {
        let p = f64::from(p);
        let at = CHUNK * i;
        if p >= threshold && temp_end != 0 {
            temp_end = 0;
            if next_start < prev_end {
                next_start = at;
            }
        }
        if p >= threshold && !triggered {
            triggered = true;
            current = Some(at);
            continue;
        }
        let start = current.unwrap_or(0);
        if triggered && at as f64 - start as f64 > max_speech_samples {
            if prev_end != 0 {
                speeches.push((start, prev_end));
                current = None;
                // Previously reached silence (< neg_threshold) and still not speech.
                if next_start < prev_end {
                    triggered = false;
                } else {
                    current = Some(next_start);
                }
                (prev_end, next_start, temp_end) = (0, 0, 0);
            } else {
                speeches.push((start, at));
                current = None;
                (prev_end, next_start, temp_end) = (0, 0, 0);
                triggered = false;
                continue;
            }
        }
        if p < neg_threshold && triggered {
            if temp_end == 0 {
                temp_end = at;
            }
            // Avoid cutting in a very short silence.
            if (at - temp_end) as f64 > min_silence_samples_at_max_speech {
                prev_end = temp_end;
            }
            if ((at - temp_end) as f64) < min_silence_samples {
                continue;
            }
            let start = current.unwrap_or(0);
            if (temp_end as f64 - start as f64) > min_speech_samples {
                speeches.push((start, temp_end));
            }
            current = None;
            (prev_end, next_start, temp_end) = (0, 0, 0);
            triggered = false;
            continue;
        }
    }
    if let Some(start) = current
        && (audio_len as f64 - start as f64) > min_speech_samples
    {
        speeches.push((start, audio_len));
    }
    let detected = speeches.clone();
    pad(&mut speeches, audio_len, speech_pad_samples);
    speeches
        .into_iter()
        .zip(detected)
        .map(|((start, end), (speech_start, speech_end))| SpeechRange {
            start,
            end,
            // Padding only widens a range (a gap split in half still leaves each side's speech).
            speech_start: speech_start.clamp(start, end),
            speech_end: speech_end.clamp(start, end),
        })
        .collect()
}

/// The padding step of `get_speech_timestamps`: `speech_pad_samples` each side, or half the
/// gap where two ranges are closer than twice that.
fn pad(speeches: &mut [(usize, usize)], audio_len: usize, speech_pad_samples: f64) {
    let n = speeches.len();
    let pad = speech_pad_samples;
    for i in 0..n {
        if i == 0 {
            speeches[0].0 = (speeches[0].0 as f64 - pad).max(0.0) as usize;
        }
        if i != n - 1 {
            let silence = speeches[i + 1].0 as i64 - speeches[i].1 as i64;
            if (silence as f64) < 2.0 * pad {
                let half = silence.div_euclid(2);
                speeches[i].1 = (speeches[i].1 as i64 + half) as usize;
                speeches[i + 1].0 = (speeches[i + 1].0 as i64 - half).max(0) as usize;
            } else {
                speeches[i].1 = (audio_len as f64).min(speeches[i].1 as f64 + pad) as usize;
                speeches[i + 1].0 = (speeches[i + 1].0 as f64 - pad).max(0.0) as usize;
            }
        } else {
            speeches[i].1 = (audio_len as f64).min(speeches[i].1 as f64 + pad) as usize;
        }
    }
}

/// The speech ranges' samples, one after another: what is transcribed.
pub fn collect(samples: &[f32], ranges: &[SpeechRange]) -> Vec<f32> {
    let mut out = Vec::with_capacity(ranges.iter().map(|r| r.end - r.start).sum());
    for r in ranges {
        out.extend_from_slice(&samples[r.start..r.end.min(samples.len())]);
    }
    out
}

/// `SpeechTimestampsMap`: times on the speech-only timeline (the ranges joined) back to the
/// recording's, and which range a word or segment belongs to.
pub struct SpeechMap {
    /// End of each range on the speech-only timeline (samples).
    chunk_end_sample: Vec<usize>,
    /// Seconds of silence removed before each range.
    silence_before: Vec<f64>,
    /// Each range's detected speech on the speech-only timeline (seconds): `[start, end)`.
    speech: Vec<(f64, f64)>,
}

impl SpeechMap {
    pub fn new(ranges: &[SpeechRange]) -> Self {
        let (mut previous_end, mut silent) = (0usize, 0usize);
        let mut map = SpeechMap {
            chunk_end_sample: Vec::new(),
            silence_before: Vec::new(),
            speech: Vec::new(),
        };
        for r in ranges {
            silent += r.start - previous_end;
            previous_end = r.end;
            map.chunk_end_sample.push(r.end - silent);
            map.silence_before.push(silent as f64 / SAMPLE_RATE);
            map.speech.push((
                (r.speech_start - silent) as f64 / SAMPLE_RATE,
                (r.speech_end - silent) as f64 / SAMPLE_RATE,
            ));
        }
        map
    }

    /// The range a speech-timeline time falls in (`get_chunk_index`): an end exactly at a
    /// range's end belongs to that range.
    pub fn range_of(&self, time: f64, is_end: bool) -> usize {
        let sample = (time * SAMPLE_RATE) as i64;
        if is_end
            && let Some(i) = self
                .chunk_end_sample
                .iter()
                .position(|&e| e as i64 == sample)
        {
            return i;
        }
        let after = self
            .chunk_end_sample
            .partition_point(|&e| e as i64 <= sample);
        after.min(self.chunk_end_sample.len().saturating_sub(1))
    }

    /// Range `k` on the speech-only timeline (seconds).
    fn span(&self, k: usize) -> (f64, f64) {
        let start = match k {
            0 => 0.0,
            _ => self.chunk_end_sample[k - 1] as f64 / SAMPLE_RATE,
        };
        (start, self.chunk_end_sample[k] as f64 / SAMPLE_RATE)
    }

    /// The range a word `[start, end)` on the speech-only timeline belongs to: the one that
    /// holds most of it, where a range's trailing padding does not count (the detector ends
    /// speech only after it has faded below its lower threshold, so what follows is silence)
    /// and its leading padding does (a soft onset begins before the detector's upper threshold
    /// calls it speech). Whisper's alignment lets the first word after a pause start early, in
    /// the silence before it; counted this way, the silence does not pull it into the range
    /// before the pause. A word wholly in padding keeps faster-whisper's rule (its middle).
    pub fn range_of_word(&self, start: f64, end: f64) -> usize {
        let mut best = (0.0, None);
        for k in 0..self.chunk_end_sample.len() {
            let (from, _) = self.span(k);
            let held = end.min(self.speech[k].1) - start.max(from);
            if held > best.0 {
                best = (held, Some(k));
            }
        }
        best.1
            .unwrap_or_else(|| self.range_of((start + end) / 2.0, false))
    }

    /// The ranges a span without words (a segment) starts and ends in: the first and last
    /// whose detected speech it overlaps (a segment end Whisper put in the silence after a
    /// range stays there), else faster-whisper's rule.
    pub fn ranges_of_span(&self, start: f64, end: f64) -> (usize, usize) {
        let overlaps = |k: &usize| start < self.speech[*k].1 && self.speech[*k].0 < end;
        let ranges = 0..self.speech.len();
        match (ranges.clone().find(overlaps), ranges.rev().find(overlaps)) {
            (Some(first), Some(last)) => (first, last),
            _ => (self.range_of(start, false), self.range_of(end, true)),
        }
    }

    /// `time` kept inside range `k` on the speech-only timeline.
    pub fn clamp(&self, time: f64, k: usize) -> f64 {
        let (from, to) = self.span(k);
        time.clamp(from, to)
    }

    /// `time` on the recording's timeline, given its range, to 0.01 s as faster-whisper rounds.
    pub fn original_time(&self, time: f64, range: usize) -> f64 {
        let t = self.silence_before[range] + time;
        format!("{t:.2}")
            .parse()
            .expect("a formatted number parses")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Probabilities from a pattern of (chunks, value) runs.
    fn probs(runs: &[(usize, f32)]) -> Vec<f32> {
        runs.iter()
            .flat_map(|&(n, p)| std::iter::repeat_n(p, n))
            .collect()
    }

    #[test]
    fn a_short_pause_joins_speech_and_a_long_one_splits_it() {
        // 1 s = 31.25 chunks. Speech 2 s, pause 1 s (< 2 s minimum silence), speech 2 s,
        // pause 3 s, speech 1 s.
        let p = probs(&[
            (10, 0.1),
            (62, 0.9),
            (31, 0.1),
            (62, 0.9),
            (94, 0.1),
            (31, 0.9),
        ]);
        let len = p.len() * CHUNK;
        let r = speech_ranges(&p, len, &VadOptions::default());
        assert_eq!(r.len(), 2, "{r:?}");
        // Padded by 400 ms = 6400 samples, not before the recording's start.
        assert_eq!(r[0].start, 0);
        assert_eq!(r[0].end, (10 + 62 + 31 + 62) * CHUNK + 6400);
        assert_eq!(r[1].start, (10 + 62 + 31 + 62 + 94) * CHUNK - 6400);
        // Speech to the end: the range ends at the recording's end.
        assert_eq!(r[1].end, len);
    }

    #[test]
    fn between_thresholds_speech_continues_but_does_not_start() {
        let o = VadOptions {
            speech_pad_ms: 0,
            min_silence_duration_ms: 0,
            ..VadOptions::default()
        };
        // 0.4 is above neg_threshold (0.35) and below threshold (0.5).
        let p = probs(&[(5, 0.4), (5, 0.6), (5, 0.4), (3, 0.1), (5, 0.4)]);
        let r = speech_ranges(&p, p.len() * CHUNK, &o);
        assert_eq!(r, vec![SpeechRange::new(5 * CHUNK, 15 * CHUNK)]);
    }

    #[test]
    fn speech_longer_than_the_maximum_is_split() {
        let o = VadOptions {
            max_speech_duration_s: 3.0,
            speech_pad_ms: 0,
            ..VadOptions::default()
        };
        let p = probs(&[(400, 0.9)]);
        let r = speech_ranges(&p, p.len() * CHUNK, &o);
        assert!(r.len() >= 4, "{r:?}");
        for range in &r {
            assert!(range.end - range.start <= 3 * 16000, "{range:?}");
        }
    }

    #[test]
    fn times_map_back_across_the_removed_silence() {
        let ranges = [
            SpeechRange::new(16000, 48000),
            SpeechRange::new(80000, 96000),
        ];
        let map = SpeechMap::new(&ranges);
        // Speech timeline: [0, 2) s is the first range (1 s removed before), [2, 3) the second
        // (3 s removed before).
        assert_eq!(map.original_time(0.5, map.range_of(0.5, false)), 1.5);
        assert_eq!(map.original_time(2.5, map.range_of(2.5, false)), 5.5);
        // An end exactly at the first range's end stays in it; a start there moves on.
        assert_eq!(map.range_of(2.0, true), 0);
        assert_eq!(map.range_of(2.0, false), 1);
        // Past the end: the last range.
        assert_eq!(map.range_of(9.0, false), 1);
        assert_eq!(collect(&vec![1.0; 100000], &ranges).len(), 48000);
    }
}
