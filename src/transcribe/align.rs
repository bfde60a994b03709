//! Which audio frames each token of a decoded window was spoken in: CTranslate2's
//! `Whisper::align`, as faster-whisper calls it for word timestamps (and OpenAI's
//! `find_alignment` computes it). The window's text is forced through the decoder once; the
//! cross-attention scores of the model's alignment heads over the frames that hold audio are
//! softmaxed, normalised across tokens, median-filtered over time and averaged over heads, and
//! a dynamic-time-warping path through that matrix pairs every token with a frame.

use crate::decoder::{AttentionRecord, DecoderWeights, Window};
use crate::kernels::attention::softmax;

/// Width of the median filter over frames (faster-whisper's `median_filter_width`).
pub const MEDIAN_FILTER_WIDTH: usize = 7;

/// One window's alignment: the DTW path as (text row, encoder frame) pairs, the rows being the
/// no-timestamps token then each text token, and each text token's probability.
#[derive(Debug, Clone, Default)]
pub struct Alignment {
    pub path: Vec<(usize, usize)>,
    pub token_probabilities: Vec<f32>,
}

/// The tokens of one window to align.
pub struct AlignRequest<'a> {
    /// `<|startoftranscript|>` and, on multilingual models, language and task.
    pub start_sequence: &'a [u32],
    pub no_timestamps: u32,
    pub eot: u32,
    /// The window's text tokens (no timestamps).
    pub text: &'a [u32],
    /// Mel frames of the window that hold audio (at most 3000).
    pub mel_frames: usize,
    /// (decoder layer, head) pairs whose cross-attention follows the audio.
    pub heads: &'a [(usize, usize)],
}

/// CTranslate2's `WhisperReplica::align` for one window.
pub fn align(decoder: &DecoderWeights, window: &Window, request: &AlignRequest) -> Alignment {
    let AlignRequest {
        start_sequence,
        text,
        ..
    } = *request;
    if text.is_empty() {
        return Alignment::default();
    }
    let mut tokens = start_sequence.to_vec();
    tokens.push(request.no_timestamps);
    tokens.extend_from_slice(text);
    tokens.push(request.eot);
    let offset = start_sequence.len();
    // Row `offset` (no-timestamps) predicts text[0], and so on.
    let logit_rows: Vec<usize> = (offset..offset + text.len()).collect();
    let mut record = AttentionRecord::new(request.heads.to_vec());
    let mut cache = decoder.new_cache();
    let logits = decoder.prefill(window, &mut cache, &tokens, &logit_rows, Some(&mut record));
    let vocab = decoder.vocab;
    let token_probabilities = text
        .iter()
        .enumerate()
        .map(|(t, &id)| {
            // A softmax over the text vocabulary only (the ids below end-of-text).
            let row = &logits[t * vocab..t * vocab + request.eot as usize];
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f32 = row.iter().map(|&l| (l - max).exp()).sum();
            (row[id as usize] - max).exp() / sum
        })
        .collect();
    // The second convolution has stride 2: an encoder frame is two mel frames.
    let frames = request.mel_frames / 2;
    if frames == 0 {
        return Alignment {
            path: Vec::new(),
            token_probabilities,
        };
    }
    let matrix = alignment_matrix(&record, tokens.len(), frames);
    // The rows of the no-timestamps token and the text, against the audio frames.
    let rows = text.len() + 1;
    let path = negative_dtw(
        &matrix[offset * frames..(offset + rows) * frames],
        rows,
        frames,
    );
    Alignment {
        path,
        token_probabilities,
    }
}

/// The alignment heads' scores, each `[tokens][all frames]`, turned into one `[tokens][frames]`
/// matrix: softmax over the first `frames` frames, each (head, frame) column normalised to
/// zero mean and unit variance over the tokens (no epsilon), a median filter over frames, and
/// the mean over heads.
fn alignment_matrix(record: &AttentionRecord, tokens: usize, frames: usize) -> Vec<f32> {
    let all = record.frames;
    let mut mean = vec![0.0f32; tokens * frames];
    for scores in &record.scores {
        let mut probs: Vec<f32> = Vec::with_capacity(tokens * frames);
        for t in 0..tokens {
            let mut row = scores[t * all..t * all + frames].to_vec();
            softmax(&mut row);
            probs.extend_from_slice(&row);
        }
        normalise_columns(&mut probs, tokens, frames);
        let mut filtered = vec![0.0f32; frames];
        for t in 0..tokens {
            median_filter(
                &probs[t * frames..(t + 1) * frames],
                MEDIAN_FILTER_WIDTH,
                &mut filtered,
            );
            for (m, &f) in mean[t * frames..(t + 1) * frames].iter_mut().zip(&filtered) {
                *m += f;
            }
        }
    }
    let heads = record.scores.len() as f32;
    for m in &mut mean {
        *m /= heads;
    }
    mean
}

