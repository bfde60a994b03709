//! CPU kernels in f32: GEMM with bias (the `gemm` crate), im2col convolution, attention,
//! LayerNorm, GELU and adds. Each works on plain slices so tests can call them directly.

use rayon::prelude::*;

use super::math;

/// What a GEMM does with its result before storing it: fusing the op that follows saves a
/// pass over the output (the encoder's GELUs and residual adds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epilogue {
    /// `out = x·W + b`.
    Bias,
    /// `out = gelu(x·W + b)` (fc1, the convolutions).
    BiasGelu,
    /// `out += x·W + b`: `out` holds the residual stream on entry (out-projection, fc2).
    BiasAccumulate,
}

/// `out[m][n] = input[m][k] · weight_kn[k][n] + bias[n]`. The weight is in `[in][out]` layout
/// (transposed once per model, see `CpuWeights`): the `gemm` crate packs its right-hand side
/// along n, and reading PyTorch's `[out][in]` through strides made every call's packing a
/// strided gather (5-25% of the GEMM time on base shapes). Rows are split across the threads,
/// one single-threaded GEMM each.
pub fn matmul_bias(
    out: &mut [f32],
    input: &[f32],
    weight_kn: &[f32],
    bias: &[f32],
    m: usize,
    k: usize,
    n: usize,
) {
    matmul_fused(out, input, weight_kn, bias, m, k, n, Epilogue::Bias);
}

