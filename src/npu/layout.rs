//! Device layouts: how host f32 matrices become the byte buffers our kernels read and write.
//!
//! Every GEMM operand is row-major and zero-padded to the kernel's tile multiples: A `[Mp][Kp]`
//! bf16, B `[Kp][Np]` bf16 (the PyTorch `[out][in]` weight transposed), bias `[Np]` f32, C
//! `[Mp][Np]` bf16 or f32. bf16 is produced with round-to-nearest-even (the AIE default
//! conversion truncates toward zero, which is measurably worse; REFERENCES.md).

use half::bf16;

use super::constants::constants;

/// Element types of device buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    Bf16,
    F32,
}

impl Dtype {
    pub fn size(self) -> usize {
        match self {
            Dtype::Bf16 => 2,
            Dtype::F32 => 4,
        }
    }
}

/// Round up to a multiple of `tile`.
pub fn pad_to(n: usize, tile: usize) -> usize {
    n.div_ceil(tile) * tile
}

/// A GEMM's logical and padded sizes: `C[m][n] = A[m][k] · B[k][n]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct GemmShape {
    pub m: usize,
    pub k: usize,
    pub n: usize,
    pub mp: usize,
    pub kp: usize,
    pub np: usize,
}

impl GemmShape {
    pub fn new(m: usize, k: usize, n: usize) -> Self {
        let t = &constants().gemm;
        GemmShape {
            m,
            k,
            n,
            mp: pad_to(m, t.m_align),
            kp: pad_to(k, t.tile_k),
            np: pad_to(n, t.n_align),
        }
    }
}

impl GemmShape {
    /// f32 values of the bias buffer: one chunk per output tile column (see [`bias_chunk`]).
    pub fn bias_floats(&self) -> usize {
        self.np / constants().gemm.tile_n * bias_chunk()
    }
}

/// f32 values per bias chunk: one `tile_k x tile_n` bf16 B tile's bytes. The bias travels in
/// the GEMM's B stream ahead of each output tile's k tiles (a core has two input DMA channels
/// and A and B take both), so a chunk is exactly one B stream element: the tile's `tile_n` bias
/// values first, then zeros.
pub fn bias_chunk() -> usize {
    let t = &constants().gemm;
    t.tile_k * t.tile_n / 2
}

/// A bias of `n` values (padded to `np`) in chunks of [`bias_chunk`] per output tile column.
pub fn pack_bias_chunks(bias: &[f32], np: usize) -> Vec<f32> {
    let tile_n = constants().gemm.tile_n;
    let chunk = bias_chunk();
    let mut out = vec![0.0f32; np / tile_n * chunk];
    for (j, values) in bias.chunks(tile_n).enumerate() {
        out[j * chunk..j * chunk + values.len()].copy_from_slice(values);
    }
    out
}

/// The bias value of output column `j` in the chunked layout.
pub fn chunked_bias_at(chunks: &[f32], j: usize) -> f32 {
    let tile_n = constants().gemm.tile_n;
    chunks[j / tile_n * bias_chunk() + j % tile_n]
}

/// f32 -> bf16 bytes with round-to-nearest-even.
pub fn to_bf16_bytes(values: impl IntoIterator<Item = f32>) -> Vec<u8> {
    values
        .into_iter()
        .flat_map(|v| bf16::from_f32(v).to_le_bytes())
        .collect()
}

/// bf16 bytes -> f32 (exact).
pub fn bf16_bytes_to_f32(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(2)
        .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32())
        .collect()
}

pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub fn f32_from_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Round an f32 to the nearest bf16 value (ties to even), kept as f32.
pub fn round_bf16(v: f32) -> f32 {
    bf16::from_f32(v).to_f32()
}

/// Pack a row-major `rows x cols` f32 matrix into a zero-padded `rows_p x cols_p` buffer.
pub fn pack_rows(
    src: &[f32],
    rows: usize,
    cols: usize,
    rows_p: usize,
    cols_p: usize,
    dtype: Dtype,
) -> Vec<u8> {
    assert_eq!(src.len(), rows * cols, "source size");
    let padded = (0..rows_p).flat_map(move |r| {
        (0..cols_p).map(move |c| {
            if r < rows && c < cols {
                src[r * cols + c]
            } else {
                0.0
            }
        })
    });
    match dtype {
        Dtype::Bf16 => to_bf16_bytes(padded),
        Dtype::F32 => padded.flat_map(|v| v.to_le_bytes()).collect(),
    }
}

