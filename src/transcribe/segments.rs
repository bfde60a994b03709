//! Cutting one decode into timed pieces at its timestamp tokens, and where the seek goes next
//! (OpenAI's `transcribe()` loop body).

/// OpenAI's segmentation of one decode: every pair of consecutive timestamps ends a piece; the
/// seek then moves to the last closing timestamp (or the whole segment when the decode ends on a
/// single timestamp or has no pairs). Returns `(start, end, tokens)` per piece, positions in
/// timestamp steps, and the frames to advance.
pub fn split_by_timestamps(
    tokens: &[u32],
    timestamp_begin: u32,
    segment_frames: usize,
) -> (Vec<(u32, u32, Vec<u32>)>, usize) {
    let is_ts: Vec<bool> = tokens.iter().map(|&t| t >= timestamp_begin).collect();
    let pos = |t: u32| t - timestamp_begin;
    let n = tokens.len();
    let single_timestamp_ending = n >= 2 && !is_ts[n - 2] && is_ts[n - 1];
    let consecutive: Vec<usize> = (1..n).filter(|&i| is_ts[i - 1] && is_ts[i]).collect();
    if consecutive.is_empty() {
        // No closed piece: one piece for the whole decode, ending at its last timestamp if any.
        let start = 0;
        let end = match tokens.iter().rev().find(|&&t| t >= timestamp_begin) {
            Some(&t) if pos(t) > 0 => pos(t),
            _ => (segment_frames / 2) as u32,
        };
        let text: Vec<u32> = tokens.to_vec();
        return (vec![(start, end, text)], segment_frames);
    }
    let mut slices = consecutive;
    if single_timestamp_ending {
        slices.push(n);
    }
    let mut pieces = Vec::new();
    let mut last = 0;
    for &current in &slices {
        let piece = &tokens[last..current];
        pieces.push((pos(piece[0]), pos(piece[piece.len() - 1]), piece.to_vec()));
        last = current;
    }
    let advance = if single_timestamp_ending {
        segment_frames
    } else {
        // Timestamp steps are 20 ms, mel frames 10 ms.
        pos(tokens[last - 1]) as usize * 2
    };
    (pieces, advance)
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: u32 = 100; // timestamp_begin in these tests

    #[test]
    fn pairs_of_timestamps_close_pieces_and_seek_moves_to_the_last_one() {
        // <0.00> a b <1.00><1.00> c <2.50><2.50> d  (d unfinished)
        let tokens = [B, 1, 2, B + 50, B + 50, 3, B + 125, B + 125, 4];
        let (pieces, advance) = split_by_timestamps(&tokens, B, 3000);
        assert_eq!(pieces.len(), 2);
        assert_eq!((pieces[0].0, pieces[0].1), (0, 50));
        assert_eq!((pieces[1].0, pieces[1].1), (50, 125));
        assert_eq!(advance, 250); // 2.50 s = 250 frames: "d" is decoded again from there
    }

    #[test]
    fn a_single_timestamp_ending_consumes_the_whole_segment() {
        let tokens = [B, 1, B + 40, B + 40, 2, B + 90];
        let (pieces, advance) = split_by_timestamps(&tokens, B, 3000);
        assert_eq!(pieces.len(), 2);
        assert_eq!((pieces[1].0, pieces[1].1), (40, 90));
        assert_eq!(advance, 3000);
    }

    #[test]
    fn without_pairs_the_decode_is_one_piece_up_to_its_last_timestamp() {
        let (pieces, advance) = split_by_timestamps(&[B, 1, 2, B + 70], B, 1200);
        assert_eq!(pieces.len(), 1);
        assert_eq!((pieces[0].0, pieces[0].1), (0, 70));
        assert_eq!(advance, 1200);
        // No timestamp at all: the piece spans the segment.
        let (pieces, _) = split_by_timestamps(&[1, 2], B, 1200);
        assert_eq!((pieces[0].0, pieces[0].1), (0, 600));
    }
}
