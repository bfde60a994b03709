//! Cutting one decode into timed pieces at its timestamp tokens, and where the seek goes next
//! (OpenAI's `transcribe()` loop body).

use crate::tokenizer::TIMESTAMP_SECONDS;

/// Seconds per mel frame.
const FRAME_SECONDS: f64 = 0.01;

/// One decode cut at its timestamps.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// `(start, end, tokens)` per piece, seconds from the window's start.
    pub pieces: Vec<(f64, f64, Vec<u32>)>,
    /// Mel frames to advance the seek by.
    pub advance: usize,
    /// The decode ended on a lone timestamp (the window was used up).
    pub single_timestamp_ending: bool,
}

/// OpenAI's segmentation of one decode: every pair of consecutive timestamps ends a piece; the
/// seek then moves to the last closing timestamp (or the whole segment when the decode ends on a
/// single timestamp or has no pairs).
pub fn split_by_timestamps(tokens: &[u32], timestamp_begin: u32, segment_frames: usize) -> Split {
    let is_ts: Vec<bool> = tokens.iter().map(|&t| t >= timestamp_begin).collect();
    let pos = |t: u32| t - timestamp_begin;
    let seconds = |t: u32| pos(t) as f64 * TIMESTAMP_SECONDS;
    let n = tokens.len();
    let single_timestamp_ending = n >= 2 && !is_ts[n - 2] && is_ts[n - 1];
    let consecutive: Vec<usize> = (1..n).filter(|&i| is_ts[i - 1] && is_ts[i]).collect();
    if consecutive.is_empty() {
        // No closed piece: one piece for the whole decode, ending at its last timestamp if any.
        let end = match tokens.iter().rev().find(|&&t| t >= timestamp_begin) {
            Some(&t) if pos(t) > 0 => seconds(t),
            _ => segment_frames as f64 * FRAME_SECONDS,
        };
        return Split {
            pieces: vec![(0.0, end, tokens.to_vec())],
            advance: segment_frames,
            single_timestamp_ending,
        };
    }
    let mut slices = consecutive;
    if single_timestamp_ending {
        slices.push(n);
    }
    let mut pieces = Vec::new();
    let mut last = 0;
    for &current in &slices {
        let piece = &tokens[last..current];
        pieces.push((
            seconds(piece[0]),
            seconds(piece[piece.len() - 1]),
            piece.to_vec(),
        ));
        last = current;
    }
    let advance = if single_timestamp_ending {
        segment_frames
    } else {
        // Timestamp steps are 20 ms, mel frames 10 ms.
        pos(tokens[last - 1]) as usize * 2
    };
    Split {
        pieces,
        advance,
        single_timestamp_ending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: u32 = 100; // timestamp_begin in these tests

    /// The pieces' bounds in whole milliseconds (20 ms steps are not exact in binary).
    fn bounds(split: &Split) -> Vec<(i64, i64)> {
        let ms = |s: f64| (s * 1e3).round() as i64;
        split.pieces.iter().map(|p| (ms(p.0), ms(p.1))).collect()
    }

    #[test]
    fn pairs_of_timestamps_close_pieces_and_seek_moves_to_the_last_one() {
        // <0.00> a b <1.00><1.00> c <2.50><2.50> d  (d unfinished)
        let tokens = [B, 1, 2, B + 50, B + 50, 3, B + 125, B + 125, 4];
        let split = split_by_timestamps(&tokens, B, 3000);
        assert_eq!(bounds(&split), [(0, 1000), (1000, 2500)]);
        assert_eq!(split.advance, 250); // 2.50 s = 250 frames: "d" is decoded again from there
        assert!(!split.single_timestamp_ending);
    }

    #[test]
    fn a_single_timestamp_ending_consumes_the_whole_segment() {
        let tokens = [B, 1, B + 40, B + 40, 2, B + 90];
        let split = split_by_timestamps(&tokens, B, 3000);
        assert_eq!(bounds(&split), [(0, 800), (800, 1800)]);
        assert_eq!(split.advance, 3000);
        assert!(split.single_timestamp_ending);
    }

    #[test]
    fn without_pairs_the_decode_is_one_piece_up_to_its_last_timestamp() {
        let split = split_by_timestamps(&[B, 1, 2, B + 70], B, 1200);
        assert_eq!(bounds(&split), [(0, 1400)]);
        assert_eq!(split.advance, 1200);
        // No timestamp at all: the piece spans the segment, to the frame (an odd count too).
        let split = split_by_timestamps(&[1, 2], B, 1199);
        assert_eq!(bounds(&split), [(0, 11990)]);
    }
}
