//! Resampling to 16 kHz with rubato's synchronous FFT resampler: a fixed rational ratio, a
//! BlackmanHarris2 anti-aliasing window and the resampler's delay trimmed, so the output is
//! aligned with the input and exactly ceil(n * 16000 / rate) samples long.

use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler, WindowFunction};

use super::SAMPLE_RATE;

/// Output frames per FFT block (20 ms). The block size sets where rubato puts the anti-aliasing
/// cutoff: with 320-frame blocks it sits a little below 8 kHz, like sox's very-high-quality
/// `rate -v`, so nothing above the new Nyquist frequency folds back into the top mel bands (larger
/// blocks push the cutoff up to 8 kHz and measurably alias there).
const OUTPUT_BLOCK: usize = 320;

pub(super) fn to_16k(mono: &[f32], rate: u32) -> Result<Vec<f32>, String> {
    let input: Vec<f64> = mono.iter().map(|&s| s as f64).collect();
    // An even number of minimum blocks keeps both FFT sizes even, so the resampler's delay
    // (half a block) is a whole number of samples on both sides and trims exactly.
    let min_block = rate as usize / gcd(rate as usize, SAMPLE_RATE as usize);
    let target_in = (OUTPUT_BLOCK * rate as usize).div_ceil(SAMPLE_RATE as usize);
    let chunk = 2 * min_block * target_in.div_ceil(2 * min_block);
    let mut resampler = Fft::<f64>::new_custom(
        rate as usize,
        SAMPLE_RATE as usize,
        chunk,
        1,
        1,
        WindowFunction::BlackmanHarris2,
        FixedSync::Both,
    )
    .map_err(|e| e.to_string())?;
    let adapter = InterleavedSlice::new(&input, 1, input.len()).map_err(|e| e.to_string())?;
    let output = resampler
        .process_all(&adapter, input.len(), None)
        .map_err(|e| e.to_string())?;
    let expected = (input.len() as u64 * SAMPLE_RATE as u64).div_ceil(rate as u64) as usize;
    let mut samples: Vec<f32> = output.take_data().into_iter().map(|s| s as f32).collect();
    samples.resize(expected, 0.0);
    Ok(samples)
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let out = to_16k(&sine(440.0, rate, 1.0), rate).unwrap();
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
        let out = to_16k(&sine(12_000.0, 48_000, 1.0), 48_000).unwrap();
        let rms = (out[800..15_200].iter().map(|s| s * s).sum::<f32>() / 14_400.0).sqrt();
        assert!(rms < 1e-3, "aliased energy {rms}");
    }
}
