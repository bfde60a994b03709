//! OpenAI-exact log-mel spectrogram, `whisper.audio.log_mel_spectrogram(pad_or_trim(window))`.
//!
//! Per 30 s window: zero-pad or trim to 480,000 samples; reflect-pad by n_fft/2 on both sides
//! (`torch.stft(center=True)`); 400-point periodic-Hann STFT with hop 160, dropping the last frame
//! (3000 frames remain); power |X|^2; Slaney mel filterbank; `log10(max(x, 1e-10))`; clamp each
//! window to its own maximum minus 8; `(x + 4) / 4`. The STFT and filterbank run in f64 so that our
//! result sits on the exact value of the formula, not on one float32 rounding of it.

mod filterbank;

use std::sync::Arc;

use rayon::prelude::*;
use realfft::{RealFftPlanner, RealToComplex};

use crate::audio::SAMPLE_RATE;
use filterbank::MelFilter;

/// STFT size of every Whisper model.
pub const N_FFT: usize = 400;
/// Hop between STFT frames: 10 ms.
pub const HOP_LENGTH: usize = 160;
/// Samples in one 30 s window.
pub const WINDOW_SAMPLES: usize = 480_000;
/// Mel frames in one window.
pub const WINDOW_FRAMES: usize = WINDOW_SAMPLES / HOP_LENGTH;
/// Mel bin counts of the published Whisper models (128 for large-v3).
pub const SUPPORTED_N_MELS: [usize; 2] = [80, 128];

/// Number of consecutive 30 s windows covering `n_samples` (at least one).
pub fn window_count(n_samples: usize) -> usize {
    n_samples.div_ceil(WINDOW_SAMPLES).max(1)
}

/// The log-mel features of a recording, window by window (what [`LogMel::features`] makes).
#[derive(Debug, Clone)]
pub struct Features {
    values: Vec<f32>,
    n_mels: usize,
}

impl Features {
    /// `windows x n_mels x 3000` (10 ms frames; the last window padded with silence).
    pub fn view(&self) -> ndarray::ArrayView3<'_, f32> {
        let windows = self.values.len() / (self.n_mels * WINDOW_FRAMES);
        ndarray::ArrayView3::from_shape((windows, self.n_mels, WINDOW_FRAMES), &self.values)
            .expect("whole windows of n_mels x 3000 values")
    }

    /// The values, `windows x n_mels x 3000` in row-major order.
    pub fn into_vec(self) -> Vec<f32> {
        self.values
    }
}

/// A log-mel front end with its filterbank, Hann window and FFT plan built once (clones share
/// the FFT plan).
#[derive(Clone)]
pub struct LogMel {
    n_mels: usize,
    filters: Vec<MelFilter>,
    hann: Vec<f64>,
    fft: Arc<dyn RealToComplex<f64>>,
}

impl std::fmt::Debug for LogMel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogMel")
            .field("n_mels", &self.n_mels)
            .finish()
    }
}

