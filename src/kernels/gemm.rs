//! f32 GEMM with bias and fused epilogues (the `gemm` crate, rows split across the pool's
//! threads), the weight transpose, and the kernel-3 convolution as im2col + GEMM.

use rayon::prelude::*;

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
pub fn matmul_bias_par(
    out: &mut [f32],
    input: &[f32],
    weight_kn: &[f32],
    bias: &[f32],
    m: usize,
    k: usize,
    n: usize,
) {
    matmul_fused_par(out, input, weight_kn, bias, m, k, n, Epilogue::Bias);
}

/// `matmul_bias` with an epilogue applied by each thread to its own rows right after its GEMM.
#[allow(clippy::too_many_arguments)]
pub fn matmul_fused_par(
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
                    super::rows::add(row, bias);
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
                super::rows::gelu(out);
            }
        });
}

/// `[rows][cols]` -> `[cols][rows]`.
pub fn transposed(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = Vec::new();
    transpose_into(x, rows, cols, &mut t);
    t
}

/// `[rows][cols]` -> `[cols][rows]` into `out` (resized): weights at load, the mel spectrogram
/// (`[n_mels][frames]`, convolutions want frames first) on the CPU and for the NPU alike.
pub fn transpose_into(x: &[f32], rows: usize, cols: usize, out: &mut Vec<f32>) {
    assert_eq!(x.len(), rows * cols);
    // In 32 x 32 tiles: element by element, every write of a long row lands on a different
    // cache line and page (a 512 x 2048 weight took ~10 ms that way, at model load).
    const TILE: usize = 32;
    out.resize(x.len(), 0.0);
    for i0 in (0..rows).step_by(TILE) {
        for j0 in (0..cols).step_by(TILE) {
            for i in i0..(i0 + TILE).min(rows) {
                let row = &x[i * cols..(i + 1) * cols];
                for j in j0..(j0 + TILE).min(cols) {
                    out[j * rows + i] = row[j];
                }
            }
        }
    }
}

/// Kernel-3, padding-1 Conv1d as im2col + GEMM. `input` is frame-major `[in_frames][c]`,
/// `weight_kn` is pre-arranged `[3][c][out]` (see `CpuWeights`), `cols` is scratch of
/// `out_frames * 3 * c`.
#[allow(clippy::too_many_arguments)]
pub fn conv1d_k3_par(
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
    im2col_k3_par(cols, input, in_frames, channels, stride);
    matmul_fused_par(
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
pub fn im2col_k3_par(
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
        matmul_bias_par(&mut out, &a, &transposed(&w, n, k), &b, m, k, n);
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
        matmul_fused_par(&mut gelu, &a, &w_kn, &b, m, k, n, Epilogue::BiasGelu);
        let residual = ramp(m * n, 2.1);
        let mut accumulated = residual.clone();
        matmul_fused_par(
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
            let want_gelu = super::super::math::gelu(plain[i]);
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
        conv1d_k3_par(
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
}
