//! bf16 GEMM for the optional `--precision bf16` CPU path: AVX512_BF16 `vdpbf16ps` dot products
//! (two bf16 products summed into each f32 lane per instruction, about twice the f32 FMA rate),
//! f32 accumulation, f32 output. Weights are packed once per model; the activation operand is
//! rounded to bf16 (nearest even) per call. Only where the CPU has AVX512_BF16.
//!
//! Packing: for each panel of 32 output columns, for each pair of k, the 32 columns' two weights
//! side by side (64 bf16 = two zmm registers), so the microkernel streams the panel linearly.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use rayon::prelude::*;

use super::gemm::Epilogue;
use super::math;

/// Output columns per packed panel (two zmm accumulators of 16 f32).
const NR: usize = 32;
/// Rows per microkernel call: 2 x MR accumulators (16 of the 32 zmm registers) hide the
/// dot-product latency.
const MR: usize = 8;
/// Rows per parallel task.
const ROWS_PER_TASK: usize = 96;

/// A weight packed for the kernel (from the `[k][n]` layout of `Linear`).
#[derive(Debug, Clone)]
pub struct PackedWeight {
    pub n: usize,
    pub k: usize,
    /// `k` rounded up to even.
    k2: usize,
    /// Panels of `NR` columns: `[panel][k2 / 2][NR][2]` bf16 bits.
    data: Vec<u16>,
}

impl PackedWeight {
    /// From the `[k][n]` layout (`kernels::transposed` of PyTorch's `[out][in]`).
    pub fn new(weight_kn: &[f32], n: usize, k: usize) -> Self {
        assert_eq!(weight_kn.len(), n * k);
        let mut packed = PackedWeight::empty();
        packed.refill_from_k_rows(n, k, |kk| &weight_kn[kk * n..(kk + 1) * n]);
        packed
    }

    /// From PyTorch's `[out = n][in = k]` layout.
    pub fn from_out_in(weight: &[f32], n: usize, k: usize) -> Self {
        assert_eq!(weight.len(), n * k);
        let mut packed = PackedWeight::empty();
        packed.refill_from_columns(n, k, |j| &weight[j * k..(j + 1) * k]);
        packed
    }

    /// A 0 x 0 weight, to be refilled.
    pub fn empty() -> Self {
        PackedWeight {
            n: 0,
            k: 0,
            k2: 0,
            data: Vec::new(),
        }
    }

    /// Size the packed memory for `n x k` (reallocated only when it grows).
    fn reshape(&mut self, n: usize, k: usize) {
        let k2 = k.next_multiple_of(2);
        self.data.clear();
        self.data.resize(n.div_ceil(NR) * (k2 / 2) * NR * 2, 0);
        (self.n, self.k, self.k2) = (n, k, k2);
    }

    /// Pack the `k x n` matrix whose column `j` is `column(j)` (k contiguous values: a row of
    /// PyTorch's `[out][in]` weight, or a frame's key for K^T). A pair of the layout is two
    /// neighbours of one column, so each column converts in one pass; its pairs land NR apart
    /// within the panel (4 KB for a 64-wide head: in L1). No scratch: attention packs per call.
    pub fn refill_from_columns<'a>(
        &mut self,
        n: usize,
        k: usize,
        column: impl Fn(usize) -> &'a [f32],
    ) {
        self.reshape(n, k);
        for j in 0..n {
            self.put_column(j, column(j));
        }
    }

    /// Pack PyTorch's `[out = n][in = k]` weight from its rows, each read into a scratch row
    /// by `read_row(j, row)`: a stored f16 (or f32, bf16) weight is rounded to bf16 row by row,
    /// with no f32 copy of the whole matrix.
    pub fn from_rows<E>(
        n: usize,
        k: usize,
        mut read_row: impl FnMut(usize, &mut [f32]) -> Result<(), E>,
    ) -> Result<Self, E> {
        let mut packed = PackedWeight::empty();
        packed.reshape(n, k);
        let mut row = vec![0.0f32; k];
        for j in 0..n {
            read_row(j, &mut row)?;
            packed.put_column(j, &row);
        }
        Ok(packed)
    }

    /// Write column `j` (k values) of a reshaped weight into its panel.
    fn put_column(&mut self, j: usize, values: &[f32]) {
        debug_assert_eq!(values.len(), self.k);
        let pairs = self.k2 / 2;
        let (p, c) = (j / NR, j % NR);
        let out = &mut self.data[p * pairs * NR * 2..(p + 1) * pairs * NR * 2];
        for (kp, two) in values.chunks(2).enumerate() {
            let at = (kp * NR + c) * 2;
            out[at] = bf16_round(two[0]) as u16;
            out[at + 1] = two.get(1).map_or(0, |&v| bf16_round(v) as u16);
        }
    }

    /// Pack the `k x n` matrix whose row `kk` is `k_row(kk)` (n contiguous values: the `[k][n]`
    /// layout, or a frame's value for V). A pair-row of the layout is two such rows side by
    /// side, so every write is sequential.
    pub fn refill_from_k_rows<'a>(
        &mut self,
        n: usize,
        k: usize,
        k_row: impl Fn(usize) -> &'a [f32],
    ) {
        self.reshape(n, k);
        let pairs = self.k2 / 2;
        for (p, out) in self.data.chunks_exact_mut(pairs * NR * 2).enumerate() {
            let cols = p * NR..((p + 1) * NR).min(n);
            for (kp, row) in out.chunks_exact_mut(NR * 2).enumerate() {
                let low = &k_row(2 * kp)[cols.clone()];
                let high = (2 * kp + 1 < k).then(|| &k_row(2 * kp + 1)[cols.clone()]);
                for (c, bits) in row.chunks_exact_mut(2).take(cols.len()).enumerate() {
                    bits[0] = bf16_round(low[c]) as u16;
                    bits[1] = high.map_or(0, |h| bf16_round(h[c]) as u16);
                }
            }
        }
    }
}

