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

/// Output columns per packed panel (two zmm accumulators of 16 f32).
const NR: usize = 32;
/// Rows per microkernel call: 2 x MR accumulators (16 of the 32 zmm registers) hide the
/// dot-product latency.
const MR: usize = 8;
/// Rows per parallel task.
const ROWS_PER_TASK: usize = 96;

/// True when this CPU can run the bf16 kernels (and AVX-512 is not forced off).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        super::simd::has_avx512() && std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn bf16_bits(x: f32) -> u16 {
    half::bf16::from_f32(x).to_bits()
}

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
    pub fn new(weight_kn: &[f32], n: usize, k: usize) -> Self {
        assert_eq!(weight_kn.len(), n * k);
        let k2 = k.next_multiple_of(2);
        let panels = n.div_ceil(NR);
        let mut data = vec![0u16; panels * (k2 / 2) * NR * 2];
        for p in 0..panels {
            for kp in 0..k2 / 2 {
                for c in 0..NR {
                    let j = p * NR + c;
                    for h in 0..2 {
                        let kk = 2 * kp + h;
                        if j < n && kk < k {
                            data[((p * (k2 / 2) + kp) * NR + c) * 2 + h] =
                                bf16_bits(weight_kn[kk * n + j]);
                        }
                    }
                }
            }
        }
        PackedWeight { n, k, k2, data }
    }
}

/// `out[m][n] = bf16(input)[m][k] · W^T + bias`, f32 accumulation. Panics if the CPU lacks
/// AVX512_BF16: callers check `available()` first.
pub fn matmul_bias(out: &mut [f32], input: &[f32], weight: &PackedWeight, bias: &[f32], m: usize) {
    let (n, k, k2) = (weight.n, weight.k, weight.k2);
    assert!(available(), "bf16 kernels need AVX512_BF16");
    assert_eq!(out.len(), m * n);
    assert_eq!(input.len(), m * k);
    assert_eq!(bias.len(), n);
    // Activations as bf16 pairs along k, one u32 per pair (what vpbroadcastd feeds the kernel).
    let pairs: Vec<u32> = input
        .par_chunks(k)
        .flat_map_iter(|row| {
            (0..k2 / 2).map(move |p| {
                let lo = bf16_bits(row[2 * p]) as u32;
                let hi = if 2 * p + 1 < k {
                    bf16_bits(row[2 * p + 1]) as u32
                } else {
                    0
                };
                lo | (hi << 16)
            })
        })
        .collect();
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
                )
            };
        });
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn block(out: &mut [f32], pairs: &[u32], w: &PackedWeight, bias: &[f32], rows: usize) {
    let n = w.n;
    let kp = w.k2 / 2;
    for p in 0..n.div_ceil(NR) {
        let panel = &w.data[p * kp * NR * 2..(p + 1) * kp * NR * 2];
        let mut r = 0;
        // Full groups of MR rows, then the remaining rows one at a time: the row count is a
        // constant in each instantiation, so the accumulators stay in registers.
        while r + MR <= rows {
            // SAFETY: the caller checked the CPU features; indices as in `micro`.
            unsafe { micro::<MR>(out, pairs, panel, bias, r, p, n, kp) };
            r += MR;
        }
        while r < rows {
            unsafe { micro::<1>(out, pairs, panel, bias, r, p, n, kp) };
            r += 1;
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
        let cols = NR.min(n - p * NR);
        for (i, acc_row) in acc.iter().enumerate() {
            let mut lanes = [0.0f32; NR];
            _mm512_storeu_ps(lanes.as_mut_ptr(), acc_row[0]);
            _mm512_storeu_ps(lanes.as_mut_ptr().add(16), acc_row[1]);
            let row = &mut out[(r + i) * n + p * NR..(r + i) * n + p * NR + cols];
            for (c, o) in row.iter_mut().enumerate() {
                *o = lanes[c] + bias[p * NR + c];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_gemm_matches_float64_on_bf16_rounded_inputs() {
        if !available() {
            eprintln!("no AVX512_BF16 on this CPU: the bf16 path is not selectable here");
            return;
        }
        for (m, k, n) in [(1, 1, 1), (5, 7, 3), (97, 130, 33), (200, 512, 64)] {
            let a: Vec<f32> = (0..m * k)
                .map(|i| (i * 37 % 101) as f32 / 50.0 - 1.0)
                .collect();
            let w: Vec<f32> = (0..n * k)
                .map(|i| (i * 53 % 97) as f32 / 48.0 - 1.0)
                .collect();
            let bias: Vec<f32> = (0..n).map(|j| j as f32 * 0.01).collect();
            let mut out = vec![0.0f32; m * n];
            let w_kn = crate::exec::cpu::kernels::transposed(&w, n, k);
            matmul_bias(&mut out, &a, &PackedWeight::new(&w_kn, n, k), &bias, m);
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
