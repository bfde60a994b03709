//! Decoder kernels: products of a few activation rows with an f16 weight (converted to f32 in
//! registers, `vcvtph2ps`, f32 accumulation), LayerNorm, and single-query attention. A decoder
//! step is memory-bound (every weight is read once per token), so the weights stay 16-bit.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use crate::model::tensor_file::F16Data;
use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};
use rayon::prelude::*;

/// A row-major `[rows][cols]` matrix of f16 values.
#[derive(Debug, Clone)]
pub struct Half {
    pub rows: usize,
    pub cols: usize,
    bits: F16Data,
}

impl Half {
    /// Round an f32 `[rows][cols]` matrix to f16 (exact for values that came from f16).
    pub fn from_f32(values: &[f32], rows: usize, cols: usize) -> Self {
        assert_eq!(values.len(), rows * cols);
        Half {
            rows,
            cols,
            bits: F16Data::Owned(
                values
                    .iter()
                    .map(|&v| half::f16::from_f32(v).to_bits())
                    .collect(),
            ),
        }
    }

    /// From f16 bit patterns, `[rows][cols]` row-major.
    pub fn from_bits(bits: impl Into<F16Data>, rows: usize, cols: usize) -> Self {
        let bits = bits.into();
        assert_eq!(bits.len(), rows * cols);
        Half { rows, cols, bits }
    }

    /// Row `r` as f32 (an embedding lookup).
    pub fn row(&self, r: usize, out: &mut [f32]) {
        let row = &self.bits[r * self.cols..(r + 1) * self.cols];
        for (o, &b) in out.iter_mut().zip(row) {
            *o = half::f16::from_bits(b).to_f32();
        }
    }
}

/// Output columns per parallel task: big enough that a task outweighs rayon's dispatch.
const COLS_PER_TASK: usize = 256;

/// `out[m][n] = x[m][k] · W[n][k]^T (+ bias[n])` for a few rows `m` (a decoder step).
pub fn matmul_half_par(out: &mut [f32], x: &[f32], w: &Half, bias: Option<&[f32]>, m: usize) {
    let (n, k) = (w.rows, w.cols);
    assert_eq!(x.len(), m * k);
    assert_eq!(out.len(), m * n);
    if let Some(b) = bias {
        assert_eq!(b.len(), n);
    }
    let column =
        |j: usize| dot_half(&x[..k], &w.bits[j * k..(j + 1) * k]) + bias.map_or(0.0, |b| b[j]);
    if m == 1 {
        // One row (every decoding step after the prompt): tasks own contiguous output columns.
        out.par_chunks_mut(COLS_PER_TASK)
            .enumerate()
            .for_each(|(t, part)| {
                for (c, o) in part.iter_mut().enumerate() {
                    *o = column(t * COLS_PER_TASK + c);
                }
            });
        return;
    }
    if m >= GEMM_ROWS {
        matmul_half_gemm_par(out, x, w, bias, m);
        return;
    }
    // Each weight row is converted from f16 once for up to `ROWS_AT_ONCE` activation rows.
    column_tasks_par(out, n, m, |cols| {
        let width = cols.len();
        let mut part = vec![0.0f32; m * width];
        let mut dots = [0.0f32; ROWS_AT_ONCE];
        for (c, j) in cols.enumerate() {
            let wj = &w.bits[j * k..(j + 1) * k];
            let b = bias.map_or(0.0, |b| b[j]);
            for first in (0..m).step_by(ROWS_AT_ONCE) {
                let rows = (m - first).min(ROWS_AT_ONCE);
                dot_half_rows(&x[first * k..(first + rows) * k], k, wj, &mut dots[..rows]);
                for (r, &dot) in dots[..rows].iter().enumerate() {
                    part[(first + r) * width + c] = dot + b;
                }
            }
        }
        part
    });
}

/// Output columns in parallel, `COLS_PER_TASK` per task: `task(cols)` returns those columns of
/// all `m` rows (`[m][cols.len()]`), scattered into `out` (`[m][n]`) afterwards, so no task
/// writes another's memory.
fn column_tasks_par<F>(out: &mut [f32], n: usize, m: usize, task: F)
where
    F: Fn(std::ops::Range<usize>) -> Vec<f32> + Sync,
{
    let tasks = n.div_ceil(COLS_PER_TASK);
    let results: Vec<Vec<f32>> = (0..tasks)
        .into_par_iter()
        .map(|t| task(t * COLS_PER_TASK..((t + 1) * COLS_PER_TASK).min(n)))
        .collect();
    for (t, part) in results.iter().enumerate() {
        let start = t * COLS_PER_TASK;
        let width = part.len() / m.max(1);
        for i in 0..m {
            out[i * n + start..i * n + start + width]
                .copy_from_slice(&part[i * width..(i + 1) * width]);
        }
    }
}

/// From this many rows (a prompt, or a transcript forced through for word alignment) a block
/// of weight rows is converted to f32 once and multiplied by a real GEMM: the dot kernels
/// would re-read each weight row for every 8 activation rows.
const GEMM_ROWS: usize = 16;

