//! The Slaney-normalised mel filterbank, computed in code.
//!
//! This is librosa's `filters.mel(sr=16000, n_fft=400, n_mels=N)` with its defaults (`htk=False`,
//! `norm="slaney"`, fmin 0, fmax sr/2), the table OpenAI ships as `mel_filters.npz`. Each filter is
//! a triangle in Hz between neighbouring points spaced evenly on the Slaney mel scale (linear below
//! 1 kHz, logarithmic above), scaled by 2 / (upper edge - lower edge) so each has unit area.

/// Frequency spacing of the linear part of the Slaney scale: 200/3 Hz per mel.
const F_SP: f64 = 200.0 / 3.0;
/// Where the scale turns logarithmic.
const MIN_LOG_HZ: f64 = 1000.0;
const MIN_LOG_MEL: f64 = MIN_LOG_HZ / F_SP;

fn log_step() -> f64 {
    6.4f64.ln() / 27.0
}

/// librosa `hz_to_mel(htk=False)`.
pub fn hz_to_mel(hz: f64) -> f64 {
    if hz >= MIN_LOG_HZ {
        MIN_LOG_MEL + (hz / MIN_LOG_HZ).ln() / log_step()
    } else {
        hz / F_SP
    }
}

/// librosa `mel_to_hz(htk=False)`.
pub fn mel_to_hz(mel: f64) -> f64 {
    if mel >= MIN_LOG_MEL {
        MIN_LOG_HZ * (log_step() * (mel - MIN_LOG_MEL)).exp()
    } else {
        F_SP * mel
    }
}

/// One triangular filter: its weights start at FFT bin `first_bin`; all other bins are zero.
#[derive(Debug, Clone)]
pub struct MelFilter {
    /// The first FFT bin with a non-zero weight.
    pub first_bin: usize,
    /// The weights from `first_bin` on.
    pub weights: Vec<f64>,
}

/// Build `n_mels` filters over the `n_fft / 2 + 1` bins of an `n_fft`-point real FFT.
pub fn slaney_filters(n_mels: usize, n_fft: usize, sample_rate: f64) -> Vec<MelFilter> {
    let n_bins = n_fft / 2 + 1;
    let bin_hz: Vec<f64> = (0..n_bins)
        .map(|k| k as f64 * sample_rate / n_fft as f64)
        .collect();
    let max_mel = hz_to_mel(sample_rate / 2.0);
    // numpy.linspace(min_mel, max_mel, n_mels + 2), then back to Hz.
    let points: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(max_mel * i as f64 / (n_mels + 1) as f64))
        .collect();
    (0..n_mels)
        .map(|m| {
            let (lower, centre, upper) = (points[m], points[m + 1], points[m + 2]);
            let area_norm = 2.0 / (upper - lower);
            let dense: Vec<f64> = bin_hz
                .iter()
                .map(|&f| {
                    let rising = (f - lower) / (centre - lower);
                    let falling = (upper - f) / (upper - centre);
                    rising.min(falling).max(0.0) * area_norm
                })
                .collect();
            let first_bin = dense.iter().position(|&w| w > 0.0).unwrap_or(0);
            let last_bin = dense.iter().rposition(|&w| w > 0.0).unwrap_or(0);
            MelFilter {
                first_bin,
                weights: if dense[first_bin] > 0.0 {
                    dense[first_bin..=last_bin].to_vec()
                } else {
                    Vec::new()
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mel_scale_round_trips_and_is_linear_below_1khz() {
        for hz in [0.0, 100.0, 999.0, 1000.0, 4000.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-9);
        }
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-12);
        assert!((hz_to_mel(500.0) - 7.5).abs() < 1e-12);
    }

    #[test]
    fn filters_have_unit_area_in_hz_and_cover_the_band() {
        for n_mels in [80, 128] {
            let filters = slaney_filters(n_mels, 400, 16_000.0);
            assert_eq!(filters.len(), n_mels);
            // Every filter touches at least one bin and they ascend.
            for pair in filters.windows(2) {
                assert!(pair[1].first_bin >= pair[0].first_bin);
            }
            assert!(filters.iter().all(|f| !f.weights.is_empty()));
            // Known librosa value: the first 80-mel filter peaks at bin 1 with weight 0.02486.
            if n_mels == 80 {
                assert_eq!(filters[0].first_bin, 1);
                assert!((filters[0].weights[0] - 0.024_862_593).abs() < 1e-6);
            }
        }
    }
}
