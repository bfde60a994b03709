//! A software model of our NPU kernels, executing calls on the same byte buffers the device
//! would get. It never calls the CPU backend: its arithmetic is the kernels' own.
//!
//! * GEMM: bf16 inputs; products are exact in f32 (8-bit x 8-bit mantissas), so only the
//!   summation order matters, and it is the microkernel's: the k dimension in blocks of
//!   `microkernel_s` (8), each block summed from zero in ascending k, then added to the f32
//!   accumulator. Epilogue in f32 (bias from its chunked layout, GELU), then bf16
//!   round-to-nearest-even where the output is bf16.
//! * GELU: the centred piecewise polynomial of `xclbin/constants.json`.
//! * softmax: row max, e^x as 2^n * poly(f) with the constants' polynomial, f32 sum, bf16
//!   probabilities. LayerNorm: f32 mean and variance in ascending order, 1/sqrt(var + eps).

use std::borrow::Cow;

use rayon::prelude::*;

use super::calls::{Call, CallShape};
use super::constants::constants;
use super::kernel::Kernel;
use super::layout::{
    Dtype, bf16_bytes_to_f32, chunked_bias_at, f32_bytes, f32_from_bytes, round_bf16, to_bf16_bytes,
};

/// The simulator as a device: runs every call in software with the kernels' arithmetic.
pub struct Simulator;

impl super::dispatch::NpuDevice for Simulator {
    fn placement(&self) -> crate::encoder::OpDevice {
        crate::encoder::OpDevice::NpuSim
    }