/// `matmul_bias` with an epilogue applied by each thread to its own rows right after its GEMM.
#[allow(clippy::too_many_arguments)]
pub fn matmul_fused(
    out: &mut [f32],
    input: &[f32],
    weight_kn: &[f32],
    bias: &[f32],
    m: usize,
    k: usize,
    n: usize,
    epilogue: Epilogue,
) {
    assert_eq!(out.len(), m * n);
    assert_eq!(input.len(), m * k);
    assert_eq!(weight_kn.len(), n * k);
    assert_eq!(bias.len(), n);
    if m == 0 || n == 0 {
        return;
    }
    let threads = if m * n * k > 1 << 20 {
        rayon::current_num_threads()
    } else {
        1
    };
    let rows_per_task = m.div_ceil(threads);
    out.par_chunks_mut(rows_per_task * n)
        .zip(input.par_chunks(rows_per_task * k))
        .for_each(|(out, input)| {
            let rows = out.len() / n;
            for row in out.chunks_exact_mut(n) {
                if epilogue == Epilogue::BiasAccumulate {
                    add_slices(row, bias);
                } else {
                    row.copy_from_slice(bias);
                }
            }
            // SAFETY: dst is rows x n row-major (rs n, cs 1) and lhs rows x k row-major, both
            // exactly the chunks; rhs is k x n row-major (rs n, cs 1), checked above. alpha 1
            // with read_dst: the GEMM adds onto the bias (or residual + bias) already in dst.
            unsafe {
                gemm::gemm(
                    rows,
                    n,
                    k,
                    out.as_mut_ptr(),
                    1,
                    n as isize,
                    true,
                    input.as_ptr(),
                    1,
                    k as isize,
                    weight_kn.as_ptr(),
                    1,
                    n as isize,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
            if epilogue == Epilogue::BiasGelu {
                gelu_slice(out);
            }
        });
}

/// `[rows][cols]` -> `[cols][rows]`.
pub fn transposed(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    assert_eq!(x.len(), rows * cols);
    // In 32 x 32 tiles: element by element, every write of a long row lands on a different
    // cache line and page (a 512 x 2048 weight took ~10 ms that way, at model load).
    const TILE: usize = 32;
    let mut t = vec![0.0f32; x.len()];
    for i0 in (0..rows).step_by(TILE) {
        for j0 in (0..cols).step_by(TILE) {
            for i in i0..(i0 + TILE).min(rows) {
                let row = &x[i * cols..(i + 1) * cols];
                for j in j0..(j0 + TILE).min(cols) {
                    t[j * rows + i] = row[j];
                }
            }
        }
    }
    t
}

/// Kernel-3, padding-1 Conv1d as im2col + GEMM. `input` is frame-major `[in_frames][c]`,
/// `weight_kn` is pre-arranged `[3][c][out]` (see `CpuWeights`), `cols` is scratch of
/// `out_frames * 3 * c`.
#[allow(clippy::too_many_arguments)]
pub fn conv1d_k3(
    out: &mut [f32],
    cols: &mut [f32],
    input: &[f32],
    weight_kn: &[f32],
    bias: &[f32],
    in_frames: usize,
    channels: usize,
    out_frames: usize,
    stride: usize,
    epilogue: Epilogue,
) {
    im2col_k3(cols, input, in_frames, channels, stride);
    matmul_fused(
        out,
        cols,
        weight_kn,
        bias,
        out_frames,
        3 * channels,
        bias.len(),
        epilogue,
    );
}

/// The im2col rows of a kernel-3, padding-1 convolution: row t is
/// `[x[s*t-1], x[s*t], x[s*t+1]]` (zeros outside the input), `cols` sized `out_frames * 3c`.
pub fn im2col_k3(
    cols: &mut [f32],
    input: &[f32],
    in_frames: usize,
    channels: usize,
    stride: usize,
) {
    cols.par_chunks_mut(3 * channels)
        .enumerate()
        .for_each(|(t, col)| {
            for j in 0..3 {
                let src = (stride * t + j) as isize - 1;
                let dst = &mut col[j * channels..(j + 1) * channels];
                if src < 0 || src as usize >= in_frames {
                    dst.fill(0.0);
                } else {
                    let s = src as usize * channels;
                    dst.copy_from_slice(&input[s..s + channels]);
                }
            }
        });
}

/// A raw output pointer shared by attention tasks; each task writes its own head's columns.
#[derive(Clone, Copy)]
pub(crate) struct OutPtr(pub(crate) *mut f32);
// SAFETY: tasks write disjoint column blocks of the output, see `attention`.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// Through a method, so closures capture the whole (Send + Sync) wrapper, not its field.
    pub(crate) fn get(self) -> *mut f32 {
        self.0
    }
}

/// Multi-head self-attention from the fused `[frames][3d]` Q|K|V buffer into `[frames][d]`.
/// One task per (head, block of query rows): the block's scaled scores, a vectorised softmax
/// per row, and the context written straight into the head's columns of the output.
pub fn attention(
    out: &mut [f32],
    qkv: &[f32],
    heads: usize,
    frames: usize,
    d: usize,
    scratch: &ThreadScratch,
) {
    assert_eq!(out.len(), frames * d);
    assert_eq!(qkv.len(), frames * 3 * d);
    let hd = d / heads;
    let scale = 1.0 / (hd as f32).sqrt();
    let out_ptr = OutPtr(out.as_mut_ptr());
    let stride = 3 * d as isize;
    let blocks = frames.div_ceil(ATTENTION_BLOCK_ROWS);
    // One task per (head, block of query rows), each with its thread's scores scratch
    // (ATTENTION_BLOCK_ROWS x frames, planned once with the buffers) instead of a 9 MB
    // frames x frames matrix per head.
    (0..heads * blocks).into_par_iter().for_each(|task| {
        let mut scores = scratch.for_this_thread();
        let needed = ATTENTION_BLOCK_ROWS.min(frames) * frames;
        if scores.len() < needed {
            // Only when the scratch was planned for fewer frames.
            scores.resize(needed, 0.0);
        }
        let (h, block) = (task / blocks, task % blocks);
        let row0 = block * ATTENTION_BLOCK_ROWS;
        let rows = ATTENTION_BLOCK_ROWS.min(frames - row0);
        let q = &qkv[row0 * 3 * d + h * hd..];
        let k = &qkv[d + h * hd..];
        let v = &qkv[2 * d + h * hd..];
        // SAFETY: q (rows x hd from row row0), k and v (frames x hd) are read with row
        // stride 3d from offsets inside qkv, staying inside it
        // (h*hd + 2d + (frames-1)*3d + hd <= frames*3d). The output block, rows
        // row0..row0+rows of columns h*hd..(h+1)*hd, belongs to this task alone, and out
        // holds frames x d values (asserted above).
        unsafe {
            gemm::gemm(
                rows,
                frames,
                hd,
                scores.as_mut_ptr(),
                1,
                frames as isize,
                false,
                q.as_ptr(),
                1,
                stride,
                k.as_ptr(),
                stride,
                1,
                0.0,
                scale,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
        for row in scores[..rows * frames].chunks_exact_mut(frames) {
            softmax_in_place(row);
        }
        let base = out_ptr.get();
        unsafe {
            gemm::gemm(
                rows,
                hd,
                frames,
                base.add(row0 * d + h * hd),
                1,
                d as isize,
                false,
                scores.as_ptr(),
                1,
                frames as isize,
                v.as_ptr(),
                1,
                stride,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    });
}

/// Scratch with one slot per thread of the pool, made once (with the executor's buffers) and
/// reused by every call: the per-layer loop allocates nothing. Slots are indexed by pool thread,
/// so their locks are uncontended; holders must not run parallel work while holding one (a
/// stolen task on the same thread would wait on its own slot).
#[derive(Debug)]
pub struct PerThread<T> {
    slots: Vec<std::sync::Mutex<T>>,
}

impl<T> PerThread<T> {
    /// One slot per thread of the current rayon pool, each made by `make`.
    pub fn with(make: impl Fn() -> T) -> Self {
        PerThread {
            slots: (0..rayon::current_num_threads().max(1))
                .map(|_| std::sync::Mutex::new(make()))
                .collect(),
        }
    }

    /// The calling thread's slot.
    pub fn for_this_thread(&self) -> std::sync::MutexGuard<'_, T> {
        let i = rayon::current_thread_index().unwrap_or(0) % self.slots.len();
        self.slots[i].lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<T: Default> Default for PerThread<T> {
    fn default() -> Self {
        PerThread::with(T::default)
    }
}

/// Per-thread f32 scratch of a fixed length (the f32 attention's score blocks).
#[derive(Debug)]
pub struct ThreadScratch {
    len: usize,
    slots: PerThread<Vec<f32>>,
}

impl ThreadScratch {
    /// `len` floats for each thread of the current rayon pool.
    pub fn new(len: usize) -> Self {
        ThreadScratch {
            len,
            slots: PerThread::with(|| vec![0.0; len]),
        }
    }

    /// Scratch for attention over `frames` frames.
    pub fn for_attention(frames: usize) -> Self {
        ThreadScratch::new(ATTENTION_BLOCK_ROWS.min(frames) * frames)
    }

    /// The calling thread's slot.
    pub fn for_this_thread(&self) -> std::sync::MutexGuard<'_, Vec<f32>> {
        self.slots.for_this_thread()
    }
}

impl Default for ThreadScratch {
    fn default() -> Self {
        ThreadScratch::new(0)
    }
}

impl Clone for ThreadScratch {
    /// Fresh slots of the same size (the contents are scratch).
    fn clone(&self) -> Self {
        ThreadScratch::new(self.len)
    }
}

/// Query rows per attention task: 3 blocks per head at 1500 frames (3 MiB of scores per thread).
/// Measured as fast as whole heads here (128-row blocks, which fit L2, were 10% slower: K and V
/// are re-packed for every block).
const ATTENTION_BLOCK_ROWS: usize = 512;

/// Numerically stable softmax of one row, compiled for the widest vector unit the CPU has.
pub fn softmax_in_place(row: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if super::simd::has_avx512() {
        // SAFETY: the CPU supports the features this function is compiled for.
        unsafe { softmax_avx512(row) };
        return;
    }
    softmax_portable(row);
}

/// AVX-512 softmax: max, then e^(x - max) with the sum in the same pass, then the scale; the
/// exp is `math::exp`'s reduction and polynomial, with 2^n applied by `vscalefps`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn softmax_avx512(row: &mut [f32]) {
    use std::arch::x86_64::*;
    let n = row.len();
    let body = n - n % 16;
    let ptr = row.as_mut_ptr();
    let mut vmax = _mm512_set1_ps(f32::NEG_INFINITY);
    let mut i = 0;
    while i < body {
        // SAFETY (all loads/stores here): i + 16 <= body <= row.len().
        vmax = _mm512_max_ps(vmax, unsafe { _mm512_loadu_ps(ptr.add(i)) });
        i += 16;
    }
    let mut max = _mm512_reduce_max_ps(vmax);
    for &x in &row[body..] {
        max = max.max(x);
    }
    let vmax = _mm512_set1_ps(max);
    let mut vsum = _mm512_setzero_ps();
    let mut i = 0;
    while i < body {
        let e = exp16(_mm512_sub_ps(unsafe { _mm512_loadu_ps(ptr.add(i)) }, vmax));
        unsafe { _mm512_storeu_ps(ptr.add(i), e) };
        vsum = _mm512_add_ps(vsum, e);
        i += 16;
    }
    let mut sum = _mm512_reduce_add_ps(vsum);
    for x in &mut row[body..] {
        *x = math::exp(*x - max);
        sum += *x;
    }
    let inv = 1.0 / sum;
    let vinv = _mm512_set1_ps(inv);
    let mut i = 0;
    while i < body {
        unsafe { _mm512_storeu_ps(ptr.add(i), _mm512_mul_ps(_mm512_loadu_ps(ptr.add(i)), vinv)) };
        i += 16;
    }
    for x in &mut row[body..] {
        *x *= inv;
    }
}

/// e^x on 16 lanes: `math::exp`'s Cody-Waite reduction and polynomial.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn exp16(x: std::arch::x86_64::__m512) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    let x = _mm512_min_ps(
        _mm512_max_ps(x, _mm512_set1_ps(-87.0)),
        _mm512_set1_ps(88.0),
    );
    let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
        _mm512_mul_ps(x, _mm512_set1_ps(std::f32::consts::LOG2_E)),
    );
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693_359_4), x);
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.121_944_4e-4), r);
    let mut p = _mm512_set1_ps(1.987_569_1e-4);
    for c in [
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        5.0e-1,
    ] {
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
    }
    let r2 = _mm512_mul_ps(r, r);
    let p = _mm512_add_ps(_mm512_fmadd_ps(p, r2, r), _mm512_set1_ps(1.0));
    _mm512_scalef_ps(p, n)
}

