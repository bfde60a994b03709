//! Row operations on f32 slices: LayerNorm, GELU and adds, each in a threaded form (`_par`,
//! for the encoder's whole windows) and on the calling thread (the decoder's few rows per step,
//! where waking the pool costs more than the work).

use rayon::prelude::*;

use super::math;
/// Sum of `f(x)` in f64 over 8 independent lanes, so it vectorises (one running sum is a
/// serial dependency chain the compiler may not reorder).
#[inline(always)]
fn lane_sum(x: &[f32], f: impl Fn(f32) -> f64) -> f64 {
    let mut lanes = [0.0f64; 8];
    let mut chunks = x.chunks_exact(8);
    for chunk in &mut chunks {
        for (l, &v) in lanes.iter_mut().zip(chunk) {
            *l += f(v);
        }
    }
    lanes.iter().sum::<f64>() + chunks.remainder().iter().map(|&v| f(v)).sum::<f64>()
}

/// LayerNorm over rows of `cols`, eps 1e-5 (PyTorch's default, which Whisper uses).
pub fn layer_norm_par(out: &mut [f32], input: &[f32], gamma: &[f32], beta: &[f32], cols: usize) {
    out.par_chunks_mut(cols)
        .zip(input.par_chunks(cols))
        .for_each(|(o, x)| layer_norm_row(o, x, gamma, beta));
}

/// `layer_norm` on the calling thread (the decoder's few rows per step, where waking the pool
/// costs more than the work).
pub fn layer_norm(out: &mut [f32], input: &[f32], gamma: &[f32], beta: &[f32]) {
    let cols = gamma.len();
    for (o, x) in out.chunks_exact_mut(cols).zip(input.chunks_exact(cols)) {
        layer_norm_row(o, x, gamma, beta);
    }
}

fn layer_norm_row(out: &mut [f32], x: &[f32], gamma: &[f32], beta: &[f32]) {
    const EPS: f64 = 1e-5;
    let cols = x.len();
    // Two passes in f64: the mean and variance of a row are exact to f32 precision.
    let mean = lane_sum(x, |v| v as f64) / cols as f64;
    let var = lane_sum(x, |v| (v as f64 - mean).powi(2)) / cols as f64;
    let inv = (1.0 / (var + EPS).sqrt()) as f32;
    let mean = mean as f32;
    for (((o, &x), &g), &b) in out.iter_mut().zip(x).zip(gamma).zip(beta) {
        *o = (x - mean) * inv * g + b;
    }
}

/// GELU in place, in parallel chunks.
pub fn gelu_par(values: &mut [f32]) {
    values.par_chunks_mut(16 * 1024).for_each(gelu);
}

/// GELU over one slice on the calling thread, compiled for the widest vector unit the CPU has.
pub fn gelu(values: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu_features::has_avx512() {
        // SAFETY: the CPU supports the features this function is compiled for.
        unsafe { gelu_avx512(values) };
        return;
    }
    gelu_portable(values);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
unsafe fn gelu_avx512(values: &mut [f32]) {
    gelu_portable(values);
}

#[inline(always)]
fn gelu_portable(values: &mut [f32]) {
    for x in values {
        *x = math::gelu(*x);
    }
}

/// `target += source` on the calling thread.
pub fn add(target: &mut [f32], source: &[f32]) {
    for (t, s) in target.iter_mut().zip(source) {
        *t += s;
    }
}

/// `target += source`.
pub fn add_par(target: &mut [f32], source: &[f32]) {
    assert_eq!(target.len(), source.len());
    target
        .par_chunks_mut(16 * 1024)
        .zip(source.par_chunks(16 * 1024))
        .for_each(|(t, s)| {
            for (t, s) in t.iter_mut().zip(s) {
                *t += s;
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(len: usize, seed: f32) -> Vec<f32> {
        (0..len)
            .map(|i| (i as f32 * 0.37 + seed).sin() * 0.5)
            .collect()
    }

    #[test]
    fn layer_norm_normalises_rows() {
        let cols = 16;
        let x = ramp(3 * cols, 0.3);
        let mut out = vec![0.0; x.len()];
        layer_norm_par(&mut out, &x, &vec![1.0; cols], &vec![0.0; cols], cols);
        for row in out.chunks(cols) {
            let mean: f32 = row.iter().sum::<f32>() / cols as f32;
            let var: f32 = row.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / cols as f32;
            assert!(
                mean.abs() < 1e-5 && (var - 1.0).abs() < 1e-3,
                "{mean} {var}"
            );
        }
    }
}