/// `matmul_half_par` for many rows: per task, `COLS_PER_TASK` weight rows converted to f32,
/// then one GEMM `[m][k] x [k][cols]` (the converted rows read through strides as the
/// transposed operand).
fn matmul_half_gemm_par(out: &mut [f32], x: &[f32], w: &Half, bias: Option<&[f32]>, m: usize) {
    let (n, k) = (w.rows, w.cols);
    column_tasks_par(out, n, m, |cols| {
        let width = cols.len();
        let mut panel = vec![0.0f32; width * k];
        w.bits[cols.start * k..cols.end * k]
            .reinterpret_cast::<half::f16>()
            .convert_to_f32_slice(&mut panel);
        let mut part = vec![0.0f32; m * width];
        if let Some(b) = bias {
            for row in part.chunks_exact_mut(width) {
                row.copy_from_slice(&b[cols.clone()]);
            }
        }
        // SAFETY: dst is m x width row-major (rs width, cs 1); lhs m x k row-major (rs k,
        // cs 1); rhs is k x width read from `panel` = [width][k] (rs 1, cs k); all three
        // buffers have exactly those sizes. alpha 1 with read_dst adds onto the bias.
        unsafe {
            gemm::gemm(
                m,
                width,
                k,
                part.as_mut_ptr(),
                1,
                width as isize,
                true,
                x.as_ptr(),
                1,
                k as isize,
                panel.as_ptr(),
                k as isize,
                1,
                1.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
        part
    });
}

/// Activation rows one converted weight row serves at once (beam search's hypotheses).
const ROWS_AT_ONCE: usize = 8;

/// `out[r] = x_r · f16(w)` for the rows `x_r` of `xs` (`out.len()` rows of `k`).
fn dot_half_rows(xs: &[f32], k: usize, w: &[u16], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu_features::has_avx512() {
        // SAFETY: the CPU has AVX-512F; the kernels check their slice bounds.
        unsafe {
            match out.len() {
                1 => dot_half_rows_avx512::<1>(xs, k, w, out),
                2 => dot_half_rows_avx512::<2>(xs, k, w, out),
                3 => dot_half_rows_avx512::<3>(xs, k, w, out),
                4 => dot_half_rows_avx512::<4>(xs, k, w, out),
                5 => dot_half_rows_avx512::<5>(xs, k, w, out),
                6 => dot_half_rows_avx512::<6>(xs, k, w, out),
                7 => dot_half_rows_avx512::<7>(xs, k, w, out),
                _ => dot_half_rows_avx512::<8>(xs, k, w, out),
            }
        }
        return;
    }
    for (o, x) in out.iter_mut().zip(xs.chunks_exact(k)) {
        *o = dot_half(x, w);
    }
}

/// `R` rows against one weight row, two 16-value chunks per iteration (two accumulators per
/// row: a single chain per row left the FMA units waiting on their own latency).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dot_half_rows_avx512<const R: usize>(xs: &[f32], k: usize, w: &[u16], out: &mut [f32]) {
    assert!(out.len() == R && xs.len() >= R * k && w.len() >= k);
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    let mut i = 0;
    // SAFETY: every load reads w[i..][..32] and xs[r * k + i..][..32] with i + 32 <= k and
    // r < R (asserted), or the 16-value tail with i + 16 <= k.
    unsafe {
        while i + 32 <= k {
            let w0 = _mm512_cvtph_ps(_mm256_loadu_si256(w.as_ptr().add(i) as *const __m256i));
            let w1 = _mm512_cvtph_ps(_mm256_loadu_si256(w.as_ptr().add(i + 16) as *const __m256i));
            for (r, acc) in acc.iter_mut().enumerate() {
                let x = xs.as_ptr().add(r * k + i);
                acc[0] = _mm512_fmadd_ps(_mm512_loadu_ps(x), w0, acc[0]);
                acc[1] = _mm512_fmadd_ps(_mm512_loadu_ps(x.add(16)), w1, acc[1]);
            }
            i += 32;
        }
        if i + 16 <= k {
            let w0 = _mm512_cvtph_ps(_mm256_loadu_si256(w.as_ptr().add(i) as *const __m256i));
            for (r, acc) in acc.iter_mut().enumerate() {
                acc[0] = _mm512_fmadd_ps(_mm512_loadu_ps(xs.as_ptr().add(r * k + i)), w0, acc[0]);
            }
            i += 16;
        }
    }
    for (r, (o, acc)) in out.iter_mut().zip(&acc).enumerate() {
        let mut total = _mm512_reduce_add_ps(_mm512_add_ps(acc[0], acc[1]));
        for j in i..k {
            total += xs[r * k + j] * half::f16::from_bits(w[j]).to_f32();
        }
        *o = total;
    }
}

/// `sum_i x[i] * f16(w[i])`.
pub fn dot_half(x: &[f32], w: &[u16]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu_features::has_avx512() {
        // SAFETY: the CPU has AVX-512F (which includes the 512-bit f16 conversion).
        return unsafe { dot_half_avx512(x, w) };
    }
    x.iter()
        .zip(w)
        .map(|(&a, &b)| a * half::f16::from_bits(b).to_f32())
        .sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dot_half_avx512(x: &[f32], w: &[u16]) -> f32 {
    let k = x.len().min(w.len());
    let mut acc = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    // SAFETY: every load reads x[i..i + 16] and w[i..i + 16] with i + 16 <= k.
    unsafe {
        while i + 64 <= k {
            for (a, acc) in acc.iter_mut().enumerate() {
                let o = i + 16 * a;
                let wv = _mm512_cvtph_ps(_mm256_loadu_si256(w.as_ptr().add(o) as *const __m256i));
                *acc = _mm512_fmadd_ps(_mm512_loadu_ps(x.as_ptr().add(o)), wv, *acc);
            }
            i += 64;
        }
        while i + 16 <= k {
            let wv = _mm512_cvtph_ps(_mm256_loadu_si256(w.as_ptr().add(i) as *const __m256i));
            acc[0] = _mm512_fmadd_ps(_mm512_loadu_ps(x.as_ptr().add(i)), wv, acc[0]);
            i += 16;
        }
        let sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
        let mut total = _mm512_reduce_add_ps(sum);
        for j in i..k {
            total += x[j] * half::f16::from_bits(w[j]).to_f32();
        }
        total
    }
}

/// One query row against the first `len` rows of `keys` and `values` (`[positions][d]`), per
/// head: `out[h*hd..] = softmax(q·K^T / sqrt hd) V`. For the self-attention over the tokens so
/// far (at most 448), where the cache is small.
pub fn attend(
    out: &mut [f32],
    q: &[f32],
    keys: &[f32],
    values: &[f32],
    len: usize,
    heads: usize,
    scores: &mut Vec<f32>,
) {
    let d = q.len();
    let hd = d / heads;
    let scale = 1.0 / (hd as f32).sqrt();
    scores.resize(len, 0.0);
    for h in 0..heads {
        let columns = h * hd..(h + 1) * hd;
        let qh = &q[columns.clone()];
        for (t, s) in scores.iter_mut().enumerate() {
            let kh = &keys[t * d + columns.start..t * d + columns.end];
            *s = qh.iter().zip(kh).map(|(a, b)| a * b).sum::<f32>() * scale;
        }
        super::attention::softmax(scores);
        let oh = &mut out[columns.clone()];
        oh.fill(0.0);
        for (t, &p) in scores.iter().enumerate() {
            let vh = &values[t * d + columns.start..t * d + columns.end];
            for (o, &v) in oh.iter_mut().zip(vh) {
                *o += p * v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_products_match_f64_on_the_rounded_weights() {
        for m in [1, 3, 9, 20] {
            check_half_product(m);
        }
    }

    fn check_half_product(m: usize) {
        let (k, n) = (100, 300); // k: 64 + 16 + a 4-value tail; n: two tasks
        let x: Vec<f32> = (0..m * k)
            .map(|i| ((i * 31 % 17) as f32 - 8.0) / 8.0)
            .collect();
        let w: Vec<f32> = (0..n * k)
            .map(|i| ((i * 13 % 29) as f32 - 14.0) / 9.0)
            .collect();
        let bias: Vec<f32> = (0..n).map(|j| j as f32 / 100.0).collect();
        let half = Half::from_f32(&w, n, k);
        let mut out = vec![0.0; m * n];
        matmul_half_par(&mut out, &x, &half, Some(&bias), m);
        for i in 0..m {
            for j in 0..n {
                let want: f64 = bias[j] as f64
                    + (0..k)
                        .map(|c| x[i * k + c] as f64 * half::f16::from_f32(w[j * k + c]).to_f64())
                        .sum::<f64>();
                assert!((out[i * n + j] as f64 - want).abs() < 1e-4, "{i},{j}");
            }
        }
    }

    #[test]
    fn attention_of_one_query_matches_the_formula() {
        let (len, heads, d) = (5, 2, 4);
        let q = [1.0, 0.5, -0.5, 2.0];
        let keys: Vec<f32> = (0..len * d).map(|i| (i % 7) as f32 / 7.0 - 0.5).collect();
        let values: Vec<f32> = (0..len * d).map(|i| (i % 5) as f32).collect();
        let mut out = [0.0; 4];
        attend(&mut out, &q, &keys, &values, len, heads, &mut Vec::new());
        let hd = d / heads;
        for h in 0..heads {
            let s: Vec<f64> = (0..len)
                .map(|t| {
                    (0..hd)
                        .map(|c| q[h * hd + c] as f64 * keys[t * d + h * hd + c] as f64)
                        .sum::<f64>()
                        / (hd as f64).sqrt()
                })
                .collect();
            let max = s.iter().cloned().fold(f64::MIN, f64::max);
            let e: Vec<f64> = s.iter().map(|v| (v - max).exp()).collect();
            let total: f64 = e.iter().sum();
            for c in 0..hd {
                let want: f64 = (0..len)
                    .map(|t| e[t] / total * values[t * d + h * hd + c] as f64)
                    .sum();
                assert!((out[h * hd + c] as f64 - want).abs() < 1e-5);
            }
        }
    }
}
