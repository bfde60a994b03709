//! Decoder kernels: products of a few activation rows with an f16 weight (converted to f32 in
//! registers, `vcvtph2ps`, f32 accumulation), LayerNorm, and single-query attention. A decoder
//! step is memory-bound (every weight is read once per token), so the weights stay 16-bit.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use crate::model::tensor_file::F16Data;
use rayon::prelude::*;

/// Values per chunk: one 512-bit register of f32 converted from 16 f16 values.
const CHUNK: usize = 16;

/// A `[rows][cols]` matrix of f16 values, stored in pairs of rows: a pair's 16-value chunks
/// interleaved (row `2p` chunk 0, row `2p + 1` chunk 0, row `2p` chunk 1, ...), then each
/// row's tail (`cols % 16` values). A product then reads one sequential stream and uses each
/// loaded activation chunk for two rows; reading two rows side by side from their own places
/// instead halved the streaming rate on this machine (the hardware prefetcher follows one
/// stream better than two). An odd last row is paired with zeros.
#[derive(Debug, Clone)]
pub struct Half {
    pub rows: usize,
    pub cols: usize,
    bits: Vec<u16>,
}

impl Half {
    #[cfg(test)]
    /// Round an f32 `[rows][cols]` matrix to f16 (exact for values that came from f16).
    pub fn from_f32(values: &[f32], rows: usize, cols: usize) -> Self {
        assert_eq!(values.len(), rows * cols);
        let bits: Vec<u16> = values
            .iter()
            .map(|&v| half::f16::from_f32(v).to_bits())
            .collect();
        Self::from_bits(bits, rows, cols)
    }

    /// From f16 bit patterns, `[rows][cols]` row-major (copied into the paired layout).
    pub fn from_bits(bits: impl Into<F16Data>, rows: usize, cols: usize) -> Self {
        let bits: F16Data = bits.into();
        assert_eq!(bits.len(), rows * cols);
        let pairs = rows.div_ceil(2);
        let mut packed = vec![0u16; pairs * 2 * cols];
        packed
            .par_chunks_mut(2 * cols.max(1))
            .enumerate()
            .for_each(|(p, pair)| {
                for c in 0..2 {
                    let r = 2 * p + c;
                    if r < rows {
                        let row = &bits[r * cols..(r + 1) * cols];
                        for (at, value) in pair_positions(cols, c).zip(row) {
                            pair[at] = *value;
                        }
                    }
                }
            });
        bits.release();
        Half {
            rows,
            cols,
            bits: packed,
        }
    }

    /// Row `r` as f32 (an embedding lookup).
    pub fn row(&self, r: usize, out: &mut [f32]) {
        assert!(r < self.rows && out.len() == self.cols);
        let pair = self.pair(r / 2);
        for (o, at) in out.iter_mut().zip(pair_positions(self.cols, r % 2)) {
            *o = half::f16::from_bits(pair[at]).to_f32();
        }
    }

    /// Rows `2p` and `2p + 1` in the paired layout.
    fn pair(&self, p: usize) -> &[u16] {
        &self.bits[p * 2 * self.cols..(p + 1) * 2 * self.cols]
    }
}

/// Where the values of row `c` (0 or 1) of a pair of `cols`-wide rows lie in the pair's
/// storage, in column order.
fn pair_positions(cols: usize, c: usize) -> impl Iterator<Item = usize> {
    let chunks = cols / CHUNK;
    let tail = cols % CHUNK;
    (0..cols).map(move |j| {
        if j < chunks * CHUNK {
            (j / CHUNK) * 2 * CHUNK + c * CHUNK + j % CHUNK
        } else {
            chunks * 2 * CHUNK + c * tail + (j - chunks * CHUNK)
        }
    })
}

/// Output columns per parallel task (even: tasks own whole pairs): big enough that a task
/// outweighs rayon's dispatch.
const COLS_PER_TASK: usize = 256;