impl LogMel {
    /// A front end producing `n_mels` bins (80 for most models, 128 for large-v3).
    pub fn new(n_mels: usize) -> Self {
        assert!(
            (1..=N_FFT / 2).contains(&n_mels),
            "n_mels must be in 1..=200, got {n_mels}"
        );
        // torch.hann_window(400) is periodic: 0.5 - 0.5 cos(2 pi n / N).
        let hann = (0..N_FFT)
            .map(|n| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / N_FFT as f64).cos())
            .collect();
        LogMel {
            n_mels,
            filters: filterbank::slaney_filters(n_mels, N_FFT, SAMPLE_RATE as f64),
            hann,
            fft: RealFftPlanner::<f64>::new().plan_fft_forward(N_FFT),
        }
    }

    /// Mel bins per frame (80, or 128 for large-v3).
    pub fn n_mels(&self) -> usize {
        self.n_mels
    }

    /// Values in one window's output: `n_mels * 3000`.
    pub fn window_len(&self) -> usize {
        self.n_mels * WINDOW_FRAMES
    }

    /// Log-mel of every 30 s window of `audio`, concatenated: `[windows][n_mels][3000]`.
    pub fn windows(&self, audio: &[f32]) -> Vec<f32> {
        let windows = window_count(audio.len());
        let mut out = vec![0.0f32; windows * self.window_len()];
        for (index, window_out) in out.chunks_exact_mut(self.window_len()).enumerate() {
            let start = index * WINDOW_SAMPLES;
            let end = (start + WINDOW_SAMPLES).min(audio.len());
            self.window(&audio[start.min(end)..end], window_out);
        }
        out
    }

    /// Log-mel of every 30 s window of `audio` as an array: `windows x n_mels x 3000`.
    ///
    /// ```
    /// use npu_whisper::mel::LogMel;
    /// // 40 s of a 440 Hz tone at 16 kHz: two windows, the second padded with silence.
    /// let audio: Vec<f32> = (0..40 * 16_000)
    ///     .map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 16_000.0).sin() * 0.5)
    ///     .collect();
    /// let features = LogMel::new(80).features(&audio);
    /// assert_eq!(features.view().shape(), &[2, 80, 3000]);
    /// ```
    pub fn features(&self, audio: &[f32]) -> Features {
        Features {
            values: self.windows(audio),
            n_mels: self.n_mels,
        }
    }

    /// Log-mel of one window, `[n_mels][3000]` row-major, into `out`. Audio longer than 30 s is
    /// trimmed and shorter audio is zero-padded, as `pad_or_trim` does.
    pub fn window(&self, audio: &[f32], out: &mut [f32]) {
        assert_eq!(out.len(), self.window_len(), "output buffer size");
        let audio = &audio[..audio.len().min(WINDOW_SAMPLES)];
        let log = self.log10_power(&Padded::new(audio, WINDOW_SAMPLES), WINDOW_FRAMES);
        let log_max = log.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let floor = log_max - 8.0;
        for (t, mel_row) in log.chunks_exact(self.n_mels).enumerate() {
            for (m, &v) in mel_row.iter().enumerate() {
                out[m * WINDOW_FRAMES + t] = (v.max(floor) + 4.0) / 4.0;
            }
        }
    }

    /// The log-mel of a whole recording as OpenAI's `transcribe` computes it:
    /// `log_mel_spectrogram(audio, padding=480000)`, i.e. 30 s of zeros appended, one STFT over
    /// everything, and one max-8 clamp over the whole file. Segments are cut from it by seek.
    pub fn whole(&self, audio: &[f32]) -> WholeMel {
        let total = audio.len() + WINDOW_SAMPLES;
        let frames = total / HOP_LENGTH;
        let mut log = self.log10_power(&Padded::new(audio, total), frames);
        let log_max = log.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let floor = log_max - 8.0;
        log.par_iter_mut()
            .for_each(|v| *v = (v.max(floor) + 4.0) / 4.0);
        WholeMel {
            n_mels: self.n_mels,
            frames,
            frame_major: log,
        }
    }

    /// `log10(max(mel power, 1e-10))` of the first `frames` STFT frames of a padded signal,
    /// frame-major `[frames][n_mels]`; the STFT and filterbank run in f64, the log is stored as
    /// f32.
    fn log10_power(&self, padded: &Padded, frames: usize) -> Vec<f32> {
        const FRAMES_PER_TASK: usize = 250;
        let mut log = vec![0.0f32; frames * self.n_mels];
        log.par_chunks_mut(FRAMES_PER_TASK * self.n_mels)
            .enumerate()
            .for_each(|(task, block)| {
                let mut frame = self.fft.make_input_vec();
                let mut spectrum = self.fft.make_output_vec();
                let mut scratch = self.fft.make_scratch_vec();
                let mut bin_power = vec![0.0f64; N_FFT / 2 + 1];
                for (i, mel_row) in block.chunks_exact_mut(self.n_mels).enumerate() {
                    let t = task * FRAMES_PER_TASK + i;
                    for (i, (x, &w)) in frame.iter_mut().zip(&self.hann).enumerate() {
                        *x = padded.at(t * HOP_LENGTH + i) * w;
                    }
                    self.fft
                        .process_with_scratch(&mut frame, &mut spectrum, &mut scratch)
                        .expect("FFT buffers are sized by the plan");
                    for (p, c) in bin_power.iter_mut().zip(&spectrum) {
                        *p = c.norm_sqr();
                    }
                    for (value, filter) in mel_row.iter_mut().zip(&self.filters) {
                        let bins =
                            &bin_power[filter.first_bin..filter.first_bin + filter.weights.len()];
                        let power: f64 = bins.iter().zip(&filter.weights).map(|(p, w)| p * w).sum();
                        *value = power.max(1e-10).log10() as f32;
                    }
                }
            });
        log
    }
}