/// `x` rounded to bf16 (to nearest, ties to even; NaN stays NaN), as the low 16 bits: the
/// arithmetic of `half::bf16::from_f32` without its call, so packing loops vectorise.
#[inline(always)]
fn bf16_round(x: f32) -> u32 {
    let bits = x.to_bits();
    if x.is_nan() {
        (bits >> 16) | 0x40
    } else {
        (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    }
}

/// `out[m][n] = bf16(input)[m][k] · W^T + bias`, f32 accumulation. Panics if the CPU lacks
/// AVX512_BF16: callers check `available()` first.
pub fn matmul_bias_par(
    out: &mut [f32],
    input: &[f32],
    weight: &PackedWeight,
    bias: &[f32],
    m: usize,
) {
    matmul_fused_par(out, input, weight, bias, m, Epilogue::Bias, &mut Vec::new());
}

/// `matmul_bias` with an epilogue applied to each 32-column tile while it is still in
/// registers; `pairs` is the bf16 activation scratch, kept by the caller across calls.
pub fn matmul_fused_par(
    out: &mut [f32],
    input: &[f32],
    weight: &PackedWeight,
    bias: &[f32],
    m: usize,
    epilogue: Epilogue,
    pairs: &mut Vec<u32>,
) {
    let (n, k, k2) = (weight.n, weight.k, weight.k2);
    assert!(
        crate::cpu_features::has_avx512_bf16(),
        "bf16 kernels need AVX512_BF16"
    );
    assert_eq!(out.len(), m * n);
    assert_eq!(input.len(), m * k);
    assert_eq!(bias.len(), n);
    // Activations as bf16 pairs along k, one u32 per pair (what vpbroadcastd feeds the kernel):
    // a row of k bf16 values (zero-padded to k2) is exactly its k2 / 2 pairs in memory.
    if pairs.len() < m * (k2 / 2) {
        pairs.resize(m * (k2 / 2), 0);
    }
    let pairs = &mut pairs[..m * (k2 / 2)];
    pairs
        .par_chunks_mut(k2 / 2)
        .zip(input.par_chunks(k))
        .for_each(|(dst, row)| {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: available() was asserted above.
            unsafe {
                row_to_bf16(dst, row)
            };
        });
    let pairs = &*pairs;
    out.par_chunks_mut(ROWS_PER_TASK * n)
        .enumerate()
        .for_each(|(task, out_rows)| {
            let r0 = task * ROWS_PER_TASK;
            let rows = out_rows.len() / n;
            #[cfg(target_arch = "x86_64")]
            // SAFETY: available() was asserted above; slices are sized as checked.
            unsafe {
                block(
                    out_rows,
                    &pairs[r0 * (k2 / 2)..(r0 + rows) * (k2 / 2)],
                    weight,
                    bias,
                    rows,
                    epilogue,
                )
            };
        });
}

/// Query rows per bf16 attention task.
const ATTENTION_BLOCK: usize = 256;

/// One thread's working memory in the bf16 attention: a block's scaled queries, scores and
/// context, and the bf16 pairs of whichever operand is being multiplied.
#[derive(Debug, Default)]
pub struct AttentionSlot {
    q: Vec<f32>,
    scores: Vec<f32>,
    context: Vec<f32>,
    pairs: Vec<u32>,
}

/// The bf16 attention's scratch, kept with the executor's buffers: every head's packed K^T and V
/// (refilled in place on each call) and a slot per pool thread. After the first window nothing
/// is allocated.
#[derive(Debug, Default)]
pub struct AttentionScratch {
    keys: Vec<PackedWeight>,
    values: Vec<PackedWeight>,
    zeros: Vec<f32>,
    slots: super::attention::PerThread<AttentionSlot>,
}

impl Clone for AttentionScratch {
    /// Fresh, empty scratch (the contents are scratch).
    fn clone(&self) -> Self {
        AttentionScratch::default()
    }
}

/// Multi-head attention with bf16 GEMMs (f32 accumulation, f32 softmax), the layout and
/// arithmetic of `attention::attention_par` otherwise. Every head's K^T and V are packed first (heads
/// in parallel); then one task per (head, block of query rows): scores = (scale Q) K^T,
/// softmax, context = P V, written into the head's columns of `out`.
pub fn attention_par(
    out: &mut [f32],
    qkv: &[f32],
    heads: usize,
    frames: usize,
    d: usize,
    scratch: &mut AttentionScratch,
) {
    assert!(
        crate::cpu_features::has_avx512_bf16(),
        "bf16 kernels need AVX512_BF16"
    );
    assert_eq!(out.len(), frames * d);
    assert_eq!(qkv.len(), frames * 3 * d);
    let hd = d / heads;
    let scale = 1.0 / (hd as f32).sqrt();
    scratch.keys.resize_with(heads, PackedWeight::empty);
    scratch.values.resize_with(heads, PackedWeight::empty);
    scratch.zeros.resize(frames.max(hd), 0.0);
    // Element c of frame t of head h's Q (base 0), K (base d) or V (base 2d).
    let at = |h: usize, base: usize, t: usize, c: usize| qkv[t * 3 * d + base + h * hd + c];
    scratch
        .keys
        .par_iter_mut()
        .zip(scratch.values.par_iter_mut())
        .enumerate()
        .for_each(|(h, (keys, values))| {
            // K^T as a [k = hd][n = frames] weight; V as [k = frames][n = hd].
            let row = |t: usize, base: usize| &qkv[t * 3 * d + base + h * hd..][..hd];
            keys.refill_from_columns(frames, hd, |t| row(t, d));
            values.refill_from_k_rows(hd, frames, |t| row(t, 2 * d));
        });
    let blocks = frames.div_ceil(ATTENTION_BLOCK);
    let out_ptr = super::attention::OutPtr(out.as_mut_ptr());
    let scratch = &*scratch;
    (0..heads * blocks).into_par_iter().for_each(|task| {
        let (h, block) = (task / blocks, task % blocks);
        let r0 = block * ATTENTION_BLOCK;
        let rows = ATTENTION_BLOCK.min(frames - r0);
        let mut slot = scratch.slots.for_this_thread();
        let AttentionSlot {
            q,
            scores,
            context,
            pairs,
        } = &mut *slot;
        q.resize(rows * hd, 0.0);
        for (i, value) in q.iter_mut().enumerate() {
            *value = at(h, 0, r0 + i / hd, i % hd) * scale;
        }
        scores.resize(rows * frames, 0.0);
        let zeros = &scratch.zeros;
        matmul_rows(scores, q, &scratch.keys[h], &zeros[..frames], rows, pairs);
        for row in scores.chunks_exact_mut(frames) {
            super::attention::softmax(row);
        }
        context.resize(rows * hd, 0.0);
        matmul_rows(
            context,
            scores,
            &scratch.values[h],
            &zeros[..hd],
            rows,
            pairs,
        );
        let base = out_ptr.get();
        for (i, row) in context.chunks_exact(hd).enumerate() {
            // SAFETY: this task alone writes rows r0..r0+rows of columns h*hd..(h+1)*hd, inside
            // out (frames x d, asserted above).
            unsafe {
                std::ptr::copy_nonoverlapping(row.as_ptr(), base.add((r0 + i) * d + h * hd), hd);
            }
        }
    });
}

/// `matmul_bias` on the calling thread only (inside a parallel task holding a scratch slot).
fn matmul_rows(
    out: &mut [f32],
    input: &[f32],
    weight: &PackedWeight,
    bias: &[f32],
    m: usize,
    pairs: &mut Vec<u32>,
) {
    let (n, k, k2) = (weight.n, weight.k, weight.k2);
    assert!(out.len() == m * n && input.len() == m * k && bias.len() == n);
    pairs.resize(m * (k2 / 2), 0);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: callers checked available(); slices are sized as asserted.
    unsafe {
        for (dst, row) in pairs.chunks_exact_mut(k2 / 2).zip(input.chunks_exact(k)) {
            row_to_bf16(dst, row);
        }
        block(out, pairs, weight, bias, m, Epilogue::Bias);
    }
}

/// One row of f32 as bf16 (round to nearest even, `vcvtne2ps2bf16`) into `dst`, 32 values per
/// step with masked loads and stores at the tail; `dst` holds `row.len()` rounded up to even.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn row_to_bf16(dst: &mut [u32], row: &[f32]) {
    let k = row.len();
    assert!(dst.len() * 2 >= k);
    let mut j = 0;
    while j < k {
        let take = (k - j).min(32);
        let lo_mask = ((1u32 << take.min(16)) - 1) as __mmask16;
        let hi_mask = ((1u32 << take.saturating_sub(16)) - 1) as __mmask16;
        // SAFETY: the masks limit loads to row[j..j + take] and stores to the take.div_ceil(2)
        // pairs that follow dst[j / 2] (within dst, asserted above).
        unsafe {
            let lo = _mm512_maskz_loadu_ps(lo_mask, row.as_ptr().add(j));
            let hi = _mm512_maskz_loadu_ps(hi_mask, row.as_ptr().add(j + 16));
            let packed: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(hi, lo));
            let pair_mask = ((1u32 << take.div_ceil(2)) - 1) as __mmask16;
            _mm512_mask_storeu_epi32(dst.as_mut_ptr().add(j / 2) as *mut _, pair_mask, packed);
        }
        j += 32;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn block(
    out: &mut [f32],
    pairs: &[u32],
    w: &PackedWeight,
    bias: &[f32],
    rows: usize,
    epilogue: Epilogue,
) {
    let n = w.n;
    let kp = w.k2 / 2;
    for p in 0..n.div_ceil(NR) {
        let panel = &w.data[p * kp * NR * 2..(p + 1) * kp * NR * 2];
        let mut r = 0;
        // Full groups of MR rows, then the remaining rows one at a time: the row count is a
        // constant in each instantiation, so the accumulators stay in registers.
        while r + MR <= rows {
            // SAFETY: the caller checked the CPU features; indices as in `micro`.
            unsafe { micro::<MR>(out, pairs, panel, bias, r, p, n, kp, epilogue) };
            gelu_tile(out, epilogue, r..r + MR, p, n);
            r += MR;
        }
        if r + 4 <= rows {
            unsafe { micro::<4>(out, pairs, panel, bias, r, p, n, kp, epilogue) };
            gelu_tile(out, epilogue, r..r + 4, p, n);
            r += 4;
        }
        while r < rows {
            unsafe { micro::<1>(out, pairs, panel, bias, r, p, n, kp, epilogue) };
            gelu_tile(out, epilogue, r..r + 1, p, n);
            r += 1;
        }
    }
}

/// GELU over the tile `micro` just stored (rows x panel `p`'s columns), while it is in L1;
/// outside `micro`, whose registers all hold accumulators.
#[inline(always)]
fn gelu_tile(
    out: &mut [f32],
    epilogue: Epilogue,
    rows: std::ops::Range<usize>,
    p: usize,
    n: usize,
) {
    if epilogue != Epilogue::BiasGelu {
        return;
    }
    let cols = p * NR..((p + 1) * NR).min(n);
    for r in rows {
        for x in &mut out[r * n + cols.start..r * n + cols.end] {
            *x = math::gelu(*x);
        }
    }
}

/// R rows x 32 columns of output: 2R zmm accumulators over the k pairs of one panel.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
#[allow(clippy::too_many_arguments)]
unsafe fn micro<const R: usize>(
    out: &mut [f32],
    pairs: &[u32],
    panel: &[u16],
    bias: &[f32],
    r: usize,
    p: usize,
    n: usize,
    kp: usize,
    epilogue: Epilogue,
) {
    // SAFETY: loads read 64 bf16 (128 bytes) at q * NR * 2 inside the panel of kp * NR * 2
    // elements (q < kp); pairs rows r..r+R have kp entries each (the caller's slice holds its
    // rows); the CPU has the enabled features (checked by the caller).
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        let a_rows: [&[u32]; R] = std::array::from_fn(|i| &pairs[(r + i) * kp..(r + i + 1) * kp]);
        for q in 0..kp {
            let b = panel.as_ptr().add(q * NR * 2);
            let b0: __m512bh = std::mem::transmute(_mm512_loadu_si512(b as *const _));
            let b1: __m512bh = std::mem::transmute(_mm512_loadu_si512(b.add(32) as *const _));
            for i in 0..R {
                let a: __m512bh =
                    std::mem::transmute(_mm512_set1_epi32(*a_rows[i].get_unchecked(q) as i32));
                acc[i][0] = _mm512_dpbf16_ps(acc[i][0], a, b0);
                acc[i][1] = _mm512_dpbf16_ps(acc[i][1], a, b1);
            }
        }
        // Epilogue: + bias, stored straight from the registers; a partial last panel uses
        // masked loads and stores, so nothing outside the row is read or written.
        let cols = NR.min(n - p * NR);
        let mask = |lo: usize| -> __mmask16 {
            let c = cols.saturating_sub(lo).min(16);
            ((1u32 << c) - 1) as __mmask16
        };
        let (m0, m1) = (mask(0), mask(16));
        let b = bias.as_ptr().add(p * NR);
        let b0 = _mm512_maskz_loadu_ps(m0, b);
        let b1 = _mm512_maskz_loadu_ps(m1, b.add(16));
        assert!(out.len() >= (r + R - 1) * n + p * NR + cols);
        for (i, acc_row) in acc.iter().enumerate() {
            let o = out.as_mut_ptr().add((r + i) * n + p * NR);
            let (mut v0, mut v1) = (_mm512_add_ps(acc_row[0], b0), _mm512_add_ps(acc_row[1], b1));
            if epilogue == Epilogue::BiasAccumulate {
                v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, o));
                v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, o.add(16)));
            }
            _mm512_mask_storeu_ps(o, m0, v0);
            _mm512_mask_storeu_ps(o.add(16), m1, v1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_attention_stays_close_to_the_f32_kernel() {
        if !crate::cpu_features::has_avx512_bf16() {
            return;
        }
        // 300 frames: a partial row block and a partial 32-column panel.
        let (frames, heads, d) = (300, 4, 256);
        let qkv: Vec<f32> = (0..frames * 3 * d)
            .map(|i| ((i * 7919 % 2003) as f32 / 1001.0 - 1.0) * 2.0)
            .collect();
        let mut want = vec![0.0f32; frames * d];
        let scratch = crate::kernels::attention::ThreadScratch::for_attention(frames);
        crate::kernels::attention::attention_par(&mut want, &qkv, heads, frames, d, &scratch);
        let mut got = vec![0.0f32; frames * d];
        let mut scratch = AttentionScratch::default();
        attention_par(&mut got, &qkv, heads, frames, d, &mut scratch);
        // A second call reuses the scratch and gives the same result.
        let mut again = vec![0.0f32; frames * d];
        attention_par(&mut again, &qkv, heads, frames, d, &mut scratch);
        assert_eq!(got, again);
        let dot: f64 = want
            .iter()
            .zip(&got)
            .map(|(a, b)| *a as f64 * *b as f64)
            .sum();
        let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        let cosine = dot / (norm(&want) * norm(&got));
        assert!(cosine > 0.9999, "cosine {cosine}");
    }

    /// Deterministic activations `[m][k]`, weight values (n * k) and bias `[n]` in [-1, 1].
    fn operands(m: usize, k: usize, n: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let a = (0..m * k).map(|i| (i * 37 % 101) as f32 / 50.0 - 1.0);
        let w = (0..n * k).map(|i| (i * 53 % 97) as f32 / 48.0 - 1.0);
        let bias = (0..n).map(|j| j as f32 * 0.01);
        (a.collect(), w.collect(), bias.collect())
    }

    #[test]
    fn bf16_epilogues_match_the_separate_ops() {
        if !crate::cpu_features::has_avx512_bf16() {
            return;
        }
        // 100 rows: one full task plus a partial one; 40 columns: a partial panel.
        let (m, k, n) = (100, 48, 40);
        let (a, w_kn, bias) = operands(m, k, n);
        let packed = PackedWeight::new(&w_kn, n, k);
        let mut plain = vec![0.0f32; m * n];
        matmul_bias_par(&mut plain, &a, &packed, &bias, m);
        let mut pairs = Vec::new();
        let mut gelu = vec![0.0f32; m * n];
        matmul_fused_par(
            &mut gelu,
            &a,
            &packed,
            &bias,
            m,
            Epilogue::BiasGelu,
            &mut pairs,
        );
        let residual: Vec<f32> = (0..m * n).map(|i| (i % 13) as f32 - 6.0).collect();
        let mut accumulated = residual.clone();
        let how = Epilogue::BiasAccumulate;
        matmul_fused_par(&mut accumulated, &a, &packed, &bias, m, how, &mut pairs);
        for i in 0..m * n {
            assert!((gelu[i] - math::gelu(plain[i])).abs() < 1e-5, "gelu at {i}");
            assert!(
                (accumulated[i] - (residual[i] + plain[i])).abs() < 1e-4,
                "add at {i}"
            );
        }
    }

    #[test]
    fn bf16_rounding_is_that_of_the_half_crate() {
        let mut bits = 0x1234_5678u32;
        let specials = [
            0.0f32,
            -0.0,
            1.0,
            f32::MAX,
            f32::MIN_POSITIVE,
            1e-40,
            f32::INFINITY,
        ];
        let values = specials
            .into_iter()
            .chain([f32::NAN, -f32::NAN, f32::from_bits(0x7F80_0001)])
            .chain((0..100_000).map(|_| {
                bits = bits.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                f32::from_bits(bits)
            }));
        for x in values {
            let want = half::bf16::from_f32(x).to_bits();
            assert_eq!(bf16_round(x) as u16, want, "{x:e} ({:#x})", x.to_bits());
        }
    }

    #[test]
    fn both_packers_give_the_layout_the_kernel_reads() {
        // Odd k (a half-empty last pair), n past a whole panel.
        for (n, k) in [(1usize, 1usize), (33, 7), (70, 64), (64, 150)] {
            let w: Vec<f32> = (0..n * k).map(|i| (i as f32 * 0.37).sin()).collect();
            let k2 = k.next_multiple_of(2);
            let mut want = vec![0u16; n.div_ceil(NR) * (k2 / 2) * NR * 2];
            for j in 0..n {
                for kk in 0..k {
                    let (p, c, kp, h) = (j / NR, j % NR, kk / 2, kk % 2);
                    want[((p * (k2 / 2) + kp) * NR + c) * 2 + h] =
                        half::bf16::from_f32(w[j * k + kk]).to_bits();
                }
            }
            let from_rows = PackedWeight::from_out_in(&w, n, k);
            let w_kn = crate::kernels::gemm::transposed(&w, n, k);
            let from_k_rows = PackedWeight::new(&w_kn, n, k);
            assert_eq!(from_rows.data, want, "columns, {n} x {k}");
            assert_eq!(from_k_rows.data, want, "k rows, {n} x {k}");
        }
    }

    #[test]
    fn bf16_gemm_matches_float64_on_bf16_rounded_inputs() {
        if !crate::cpu_features::has_avx512_bf16() {
            eprintln!("no AVX512_BF16 on this CPU: the bf16 path is not selectable here");
            return;
        }
        for (m, k, n) in [(1, 1, 1), (5, 7, 3), (97, 130, 33), (200, 512, 64)] {
            // The weight as PyTorch's [n][k] (same values, read as n x k).
            let (a, w, bias) = operands(m, k, n);
            let mut out = vec![0.0f32; m * n];
            let w_kn = crate::kernels::gemm::transposed(&w, n, k);
            matmul_bias_par(&mut out, &a, &PackedWeight::new(&w_kn, n, k), &bias, m);
            let r = |x: f32| half::bf16::from_f32(x).to_f32() as f64;
            for i in 0..m {
                for j in 0..n {
                    let want: f64 = bias[j] as f64
                        + (0..k)
                            .map(|kk| r(a[i * k + kk]) * r(w[j * k + kk]))
                            .sum::<f64>();
                    let got = out[i * n + j] as f64;
                    assert!(
                        (got - want).abs() <= 1e-5 * (1.0 + want.abs()) * (k as f64).sqrt(),
                        "{m}x{k}x{n} at {i},{j}: {got} vs {want}"
                    );
                }
            }
        }
    }
}
