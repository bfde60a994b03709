//! Resampling to 16 kHz with rubato's synchronous FFT resampler: a fixed rational ratio, a
//! BlackmanHarris2 anti-aliasing window and the resampler's delay trimmed, so the output is
//! aligned with the input and exactly ceil(n * 16000 / rate) samples long.
//!
//! It streams: input arrives in pieces of any length and is processed one fixed chunk at a
//! time, so the memory it holds is one chunk and its FFT buffers (sized by the rate, which the
//! caller has bounded), never the whole recording. The arithmetic is exactly that of rubato's
//! `process_all` over the whole recording at once: the same chunks, the last one zero-padded,
//! zeros pumped through until the delay is flushed.

use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler, WindowFunction};

use super::SAMPLE_RATE;

/// Output frames per FFT block (20 ms). The block size sets where rubato puts the anti-aliasing
/// cutoff: with 320-frame blocks it sits a little below 8 kHz, like sox's very-high-quality
/// `rate -v`, so nothing above the new Nyquist frequency folds back into the top mel bands (larger
/// blocks push the cutoff up to 8 kHz and measurably alias there).
const OUTPUT_BLOCK: usize = 320;

/// A resampler from `rate` to 16 kHz, fed piece by piece.
pub(super) struct To16k {
    resampler: Fft<f64>,
    rate: u32,
    /// Input frames per chunk (fixed for the resampler's life).
    chunk: usize,
    /// Input not yet processed: fewer than `chunk` frames.
    pending: Vec<f64>,
    /// One chunk's output.
    block: Vec<f64>,
    /// Output frames still to drop from the front (the resampler's delay).
    delay_left: usize,
    /// Input frames seen.
    frames_in: u64,
    /// Output frames kept (after the delay).
    frames_out: u64,
}

impl To16k {
    pub(super) fn new(rate: u32) -> Result<To16k, String> {
        // An even number of minimum blocks keeps both FFT sizes even, so the resampler's delay
        // (half a block) is a whole number of samples on both sides and trims exactly.
        let min_block = rate as usize / gcd(rate as usize, SAMPLE_RATE as usize);
        let target_in = (OUTPUT_BLOCK * rate as usize).div_ceil(SAMPLE_RATE as usize);
        let chunk = 2 * min_block * target_in.div_ceil(2 * min_block);
        let resampler = Fft::<f64>::new_custom(
            rate as usize,
            SAMPLE_RATE as usize,
            chunk,
            1,
            1,
            WindowFunction::BlackmanHarris2,
            FixedSync::Both,
        )
        .map_err(|e| e.to_string())?;
        let chunk = resampler.input_frames_next();
        let block = vec![0.0; resampler.output_frames_max()];
        let delay_left = resampler.output_delay();
        Ok(To16k {
            resampler,
            rate,
            chunk,
            pending: Vec::with_capacity(chunk),
            block,
            delay_left,
            frames_in: 0,
            frames_out: 0,
        })
    }

    /// Resample `mono` (the next input frames), appending finished output to `out`.
    pub(super) fn push(&mut self, mono: &[f32], out: &mut Vec<f32>) -> Result<(), String> {
        self.frames_in += mono.len() as u64;
        let mut rest = mono;
        while !rest.is_empty() {
            let take = (self.chunk - self.pending.len()).min(rest.len());
            self.pending
                .extend(rest[..take].iter().map(|&s| f64::from(s)));
            rest = &rest[take..];
            if self.pending.len() == self.chunk {
                self.process(None, out)?;
                self.pending.clear();
            }
        }
        Ok(())
    }

    /// The rest: the last partial chunk, then zeros until the delay is flushed; the output is
    /// then exactly ceil(input * 16000 / rate) frames long.
    pub(super) fn finish(mut self, out: &mut Vec<f32>) -> Result<(), String> {
        let expected = (self.frames_in * u64::from(SAMPLE_RATE)).div_ceil(u64::from(self.rate));
        if !self.pending.is_empty() {
            let partial = self.pending.len();
            self.pending.resize(self.chunk, 0.0);
            self.process(Some(partial), out)?;
        }
        self.pending.clear();
        self.pending.resize(self.chunk, 0.0);
        while self.frames_out < expected {
            self.process(Some(0), out)?;
        }
        let extra = (self.frames_out - expected) as usize;
        out.truncate(out.len() - extra);
        Ok(())
    }