/// A whole recording's log-mel (see `LogMel::whole`), frame-major.
#[derive(Debug, Clone)]
pub struct WholeMel {
    n_mels: usize,
    /// STFT frames, the 30 s of appended silence included.
    frames: usize,
    frame_major: Vec<f32>,
}

impl WholeMel {
    /// Mel bins per frame.
    pub fn n_mels(&self) -> usize {
        self.n_mels
    }

    /// Frames of the recording itself (without the appended 30 s).
    pub fn content_frames(&self) -> usize {
        self.frames - WINDOW_FRAMES
    }

    /// Frame `t`'s loudness: the mean of its normalised log-mel values (digital silence is the
    /// floor; speech sits about 0.3 to 1 above the quiet frames around it).
    pub fn frame_level(&self, t: usize) -> f32 {
        let row = &self.frame_major[t * self.n_mels..(t + 1) * self.n_mels];
        row.iter().sum::<f32>() / self.n_mels as f32
    }

    /// The encoder input for the window at `seek`, `[n_mels][3000]`, into `out`, as OpenAI's
    /// `transcribe` and faster-whisper make it: `pad_or_trim(mel[:, seek : seek +
    /// segment_size])`, the frames of the recording from `seek` (at most 3000) and zeros in
    /// log-mel space after them. (The frames of the appended silence are not zeros: reading
    /// them gave the last window of every file an input the references never see.)
    pub fn segment(&self, seek: usize, out: &mut [f32]) {
        assert_eq!(out.len(), self.n_mels * WINDOW_FRAMES);
        let content = self.content_frames();
        let len = WINDOW_FRAMES.min(content.saturating_sub(seek));
        out.fill(0.0);
        for t in 0..len {
            let row = &self.frame_major[(seek + t) * self.n_mels..(seek + t + 1) * self.n_mels];
            for (m, &v) in row.iter().enumerate() {
                out[m * WINDOW_FRAMES + t] = v;
            }
        }
    }
}

/// The audio zero-padded to `len` samples, then reflect-padded by n_fft/2 on each side as
/// `torch.stft(center=True, pad_mode="reflect")` does: `x[200], ..., x[1], x[0..n], x[n-2], ...`.
/// A view, read sample by sample: a whole recording is never copied (a 2-hour file would be
/// almost a gigabyte as f64).
struct Padded<'a> {
    audio: &'a [f32],
    /// Length of the zero-padded signal before the reflection.
    len: usize,
}

impl<'a> Padded<'a> {
    fn new(audio: &'a [f32], len: usize) -> Self {
        assert!(len > N_FFT / 2 && audio.len() <= len);
        Padded { audio, len }
    }