    fn run(&self, call: &Call, buffers: &mut [Cow<'_, [u8]>]) -> Result<(), String> {
        run(call, buffers)
    }
}

/// Run `call` on its data buffers (in argument order, from index 3). Inputs may borrow resident
/// weights; outputs are replaced by owned buffers.
pub fn run(call: &Call, buffers: &mut [Cow<'_, [u8]>]) -> Result<(), String> {
    call.check_buffers(buffers)?;
    let kernel = call.kernel;
    match call.shape {
        CallShape::Gemm(shape) if kernel.is_gemm() => {
            let a = bf16_bytes_to_f32(&buffers[0]);
            let b = bf16_bytes_to_f32(&buffers[1]);
            let bias = f32_from_bytes(&buffers[2]);
            let mut c = gemm(&a, &b, shape.mp, shape.kp, shape.np);
            let gelu = kernel.gelu_epilogue();
            for row in c.chunks_exact_mut(shape.np) {
                for (j, v) in row.iter_mut().enumerate() {
                    let x = *v + chunked_bias_at(&bias, j);
                    *v = if gelu { gelu_poly(x) } else { x };
                }
            }
            buffers[3] = Cow::Owned(match kernel.output_dtype() {
                Dtype::Bf16 => to_bf16_bytes(c),
                Dtype::F32 => f32_bytes(&c),
            });
            Ok(())
        }
        CallShape::Attention {
            heads,
            frames,
            frames_p,
            d_model,
        } if kernel == Kernel::Attention => {
            let qkv = bf16_bytes_to_f32(&buffers[0]);
            buffers[1] = Cow::Owned(to_bf16_bytes(attention(
                &qkv, heads, frames, frames_p, d_model,
            )));
            Ok(())
        }
        CallShape::Rows { rows, cols }
            if matches!(kernel, Kernel::LayerNorm | Kernel::LayerNormF32) =>
        {
            let x = f32_from_bytes(&buffers[0]);
            let gb = f32_from_bytes(&buffers[1]);
            let y = layer_norm(&x, &gb[..cols], &gb[cols..], rows, cols);
            buffers[2] = Cow::Owned(match kernel.output_dtype() {
                Dtype::Bf16 => to_bf16_bytes(y),
                Dtype::F32 => f32_bytes(&y),
            });
            Ok(())
        }
        CallShape::Elements { .. } if kernel == Kernel::Gelu => {
            let x = bf16_bytes_to_f32(&buffers[0]);
            buffers[1] = Cow::Owned(to_bf16_bytes(x.into_iter().map(gelu_poly)));
            Ok(())
        }
        CallShape::Elements { .. } if kernel == Kernel::Add => {
            let mut a = f32_from_bytes(&buffers[0]);
            let b = f32_from_bytes(&buffers[1]);
            for (x, y) in a.iter_mut().zip(&b) {
                *x += y;
            }
            buffers[0] = Cow::Owned(f32_bytes(&a));
            Ok(())
        }
        shape => Err(format!("the simulator cannot run `{kernel}` on {shape:?}")),
    }
}

/// `C[mp][np] = A[mp][kp] · B[kp][np]` in the microkernel's summation order (see module docs).
pub fn gemm(a: &[f32], b: &[f32], mp: usize, kp: usize, np: usize) -> Vec<f32> {
    let t = &constants().gemm;
    let (r, s, tile_n) = (t.microkernel_r, t.microkernel_s, t.tile_n);
    assert!(
        mp.is_multiple_of(r) && kp.is_multiple_of(s) && np.is_multiple_of(tile_n),
        "padded shapes"
    );
    let mut c = vec![0.0f32; mp * np];
    c.par_chunks_mut(r * np)
        .enumerate()
        .for_each(|(block, out)| {
            #[cfg(target_arch = "x86_64")]
            if crate::cpu_features::has_avx512() {
                // SAFETY: the CPU has the features this function is compiled for.
                unsafe { gemm_rows_avx512(a, b, out, block * r, r, s, kp, np, tile_n) };
                return;
            }
            gemm_rows(a, b, out, block * r, r, s, kp, np, tile_n);
        });
    c
}

/// `gemm_rows` for 4-row blocks with AVX-512: the same sums in the same order, computed for 32
/// output columns at a time with the block's partial sums and accumulators in registers. Each
/// product is a multiply, then an add (never fused: a product that underflows or overflows is
/// rounded first, as in the kernels), so every output has exactly the bits of `gemm_rows`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_rows_avx512(
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
    row0: usize,
    r: usize,
    s: usize,
    kp: usize,
    np: usize,
    tile_n: usize,
) {
    use std::arch::x86_64::*;
    const ROWS: usize = 4;
    const LANES: usize = 16;
    const CHUNKS: usize = 2; // 32 columns: 8 + 8 accumulators and partial sums, 2 B vectors
    if r != ROWS || !np.is_multiple_of(LANES * CHUNKS) {
        return gemm_rows(a, b, out, row0, r, s, kp, np, tile_n);
    }
    assert!(a.len() >= (row0 + ROWS) * kp && b.len() >= kp * np && out.len() >= ROWS * np);
    for j0 in (0..np).step_by(LANES * CHUNKS) {
        let mut acc = [_mm512_setzero_ps(); ROWS * CHUNKS];
        for k0 in (0..kp).step_by(s) {
            let mut part = [_mm512_setzero_ps(); ROWS * CHUNKS];
            for kk in k0..k0 + s {
                // SAFETY: kk < kp and j0 + 32 <= np, inside b (asserted above).
                let b_row = unsafe { b.as_ptr().add(kk * np + j0) };
                let bv = [unsafe { _mm512_loadu_ps(b_row) }, unsafe {
                    _mm512_loadu_ps(b_row.add(LANES))
                }];
                for i in 0..ROWS {
                    let av = _mm512_set1_ps(a[(row0 + i) * kp + kk]);
                    for c in 0..CHUNKS {
                        let p = &mut part[i * CHUNKS + c];
                        *p = _mm512_add_ps(*p, _mm512_mul_ps(av, bv[c]));
                    }
                }
            }
            for (x, p) in acc.iter_mut().zip(&part) {
                *x = _mm512_add_ps(*x, *p);
            }
        }
        for i in 0..ROWS {
            for c in 0..CHUNKS {
                // SAFETY: row i of the block, columns j0 + 16c .. + 16, inside out.
                unsafe {
                    _mm512_storeu_ps(
                        out.as_mut_ptr().add(i * np + j0 + c * LANES),
                        acc[i * CHUNKS + c],
                    )
                };
            }
        }
    }
}

/// One block of `r` output rows, column tile by column tile.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn gemm_rows(
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
    row0: usize,
    r: usize,
    s: usize,
    kp: usize,
    np: usize,
    tile_n: usize,
) {
    let mut acc = vec![0.0f32; r * tile_n];
    let mut part = vec![0.0f32; r * tile_n];
    for j0 in (0..np).step_by(tile_n) {
        acc.fill(0.0);
        for k0 in (0..kp).step_by(s) {
            part.fill(0.0);
            for kk in k0..k0 + s {
                let b_row = &b[kk * np + j0..kk * np + j0 + tile_n];
                for i in 0..r {
                    let av = a[(row0 + i) * kp + kk];
                    let p = &mut part[i * tile_n..(i + 1) * tile_n];
                    for (pv, bv) in p.iter_mut().zip(b_row) {
                        // Exact product (bf16 x bf16) plus an f32 add: a fused or separate
                        // multiply-add gives the same bits.
                        *pv += av * bv;
                    }
                }
            }
            for (x, p) in acc.iter_mut().zip(&part) {
                *x += p;
            }
        }
        for i in 0..r {
            out[i * np + j0..i * np + j0 + tile_n]
                .copy_from_slice(&acc[i * tile_n..(i + 1) * tile_n]);
        }
    }
}