/// Unpack the `rows x cols` top-left corner of a padded `rows_p x cols_p` buffer to f32.
pub fn unpack_rows(
    bytes: &[u8],
    rows: usize,
    cols: usize,
    cols_p: usize,
    dtype: Dtype,
    out: &mut [f32],
) {
    assert_eq!(out.len(), rows * cols, "destination size");
    let size = dtype.size();
    for r in 0..rows {
        let row = &bytes[r * cols_p * size..(r * cols_p + cols) * size];
        let dst = &mut out[r * cols..(r + 1) * cols];
        match dtype {
            Dtype::Bf16 => {
                for (d, c) in dst.iter_mut().zip(row.chunks_exact(2)) {
                    *d = bf16::from_le_bytes([c[0], c[1]]).to_f32();
                }
            }
            Dtype::F32 => {
                for (d, c) in dst.iter_mut().zip(row.chunks_exact(4)) {
                    *d = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                }
            }
        }
    }
}

/// A PyTorch `[n][k]` weight as the B operand: `[Kp][Np]` bf16, transposed and zero-padded.
pub fn pack_weight_transposed(weight: &[f32], n: usize, k: usize, shape: &GemmShape) -> Vec<u8> {
    assert_eq!(weight.len(), n * k, "weight size");
    let (kp, np) = (shape.kp, shape.np);
    to_bf16_bytes((0..kp).flat_map(move |kk| {
        (0..np).map(move |j| {
            if kk < k && j < n {
                weight[j * k + kk]
            } else {
                0.0
            }
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator, so the property tests need no extra crate.
    pub(crate) struct Lcg(u64);
    impl Lcg {
        pub(crate) fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        pub(crate) fn f32(&mut self) -> f32 {
            (self.next() % 20001) as f32 / 10000.0 - 1.0
        }
        pub(crate) fn below(&mut self, n: u64) -> usize {
            (self.next() % n) as usize
        }
    }

    #[test]
    fn bf16_conversion_rounds_to_nearest_even() {
        // 1 + 2^-8 is exactly halfway between bf16 neighbours 1 and 1 + 2^-7: ties go to even (1).
        assert_eq!(round_bf16(1.0 + 1.0 / 256.0), 1.0);
        // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: even is 1 + 2^-6.
        assert_eq!(round_bf16(1.0 + 3.0 / 256.0), 1.0 + 1.0 / 64.0);
        // Not a truncation: just below 1 + 2^-7 rounds up to it.
        assert_eq!(round_bf16(1.0 + 1.0 / 128.0 - 1e-5), 1.0 + 1.0 / 128.0);
    }

    #[test]
    fn pack_then_unpack_round_trips_for_random_shapes() {
        let mut rng = Lcg(7);
        for _ in 0..200 {
            let (rows, cols) = (1 + rng.below(70), 1 + rng.below(70));
            let (rows_p, cols_p) = (pad_to(rows, 64), pad_to(cols, 64));
            let src: Vec<f32> = (0..rows * cols).map(|_| round_bf16(rng.f32())).collect();
            for dtype in [Dtype::Bf16, Dtype::F32] {
                let bytes = pack_rows(&src, rows, cols, rows_p, cols_p, dtype);
                assert_eq!(bytes.len(), rows_p * cols_p * dtype.size());
                let mut back = vec![0.0; rows * cols];
                unpack_rows(&bytes, rows, cols, cols_p, dtype, &mut back);
                assert_eq!(back, src);
                // The padding is zero.
                let all = match dtype {
                    Dtype::Bf16 => bf16_bytes_to_f32(&bytes),
                    Dtype::F32 => f32_from_bytes(&bytes),
                };
                for r in 0..rows_p {
                    for c in 0..cols_p {
                        if r >= rows || c >= cols {
                            assert_eq!(all[r * cols_p + c], 0.0);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn transposed_weights_land_where_the_gemm_reads_them() {
        let mut rng = Lcg(11);
        for _ in 0..50 {
            let (n, k) = (1 + rng.below(90), 1 + rng.below(90));
            let w: Vec<f32> = (0..n * k).map(|_| round_bf16(rng.f32())).collect();
            let shape = GemmShape::new(1, k, n);
            let b = bf16_bytes_to_f32(&pack_weight_transposed(&w, n, k, &shape));
            for kk in 0..shape.kp {
                for j in 0..shape.np {
                    let want = if kk < k && j < n { w[j * k + kk] } else { 0.0 };
                    assert_eq!(b[kk * shape.np + j], want);
                }
            }
        }
    }
}