    /// Sample `i` of the padded signal (`len + n_fft` samples).
    fn at(&self, i: usize) -> f64 {
        let pad = N_FFT / 2;
        let j = if i < pad {
            pad - i
        } else if i - pad < self.len {
            i - pad
        } else {
            2 * (self.len - 1) - (i - pad)
        };
        self.audio.get(j).map_or(0.0, |&x| x as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_count_rounds_up_and_never_returns_zero() {
        assert_eq!(window_count(0), 1);
        assert_eq!(window_count(1), 1);
        assert_eq!(window_count(WINDOW_SAMPLES), 1);
        assert_eq!(window_count(WINDOW_SAMPLES + 1), 2);
    }

    #[test]
    fn a_short_last_window_is_zero_padded_in_log_mel_space() {
        // 12.34 s: content frames 1234; the window at 1000 holds 234 of them, then zeros.
        let audio: Vec<f32> = (0..197_440)
            .map(|i| ((i as f32) * 0.01).sin() * 0.3)
            .collect();
        let mel = LogMel::new(80).whole(&audio);
        assert_eq!(mel.content_frames(), 1234);
        let mut out = vec![f32::NAN; 80 * WINDOW_FRAMES];
        mel.segment(1000, &mut out);
        for m in [0, 40, 79] {
            let row = &out[m * WINDOW_FRAMES..(m + 1) * WINDOW_FRAMES];
            assert_eq!(row[233], mel.frame_major[1233 * 80 + m]);
            assert!(row[234..].iter().all(|&v| v == 0.0), "mel {m}");
            // The appended silence itself is not zero after normalisation.
            assert_ne!(mel.frame_major[1300 * 80 + m], 0.0);
        }
    }

    #[test]
    fn reflect_padding_mirrors_without_repeating_the_edge() {
        let audio: Vec<f32> = (0..WINDOW_SAMPLES).map(|i| i as f32).collect();
        let padded = Padded::new(&audio, WINDOW_SAMPLES);
        let end = WINDOW_SAMPLES + N_FFT;
        assert_eq!(
            [padded.at(0), padded.at(1), padded.at(2)],
            [200.0, 199.0, 198.0]
        );
        assert_eq!(padded.at(200), 0.0);
        let n = WINDOW_SAMPLES as f64;
        assert_eq!(padded.at(end - 200), n - 2.0);
        assert_eq!(padded.at(end - 1), n - 201.0);
        // Zero padding before the reflection: a short input reflects zeros at the end.
        let short = Padded::new(&audio[..1000], WINDOW_SAMPLES);
        assert_eq!(short.at(1200), 0.0);
        assert_eq!(short.at(999 + 200), 999.0);
    }

    #[test]
    fn silence_is_the_floor_everywhere() {
        let mel = LogMel::new(80);
        let out = mel.windows(&[0.0; 1000]);
        assert_eq!(out.len(), 80 * 3000);
        // log10(1e-10) = -10 -> (-10 + 4) / 4 = -1.5
        assert!(out.iter().all(|&v| v == -1.5));
    }

    #[test]
    fn a_sine_peaks_in_the_right_mel_band() {
        let mel = LogMel::new(80);
        let audio: Vec<f32> = (0..16_000)
            .map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16_000.0).sin())
            .collect();
        let out = mel.windows(&audio);
        let frame = 50;
        let column: Vec<f32> = (0..80).map(|m| out[m * 3000 + frame]).collect();
        let peak = column
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(m, _)| m)
            .unwrap();
        // The band whose centre is nearest 1 kHz.
        let centres: Vec<f64> = (1..=80)
            .map(|i| filterbank::mel_to_hz(filterbank::hz_to_mel(8000.0) * i as f64 / 81.0))
            .collect();
        let nearest = centres
            .iter()
            .enumerate()
            .min_by(|a, b| (a.1 - 1000.0).abs().total_cmp(&(b.1 - 1000.0).abs()))
            .map(|(m, _)| m)
            .unwrap();
        assert!(
            (peak as i64 - nearest as i64).abs() <= 1,
            "peak {peak}, expected {nearest}"
        );
    }
}