/// The kernel's GELU: the centred piecewise polynomial; 0 below the range, x above it.
pub fn gelu_poly(x: f32) -> f32 {
    let g = &constants().gelu;
    if x.is_nan() {
        return x;
    }
    if x < g.lo {
        return 0.0;
    }
    if x >= g.hi {
        return x;
    }
    let seg = (((x - g.lo) / g.segment_width) as usize).min(g.coefficients.len() - 1);
    let centre = g.lo + (seg as f32 + 0.5) * g.segment_width;
    let t = x - centre;
    g.coefficients[seg]
        .iter()
        .rev()
        .fold(0.0f32, |acc, &c| acc * t + c)
}

/// The kernel's e^x for x <= 0: 2^n * p(f) with y = x log2(e), n = floor(y), f = y - n.
pub fn exp_kernel(x: f32) -> f32 {
    let y = x * std::f32::consts::LOG2_E;
    let n = y.floor();
    if n < -126.0 {
        return 0.0;
    }
    let f = y - n;
    let p = constants()
        .exp2
        .coefficients
        .iter()
        .rev()
        .fold(0.0f32, |acc, &c| acc * f + c);
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// Multi-head attention over the padded, bf16-valued `[frames_p][3d]` QKV; `[frames_p][d]` out.
fn attention(qkv: &[f32], heads: usize, frames: usize, frames_p: usize, d: usize) -> Vec<f32> {
    let hd = d / heads;
    let scale = 1.0 / (hd as f32).sqrt();
    let contexts: Vec<Vec<f32>> = (0..heads)
        .map(|h| {
            let column = |base: usize| -> Vec<f32> {
                let mut m = vec![0.0f32; frames_p * hd];
                for t in 0..frames {
                    m[t * hd..(t + 1) * hd].copy_from_slice(
                        &qkv[t * 3 * d + base + h * hd..t * 3 * d + base + (h + 1) * hd],
                    );
                }
                m
            };
            let q = column(0);
            let k = column(d);
            let v = column(2 * d);
            let mut k_t = vec![0.0f32; hd * frames_p];
            for t in 0..frames_p {
                for c in 0..hd {
                    k_t[c * frames_p + t] = k[t * hd + c];
                }
            }
            let mut scores = gemm(&q, &k_t, frames_p, hd, frames_p);
            scores
                .par_chunks_mut(frames_p)
                .enumerate()
                .for_each(|(t, row)| {
                    if t >= frames {
                        row.fill(0.0);
                        return;
                    }
                    let real = &mut row[..frames];
                    let mut max = f32::NEG_INFINITY;
                    for x in real.iter_mut() {
                        *x *= scale;
                        max = max.max(*x);
                    }
                    let mut sum = 0.0f32;
                    for x in real.iter_mut() {
                        *x = exp_kernel(*x - max);
                        sum += *x;
                    }
                    let inv = 1.0 / sum;
                    for x in real.iter_mut() {
                        *x = round_bf16(*x * inv);
                    }
                    row[frames..].fill(0.0);
                });
            gemm(&scores, &v, frames_p, frames_p, hd)
        })
        .collect();
    let mut out = vec![0.0f32; frames_p * d];
    for (h, ctx) in contexts.iter().enumerate() {
        for t in 0..frames {
            for c in 0..hd {
                out[t * d + h * hd + c] = ctx[t * hd + c];
            }
        }
    }
    out
}

fn layer_norm(x: &[f32], gamma: &[f32], beta: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let eps = constants().layernorm.eps;
    let mut y = vec![0.0f32; rows * cols];
    y.par_chunks_mut(cols)
        .zip(x.par_chunks(cols))
        .for_each(|(out, row)| {
            let mean = row.iter().fold(0.0f32, |a, &v| a + v) / cols as f32;
            let var = row.iter().fold(0.0f32, |a, &v| a + (v - mean) * (v - mean)) / cols as f32;
            let rstd = 1.0 / (var + eps).sqrt();
            for (((o, &v), &g), &b) in out.iter_mut().zip(row).zip(gamma).zip(beta) {
                *o = (v - mean) * rstd * g + b;
            }
        });
    let _ = rows;
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_gelu_is_within_1e_6_of_the_exact_formula() {
        let mut worst = 0.0f64;
        let mut x = -6.0f32;
        while x < 6.0 {
            let exact = 0.5 * x as f64 * (1.0 + libm::erf(x as f64 / std::f64::consts::SQRT_2));
            worst = worst.max((gelu_poly(x) as f64 - exact).abs());
            x += 0.000_37;
        }
        assert!(worst < 2e-6, "max abs error {worst}");
    }

    #[test]
    fn kernel_exp_is_within_a_few_ulp() {
        let mut x = -80.0f32;
        while x <= 0.0 {
            let want = (x as f64).exp();
            let got = exp_kernel(x) as f64;
            // x log2(e) is rounded to f32, so the relative error grows like |x| * 2^-24.
            let bound = 2e-7 * (1.0 + x.abs() as f64);
            assert!(((got - want) / want).abs() < bound, "{x}: {got} vs {want}");
            x += 0.0071;
        }
        assert_eq!(exp_kernel(-200.0), 0.0);
        assert_eq!(exp_kernel(f32::NEG_INFINITY), 0.0);
        // A NaN score makes its softmax row NaN (the kernel agrees since issue 29: its int
        // conversion of NaN used to make it 0 on x86).
        assert!(exp_kernel(f32::NAN).is_nan());
    }

    #[test]
    fn padding_never_leaks_into_results() {
        use crate::npu::layout::{
            Dtype, GemmShape, pack_rows, pack_weight_transposed, unpack_rows,
        };
        let mut seed = 3u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            round_bf16(((seed >> 33) % 2001) as f32 / 1000.0 - 1.0)
        };
        for (m, k, n) in [(1, 1, 1), (5, 70, 3), (67, 13, 65), (64, 64, 64)] {
            let shape = GemmShape::new(m, k, n);
            let a: Vec<f32> = (0..m * k).map(|_| rnd()).collect();
            let w: Vec<f32> = (0..n * k).map(|_| rnd()).collect();
            let mut a_dev =
                bf16_bytes_to_f32(&pack_rows(&a, m, k, shape.mp, shape.kp, Dtype::Bf16));
            let b_dev = bf16_bytes_to_f32(&pack_weight_transposed(&w, n, k, &shape));
            let clean = gemm(&a_dev, &b_dev, shape.mp, shape.kp, shape.np);
            // Garbage in A's padding (rows past m, columns past k) must not reach the m x n result,
            // because B's padded rows are zero and padded rows of C are never read back.
            for r in 0..shape.mp {
                for c in 0..shape.kp {
                    if r >= m || c >= k {
                        a_dev[r * shape.kp + c] = 1000.0 + rnd();
                    }
                }
            }
            let dirty = gemm(&a_dev, &b_dev, shape.mp, shape.kp, shape.np);
            let mut x = vec![0.0; m * n];
            let mut y = vec![0.0; m * n];
            unpack_rows(&f32_bytes(&clean), m, n, shape.np, Dtype::F32, &mut x);
            unpack_rows(&f32_bytes(&dirty), m, n, shape.np, Dtype::F32, &mut y);
            assert_eq!(x, y, "{m}x{k}x{n}");
            // And the result is the product.
            for i in 0..m {
                for j in 0..n {
                    let want: f64 = (0..k)
                        .map(|kk| a[i * k + kk] as f64 * w[j * k + kk] as f64)
                        .sum();
                    assert!(
                        (x[i * n + j] as f64 - want).abs() < 1e-4,
                        "{m}x{k}x{n} at {i},{j}"
                    );
                }
            }
        }
    }

    #[test]
    fn gemm_sums_in_blocks_of_eight() {
        // Values chosen so that the order of summation changes the f32 result: a large term
        // then small ones that vanish when added one by one to it but not to each other.
        let (mp, kp, np) = (4, 16, 64);
        let mut a = vec![0.0f32; mp * kp];
        let mut b = vec![0.0f32; kp * np];
        a[0] = 1.0;
        b[0] = 16_777_216.0; // 2^24
        for k in 1..8 {
            a[k] = 1.0;
            b[k * np] = 1.0;
        }
        let c = gemm(&a, &b, mp, kp, np);
        // Sequential: 2^24 + 1 + 1 + ... each rounds back to 2^24 (ties to even).
        assert_eq!(c[0], 16_777_216.0);
        // Now put the large term in the second block of eight: the first block sums 7 ones
        // exactly to 7, which then adds to 2^24 as 2^24 + 8 (rounded, 7 -> 8).
        let mut a2 = vec![0.0f32; mp * kp];
        let mut b2 = vec![0.0f32; kp * np];
        for k in 0..7 {
            a2[k] = 1.0;
            b2[k * np] = 1.0;
        }
        a2[8] = 1.0;
        b2[8 * np] = 16_777_216.0;
        assert_eq!(gemm(&a2, &b2, mp, kp, np)[0], 16_777_224.0);
    }
}