/// Each column of `[rows][cols]` to zero mean and unit (population) variance, as
/// CTranslate2's `LayerNorm(axis -2, epsilon 0)`.
fn normalise_columns(x: &mut [f32], rows: usize, cols: usize) {
    for c in 0..cols {
        let mean = (0..rows).map(|r| x[r * cols + c]).sum::<f32>() / rows as f32;
        let variance = (0..rows)
            .map(|r| {
                let d = x[r * cols + c] - mean;
                d * d
            })
            .sum::<f32>()
            / rows as f32;
        let inv = 1.0 / variance.sqrt();
        for r in 0..rows {
            x[r * cols + c] = (x[r * cols + c] - mean) * inv;
        }
    }
}

/// A running median of `width` (odd) over `input`, reflecting at both ends (`dcb|abcd|cba`),
/// as CTranslate2's `MedianFilter` and OpenAI's `median_filter`; an input no longer than half
/// the width is passed through.
fn median_filter(input: &[f32], width: usize, out: &mut [f32]) {
    let n = input.len();
    let rank = width / 2;
    if n <= rank {
        out.copy_from_slice(input);
        return;
    }
    let mut window = vec![0.0f32; width];
    for (j, median) in out.iter_mut().enumerate() {
        for (k, slot) in window.iter_mut().enumerate() {
            let mut read = (j as isize + k as isize - rank as isize).unsigned_abs();
            if read >= n {
                read = 2 * n - read - 2;
            }
            *slot = input[read];
        }
        window.select_nth_unstable_by(rank, f32::total_cmp);
        *median = window[rank];
    }
}

/// The monotonic path through `[rows][cols]` that maximises the sum of the values it visits
/// (dynamic time warping on the negated matrix), with OpenAI's and CTranslate2's tie-breaking
/// (diagonal only when strictly cheapest, then up, else left): (row, col) pairs from (0, 0)
/// to (rows - 1, cols - 1).
fn negative_dtw(x: &[f32], rows: usize, cols: usize) -> Vec<(usize, usize)> {
    let width = cols + 1;
    let mut cost = vec![f32::INFINITY; (rows + 1) * width];
    // 0 diagonal, 1 up (previous row), 2 left (previous column).
    let mut trace = vec![0u8; (rows + 1) * width];
    cost[0] = 0.0;
    for j in 1..=cols {
        for i in 1..=rows {
            let c0 = cost[(i - 1) * width + j - 1];
            let c1 = cost[(i - 1) * width + j];
            let c2 = cost[i * width + j - 1];
            let (c, t) = if c0 < c1 && c0 < c2 {
                (c0, 0)
            } else if c1 < c0 && c1 < c2 {
                (c1, 1)
            } else {
                (c2, 2)
            };
            cost[i * width + j] = -x[(i - 1) * cols + (j - 1)] + c;
            trace[i * width + j] = t;
        }
    }
    // The first row can only come from the left, the first column only from above.
    for t in &mut trace[..width] {
        *t = 2;
    }
    for i in 0..=rows {
        trace[i * width] = 1;
    }
    let (mut i, mut j) = (rows, cols);
    let mut path = Vec::with_capacity(rows + cols);
    while i > 0 || j > 0 {
        path.push((i.wrapping_sub(1), j.wrapping_sub(1)));
        match trace[i * width + j] {
            0 => {
                i -= 1;
                j -= 1;
            }
            1 => i -= 1,
            _ => j -= 1,
        }
    }
    path.reverse();
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_filter_reflects_at_the_edges() {
        let input = [5.0, 1.0, 9.0, 2.0, 8.0, 3.0];
        let mut out = [0.0; 6];
        median_filter(&input, 3, &mut out);
        // Position 0 sees [1, 5, 1] (reflected), the last [8, 3, 8].
        assert_eq!(out, [1.0, 5.0, 2.0, 8.0, 3.0, 8.0]);
        // Too short to filter: passed through.
        let mut short = [0.0; 3];
        median_filter(&input[..3], 7, &mut short);
        assert_eq!(short, [5.0, 1.0, 9.0]);
    }

    #[test]
    fn dtw_follows_the_large_values_monotonically() {
        // Two tokens over four frames: token 0 loud in frames 0-1, token 1 in frames 2-3. The
        // path steps down at frame 1 (a tie, where cost is equal either way, goes left).
        let x = [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0];
        let path = negative_dtw(&x, 2, 4);
        assert_eq!(path, vec![(0, 0), (0, 1), (1, 1), (1, 2), (1, 3)]);
        // Ties go left (along the row): a flat matrix steps down at once, then walks the last
        // row.
        let path = negative_dtw(&[0.0; 6], 2, 3);
        assert_eq!(path, vec![(0, 0), (1, 0), (1, 1), (1, 2)]);
    }

    #[test]
    fn columns_are_normalised_over_rows() {
        let mut x = [1.0, 10.0, 3.0, 30.0];
        normalise_columns(&mut x, 2, 2);
        assert_eq!(x, [-1.0, -1.0, 1.0, 1.0]);
    }
}