    /// One chunk of `pending` (its first `partial` frames, the rest zeros, when given).
    fn process(&mut self, partial: Option<usize>, out: &mut Vec<f32>) -> Result<(), String> {
        let input =
            InterleavedSlice::new(&self.pending, 1, self.chunk).map_err(|e| e.to_string())?;
        let frames = self.block.len();
        let mut output =
            InterleavedSlice::new_mut(&mut self.block, 1, frames).map_err(|e| e.to_string())?;
        let indexing = Indexing {
            partial_len: partial,
            ..Indexing::default()
        };
        let (_, produced) = self
            .resampler
            .process_into_buffer(&input, &mut output, Some(&indexing))
            .map_err(|e| e.to_string())?;
        let skip = self.delay_left.min(produced);
        self.delay_left -= skip;
        out.extend(self.block[skip..produced].iter().map(|&s| s as f32));
        self.frames_out += (produced - skip) as u64;
        Ok(())
    }
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_16k(mono: &[f32], rate: u32) -> Vec<f32> {
        let mut resampler = To16k::new(rate).unwrap();
        let mut out = Vec::new();
        resampler.push(mono, &mut out).unwrap();
        resampler.finish(&mut out).unwrap();
        out
    }

    fn sine(freq: f64, rate: u32, secs: f64) -> Vec<f32> {
        let n = (rate as f64 * secs) as usize;
        (0..n)
            .map(|i| {
                (2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin() as f32 * 0.5
            })
            .collect()
    }

    #[test]
    fn a_sine_keeps_its_phase_and_amplitude() {
        for rate in [8_000u32, 22_050, 44_100, 48_000] {
            let out = to_16k(&sine(440.0, rate, 1.0), rate);
            assert_eq!(out.len(), 16_000, "{rate} Hz");
            let reference = sine(440.0, SAMPLE_RATE, 1.0);
            // Skip the edges, where the clip starts and stops abruptly.
            let max_err = out[800..15_200]
                .iter()
                .zip(&reference[800..15_200])
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(max_err < 1e-3, "{rate} Hz: max error {max_err}");
        }
    }

    #[test]
    fn content_above_8_khz_is_removed() {
        let out = to_16k(&sine(12_000.0, 48_000, 1.0), 48_000);
        let rms = (out[800..15_200].iter().map(|s| s * s).sum::<f32>() / 14_400.0).sqrt();
        assert!(rms < 1e-3, "aliased energy {rms}");
    }

    #[test]
    fn streaming_in_pieces_equals_rubatos_whole_clip_resampling() {
        // rubato's own `process_all` over the whole clip is the reference: feeding the same
        // samples in odd-sized pieces must give the same bits and the same length.
        for (rate, frames) in [
            (44_100u32, 44_100 * 3 + 17),
            (8_000, 5),
            (22_050, 882),
            (48_000, 0),
        ] {
            let input = sine(330.0, rate, frames as f64 / rate as f64);
            let input = &input[..frames.min(input.len())];
            let mut resampler = To16k::new(rate).unwrap();
            let mut streamed = Vec::new();
            for piece in input.chunks(997) {
                resampler.push(piece, &mut streamed).unwrap();
            }
            resampler.finish(&mut streamed).unwrap();

            let mut whole = To16k::new(rate).unwrap().resampler;
            let wide: Vec<f64> = input.iter().map(|&s| f64::from(s)).collect();
            let adapter = InterleavedSlice::new(&wide, 1, wide.len()).unwrap();
            let reference: Vec<f32> = whole
                .process_all(&adapter, wide.len(), None)
                .unwrap()
                .take_data()
                .into_iter()
                .map(|s| s as f32)
                .collect();
            let expected = (input.len() as u64 * 16_000).div_ceil(u64::from(rate)) as usize;
            assert_eq!(streamed.len(), expected, "{rate} Hz, {frames} frames");
            assert_eq!(
                &streamed[..],
                &reference[..expected],
                "{rate} Hz, {frames} frames"
            );
        }
    }
}
