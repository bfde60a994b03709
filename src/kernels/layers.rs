//! The layers the encoder's CPU path and the decoder share: a linear layer with its weight
//! arranged once for the arithmetic it runs at, and LayerNorm's parameters.

use super::{bf16, gemm};
use crate::error::Result;

/// The arithmetic of the CPU's GEMMs, resolved (the public `Precision` is what a caller asks
/// for, `Auto` included; this is what runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arithmetic {
    F32,
    /// bf16 operands with f32 accumulation (AVX512_BF16 only).
    Bf16,
}

/// A linear layer: its weight arranged for the precision it runs at, and its bias.
#[derive(Debug, Clone)]
pub struct Linear {
    pub weight: Arranged,
    pub bias: Vec<f32>,
}

/// A GEMM weight as the kernel of its precision reads it.
#[derive(Debug, Clone)]
pub enum Arranged {
    /// `[in][out]`: PyTorch's `[out][in]` transposed once, what the GEMM packs fastest (see
    /// `kernels::gemm::matmul_bias_par`).
    F32(Vec<f32>),
    /// Packed for `kernels::bf16::matmul_bias_par` (no f32 copy kept).
    Bf16(bf16::PackedWeight),
}

impl Linear {
    /// From a PyTorch-layout `[out][in]` weight.
    pub fn from_out_in(weight: &[f32], bias: &[f32], arithmetic: Arithmetic) -> Self {
        let n = bias.len();
        let k = weight.len() / n;
        let weight = match arithmetic {
            Arithmetic::F32 => Arranged::F32(gemm::transposed(weight, n, k)),
            Arithmetic::Bf16 => Arranged::Bf16(bf16::PackedWeight::from_out_in(weight, n, k)),
        };
        Linear {
            weight,
            bias: bias.to_vec(),
        }
    }

    /// From a PyTorch-layout `[out = n][in = k]` weight that `read_row(j, row)` reads one row
    /// at a time: bf16 packing never holds more than a row in f32.
    pub fn from_rows(
        n: usize,
        k: usize,
        bias: Vec<f32>,
        arithmetic: Arithmetic,
        mut read_row: impl FnMut(usize, &mut [f32]) -> Result<()>,
    ) -> Result<Self> {
        debug_assert_eq!(bias.len(), n);
        let weight = match arithmetic {
            Arithmetic::F32 => {
                let mut out_in = vec![0.0f32; n * k];
                for (j, row) in out_in.chunks_exact_mut(k).enumerate() {
                    read_row(j, row)?;
                }
                Arranged::F32(gemm::transposed(&out_in, n, k))
            }
            Arithmetic::Bf16 => Arranged::Bf16(bf16::PackedWeight::from_rows(n, k, read_row)?),
        };
        Ok(Linear { weight, bias })
    }

    /// `out[m][n] = input[m][k] · W + bias` at the layer's precision.
    pub fn forward(&self, out: &mut [f32], input: &[f32], m: usize) {
        let n = self.bias.len();
        match &self.weight {
            Arranged::Bf16(packed) => bf16::matmul_bias_par(out, input, packed, &self.bias, m),
            Arranged::F32(weight_kn) => {
                gemm::matmul_bias_par(out, input, weight_kn, &self.bias, m, weight_kn.len() / n, n)
            }
        }
    }
}

/// LayerNorm parameters.
#[derive(Debug, Clone)]
pub struct Norm {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
}