/// The reductions keep 8 independent lanes so the compiler can vectorise them (a single running
/// sum is a serial dependency chain).
#[inline(always)]
fn softmax_portable(row: &mut [f32]) {
    const LANES: usize = 8;
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (m, &x) in lanes.iter_mut().zip(chunk) {
            *m = m.max(x);
        }
    }
    let max = chunks
        .remainder()
        .iter()
        .chain(lanes.iter())
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    for x in row.iter_mut() {
        *x = math::exp(*x - max);
    }
    let mut sums = [0.0f32; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (s, &x) in sums.iter_mut().zip(chunk) {
            *s += x;
        }
    }
    let sum: f32 = sums.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>();
    let inv = 1.0 / sum;
    for x in row.iter_mut() {
        *x *= inv;
    }
}

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
pub fn layer_norm(out: &mut [f32], input: &[f32], gamma: &[f32], beta: &[f32], cols: usize) {
    out.par_chunks_mut(cols)
        .zip(input.par_chunks(cols))
        .for_each(|(o, x)| layer_norm_row(o, x, gamma, beta));
}

/// `layer_norm` on the calling thread (the decoder's few rows per step, where waking the pool
/// costs more than the work).
pub fn layer_norm_rows(out: &mut [f32], input: &[f32], gamma: &[f32], beta: &[f32]) {
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
pub fn gelu_in_place(values: &mut [f32]) {
    values.par_chunks_mut(16 * 1024).for_each(gelu_slice);
}

/// GELU over one slice on the calling thread, compiled for the widest vector unit the CPU has.
pub fn gelu_slice(values: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if super::simd::has_avx512() {
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
pub fn add_slices(target: &mut [f32], source: &[f32]) {
    for (t, s) in target.iter_mut().zip(source) {
        *t += s;
    }
}

/// `target += source`.
pub fn add_in_place(target: &mut [f32], source: &[f32]) {
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

    fn naive_matmul(
        input: &[f32],
        weight: &[f32],
        bias: &[f32],
        m: usize,
        k: usize,
        n: usize,
    ) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut acc = bias[j] as f64;
                for kk in 0..k {
                    acc += input[i * k + kk] as f64 * weight[j * k + kk] as f64;
                }
                out[i * n + j] = acc as f32;
            }
        }
        out
    }

    fn ramp(len: usize, seed: f32) -> Vec<f32> {
        (0..len)
            .map(|i| (i as f32 * 0.37 + seed).sin() * 0.5)
            .collect()
    }

    #[test]
    fn transposed_moves_every_element_across_partial_tiles() {
        for (rows, cols) in [(1, 1), (3, 70), (33, 31), (64, 96)] {
            let x = ramp(rows * cols, 0.3);
            let t = transposed(&x, rows, cols);
            for i in 0..rows {
                for j in 0..cols {
                    assert_eq!(t[j * rows + i], x[i * cols + j], "{rows}x{cols} at {i},{j}");
                }
            }
        }
    }

    #[test]
    fn matmul_bias_matches_a_naive_product() {
        let (m, k, n) = (37, 29, 23);
        let (a, w, b) = (ramp(m * k, 0.1), ramp(n * k, 0.7), ramp(n, 1.3));
        let mut out = vec![0.0; m * n];
        matmul_bias(&mut out, &a, &transposed(&w, n, k), &b, m, k, n);
        let want = naive_matmul(&a, &w, &b, m, k, n);
        for (x, y) in out.iter().zip(&want) {
            assert!((x - y).abs() < 1e-5);
        }
    }

    #[test]
    fn fused_epilogues_match_the_separate_ops() {
        // Large enough to split rows across threads.
        let (m, k, n) = (300, 64, 96);
        let (a, w, b) = (ramp(m * k, 0.1), ramp(n * k, 0.7), ramp(n, 1.3));
        let w_kn = transposed(&w, n, k);
        let plain = naive_matmul(&a, &w, &b, m, k, n);
        let mut gelu = vec![0.0; m * n];
        matmul_fused(&mut gelu, &a, &w_kn, &b, m, k, n, Epilogue::BiasGelu);
        let residual = ramp(m * n, 2.1);
        let mut accumulated = residual.clone();
        matmul_fused(
            &mut accumulated,
            &a,
            &w_kn,
            &b,
            m,
            k,
            n,
            Epilogue::BiasAccumulate,
        );
        for i in 0..m * n {
            let want_gelu = math::gelu(plain[i]);
            assert!((gelu[i] - want_gelu).abs() < 1e-4, "gelu at {i}");
            let want_sum = residual[i] + plain[i];
            assert!(
                (accumulated[i] - want_sum).abs() < 1e-4,
                "accumulate at {i}"
            );
        }
        assert!(gelu.iter().zip(&plain).any(|(g, p)| (g - p).abs() > 0.1));
    }

    #[test]
    fn conv_stride_2_matches_direct_convolution() {
        let (frames, c, o) = (10, 3, 4);
        let input = ramp(frames * c, 0.2); // [t][c]
        let w_pt = ramp(o * c * 3, 0.9); // PyTorch [o][c][j]
        let bias = ramp(o, 2.0);
        let mut w = vec![0.0; o * 3 * c]; // ours [o][j][c]
        for oo in 0..o {
            for cc in 0..c {
                for j in 0..3 {
                    w[oo * 3 * c + j * c + cc] = w_pt[oo * c * 3 + cc * 3 + j];
                }
            }
        }
        let out_frames = frames / 2;
        let mut out = vec![0.0; out_frames * o];
        let mut cols = vec![0.0; out_frames * 3 * c];
        let w_kn = transposed(&w, o, 3 * c);
        conv1d_k3(
            &mut out,
            &mut cols,
            &input,
            &w_kn,
            &bias,
            frames,
            c,
            out_frames,
            2,
            Epilogue::Bias,
        );
        for t in 0..out_frames {
            for oo in 0..o {
                let mut acc = bias[oo];
                for cc in 0..c {
                    for j in 0..3 {
                        let s = (2 * t + j) as isize - 1;
                        if s >= 0 && (s as usize) < frames {
                            acc += w_pt[oo * c * 3 + cc * 3 + j] * input[s as usize * c + cc];
                        }
                    }
                }
                assert!((out[t * o + oo] - acc).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn attention_matches_a_direct_softmax() {
        let (frames, heads, d) = (7, 2, 8);
        let hd = d / heads;
        let qkv = ramp(frames * 3 * d, 0.4);
        let mut out = vec![0.0; frames * d];
        attention(&mut out, &qkv, heads, frames, d, &ThreadScratch::new(0));
        for h in 0..heads {
            for i in 0..frames {
                let q = |c: usize| qkv[i * 3 * d + h * hd + c] as f64;
                let scores: Vec<f64> = (0..frames)
                    .map(|j| {
                        (0..hd)
                            .map(|c| q(c) * qkv[j * 3 * d + d + h * hd + c] as f64)
                            .sum::<f64>()
                            / (hd as f64).sqrt()
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::MIN, f64::max);
                let e: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                let sum: f64 = e.iter().sum();
                for c in 0..hd {
                    let want: f64 = (0..frames)
                        .map(|j| e[j] / sum * qkv[j * 3 * d + 2 * d + h * hd + c] as f64)
                        .sum();
                    assert!((out[i * d + h * hd + c] as f64 - want).abs() < 1e-5);
                }
            }
        }
    }

    /// 37 values: two 16-lane blocks and a tail, so the AVX-512 body runs where the CPU has it.
    #[test]
    fn softmax_matches_f64_over_vector_body_and_tail() {
        let mut row: Vec<f32> = ramp(37, 0.9).iter().map(|x| x * 30.0).collect();
        let max = row.iter().cloned().fold(f32::MIN, f32::max) as f64;
        let e: Vec<f64> = row.iter().map(|&x| (x as f64 - max).exp()).collect();
        let sum: f64 = e.iter().sum();
        softmax_in_place(&mut row);
        for (got, e) in row.iter().zip(&e) {
            let want = e / sum;
            assert!(
                ((*got as f64) - want).abs() <= 1e-6 * want.max(1e-3),
                "{got} {want}"
            );
        }
    }

    #[test]
    fn layer_norm_normalises_rows() {
        let cols = 16;
        let x = ramp(3 * cols, 0.3);
        let mut out = vec![0.0; x.len()];
        layer_norm(&mut out, &x, &vec![1.0; cols], &vec![0.0; cols], cols);
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