/// `out[m][n] = x[m][k] · W[n][k]^T (+ bias[n])` for a few rows `m` (a decoder step).
pub fn matmul_half_par(out: &mut [f32], x: &[f32], w: &Half, bias: Option<&[f32]>, m: usize) {
    let (n, k) = (w.rows, w.cols);
    assert_eq!(x.len(), m * k);
    assert_eq!(out.len(), m * n);
    if let Some(b) = bias {
        assert_eq!(b.len(), n);
    }
    if m >= GEMM_ROWS {
        matmul_half_gemm_par(out, x, w, bias, m);
        return;
    }
    // Each pair of weight rows is converted from f16 once for up to `ROWS_AT_ONCE` activation
    // rows.
    let columns = |cols: std::ops::Range<usize>, part: &mut [f32]| {
        let width = cols.len();
        let mut dots = [0.0f32; 2 * ROWS_AT_ONCE];
        for j in cols.clone().step_by(2) {
            let pair = w.pair(j / 2);
            let both = (j + 1 < n) as usize + 1;
            for first in (0..m).step_by(ROWS_AT_ONCE) {
                let rows = (m - first).min(ROWS_AT_ONCE);
                dot_pair_rows(
                    &x[first * k..(first + rows) * k],
                    k,
                    pair,
                    &mut dots[..2 * rows],
                );
                for r in 0..rows {
                    for c in 0..both {
                        let b = bias.map_or(0.0, |b| b[j + c]);
                        part[(first + r) * width + j - cols.start + c] = dots[2 * r + c] + b;
                    }
                }
            }
        }
    };
    if m == 1 {
        // One row (every greedy step): tasks own contiguous output columns.
        out.par_chunks_mut(COLS_PER_TASK)
            .enumerate()
            .for_each(|(t, part)| {
                let start = t * COLS_PER_TASK;
                columns(start..start + part.len(), part)
            });
        return;
    }
    column_tasks_par(out, n, m, |cols| {
        let mut part = vec![0.0f32; m * cols.len()];
        columns(cols, &mut part);
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
        for (j, row) in cols.clone().zip(panel.chunks_exact_mut(k.max(1))) {
            w.row(j, row);
        }
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

/// Activation rows one converted pair of weight rows serves at once (beam search's
/// hypotheses): 2 x 8 accumulators, the two weight chunks and one activation chunk fit the
/// 32 vector registers.
const ROWS_AT_ONCE: usize = 8;

/// `out[2r + c] = x_r · f16(row c of the pair)` for the rows `x_r` of `xs` (`out.len() / 2`
/// rows of `k`).
fn dot_pair_rows(xs: &[f32], k: usize, pair: &[u16], out: &mut [f32]) {
    assert!(out.len().is_multiple_of(2) && xs.len() == out.len() / 2 * k && pair.len() == 2 * k);
    #[cfg(target_arch = "x86_64")]
    if crate::cpu_features::has_avx512() {
        // SAFETY: the CPU has AVX-512F (which includes the 512-bit f16 conversion); the
        // lengths were asserted above.
        unsafe {
            match out.len() / 2 {
                1 => dot_pair_one_row_avx512(xs, k, pair, out),
                2 => dot_pair_rows_avx512::<2>(xs, k, pair, out),
                3 => dot_pair_rows_avx512::<3>(xs, k, pair, out),
                4 => dot_pair_rows_avx512::<4>(xs, k, pair, out),
                5 => dot_pair_rows_avx512::<5>(xs, k, pair, out),
                6 => dot_pair_rows_avx512::<6>(xs, k, pair, out),
                7 => dot_pair_rows_avx512::<7>(xs, k, pair, out),
                _ => dot_pair_rows_avx512::<8>(xs, k, pair, out),
            }
        }
        return;
    }
    for c in 0..2 {
        let weights: Vec<f32> = pair_positions(k, c)
            .map(|at| half::f16::from_bits(pair[at]).to_f32())
            .collect();
        for (r, x) in xs.chunks_exact(k).enumerate() {
            out[2 * r + c] = x.iter().zip(&weights).map(|(a, b)| a * b).sum();
        }
    }
}

/// The tails of a pair (`k % 16` values per row) against `R` rows, added onto `out`.
fn add_pair_tails(xs: &[f32], k: usize, pair: &[u16], out: &mut [f32]) {
    let (body, tail) = (k / CHUNK * CHUNK, k % CHUNK);
    if tail == 0 {
        return;
    }
    for (r, x) in xs.chunks_exact(k).enumerate() {
        for c in 0..2 {
            let weights = &pair[2 * body + c * tail..2 * body + (c + 1) * tail];
            out[2 * r + c] += x[body..]
                .iter()
                .zip(weights)
                .map(|(&a, &b)| a * half::f16::from_bits(b).to_f32())
                .sum::<f32>();
        }
    }
}

/// One activation row against a pair: two chunks per iteration, so each weight row has two
/// accumulator chains (one chain per row left the FMA units waiting on their own latency).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dot_pair_one_row_avx512(x: &[f32], k: usize, pair: &[u16], out: &mut [f32]) {
    let chunks = k / CHUNK;
    let mut acc = [[_mm512_setzero_ps(); 2]; 2];
    let (w, xp) = (pair.as_ptr(), x.as_ptr());
    // SAFETY: chunk i of the pair is w[32i..32i + 32] and of x is x[16i..16i + 16], i < chunks
    // = k / 16; the caller checked pair.len() == 2k and x.len() == k.
    unsafe {
        let chunk = |i: usize, c: usize| {
            _mm512_cvtph_ps(_mm256_loadu_si256(
                w.add(2 * CHUNK * i + CHUNK * c) as *const __m256i
            ))
        };
        let mut i = 0;
        while i + 2 <= chunks {
            for (u, acc) in acc.iter_mut().enumerate() {
                let xv = _mm512_loadu_ps(xp.add(CHUNK * (i + u)));
                acc[0] = _mm512_fmadd_ps(xv, chunk(i + u, 0), acc[0]);
                acc[1] = _mm512_fmadd_ps(xv, chunk(i + u, 1), acc[1]);
            }
            i += 2;
        }
        if i < chunks {
            let xv = _mm512_loadu_ps(xp.add(CHUNK * i));
            acc[0][0] = _mm512_fmadd_ps(xv, chunk(i, 0), acc[0][0]);
            acc[0][1] = _mm512_fmadd_ps(xv, chunk(i, 1), acc[0][1]);
        }
        for (c, o) in out.iter_mut().enumerate() {
            *o = _mm512_reduce_add_ps(_mm512_add_ps(acc[0][c], acc[1][c]));
        }
    }
    add_pair_tails(x, k, pair, out);
}

/// `R` activation rows against a pair: each chunk of an activation row is loaded once for
/// both weight rows, each weight chunk converted once for all `R`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn dot_pair_rows_avx512<const R: usize>(
    xs: &[f32],
    k: usize,
    pair: &[u16],
    out: &mut [f32],
) {
    let chunks = k / CHUNK;
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    let w = pair.as_ptr();
    // SAFETY: chunk i of the pair is w[32i..32i + 32] and of row r is xs[rk + 16i..][..16],
    // i < chunks = k / 16, r < R; the caller checked pair.len() == 2k and xs.len() == Rk.
    unsafe {
        for i in 0..chunks {
            let w0 = _mm512_cvtph_ps(_mm256_loadu_si256(w.add(2 * CHUNK * i) as *const __m256i));
            let w1 = _mm512_cvtph_ps(_mm256_loadu_si256(
                w.add(2 * CHUNK * i + CHUNK) as *const __m256i
            ));
            for (r, acc) in acc.iter_mut().enumerate() {
                let xv = _mm512_loadu_ps(xs.as_ptr().add(r * k + CHUNK * i));
                acc[0] = _mm512_fmadd_ps(xv, w0, acc[0]);
                acc[1] = _mm512_fmadd_ps(xv, w1, acc[1]);
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        for c in 0..2 {
            out[2 * r + c] = _mm512_reduce_add_ps(acc[c]);
        }
    }
    add_pair_tails(xs, k, pair, out);
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
            *s = dot_lanes(qh, kh) * scale;
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

/// `a · b` in 8 independent partial sums, which the compiler vectorises (a single running
/// sum is one serial chain of dependent adds).
fn dot_lanes(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let mut sums = [0.0f32; LANES];
    let (mut ca, mut cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    for (x, y) in (&mut ca).zip(&mut cb) {
        for ((s, &x), &y) in sums.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    sums.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_products_match_f64_on_the_rounded_weights() {
        for m in [1, 3, 5, 9, 20] {
            check_half_product(m);
        }
    }

    #[test]
    fn rows_read_back_from_the_paired_layout() {
        for (rows, cols) in [(5, 40), (4, 32), (3, 7)] {
            let w: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
            let half = Half::from_f32(&w, rows, cols);
            let mut row = vec![0.0; cols];
            for r in 0..rows {
                half.row(r, &mut row);
                assert_eq!(row, &w[r * cols..(r + 1) * cols], "{rows}x{cols} row {r}");
            }
        }
    }

    fn check_half_product(m: usize) {
        let (k, n) = (100, 301); // k: 6 chunks + a 4-value tail; n: two tasks, an odd last row
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
