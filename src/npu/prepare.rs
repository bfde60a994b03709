//! Weights converted once per model into device buffers: bf16 (round-to-nearest-even) B operands
//! padded to the tile multiples, f32 biases in B-tile-sized chunks, fused QKV, convolutions as im2col GEMMs, f32
//! LayerNorm parameters and positional embedding. Reused for every window.

use std::collections::HashMap;

use super::layout::{GemmShape, f32_bytes, pack_bias_chunks, pack_weight_transposed};
use crate::encoder::Weight;
use crate::error::Result;
use crate::model::config::ENCODER_FRAMES;
use crate::model::weights::conv_taps_outer;
use crate::model::{Config, EncoderWeights, Tensor};

/// The resident B operand and bias of one GEMM.
#[derive(Debug, Clone)]
pub struct GemmWeights {
    #[allow(dead_code)] // shown by Debug when a call is inspected
    pub shape: GemmShape,
    /// `[Kp][Np]` bf16.
    pub b: Vec<u8>,
    /// f32 in chunks of `layout::bias_chunk()` per 64 output columns (the values first).
    pub bias: Vec<u8>,
}

/// All device-resident weights of an encoder.
#[derive(Debug, Clone, Default)]
pub struct PreparedWeights {
    pub gemms: HashMap<Weight, GemmWeights>,
    /// `[2][d]` f32: gamma then beta.
    pub norms: HashMap<Weight, Vec<u8>>,
    /// `[1500][d]` f32.
    pub positions: Vec<u8>,
}

impl PreparedWeights {
    /// Convert `weights` one tensor at a time (each stored tensor's pages are released once
    /// it is converted).
    ///
    /// Kept whole: one loop over the layers converting each tensor into the layout of the call that
    /// reads it and releasing the stored tensor at once; the conversions are closures the loop
    /// shares.
    pub fn new(config: &Config, weights: &EncoderWeights) -> Result<Self> {
        let d = config.d_model;
        let f = config.encoder_ffn_dim;
        let t = ENCODER_FRAMES;
        let values = |tensor: &Tensor| -> Result<Vec<f32>> {
            let v = tensor.to_f32()?.into_owned();
            tensor.release();
            Ok(v)
        };
        let mut gemms = HashMap::new();
        let mut add_gemm =
            |key: Weight, weight: &[f32], bias: &[f32], m: usize, k: usize, n: usize| {
                let shape = GemmShape::new(m, k, n);
                gemms.insert(
                    key,
                    GemmWeights {
                        shape,
                        b: pack_weight_transposed(weight, n, k, &shape),
                        bias: f32_bytes(&pack_bias_chunks(bias, shape.np)),
                    },
                );
            };
        let mels = config.num_mel_bins;
        add_gemm(
            Weight::Conv1,
            &conv_taps_outer(&values(&weights.conv1_weight)?, d, mels),
            &values(&weights.conv1_bias)?,
            2 * t,
            3 * mels,
            d,
        );
        add_gemm(
            Weight::Conv2,
            &conv_taps_outer(&values(&weights.conv2_weight)?, d, d),
            &values(&weights.conv2_bias)?,
            t,
            3 * d,
            d,
        );
        let mut norms = HashMap::new();
        let norm = |g: &Tensor, b: &Tensor| -> Result<Vec<u8>> {
            Ok(f32_bytes(&[values(g)?, values(b)?].concat()))
        };
        for (l, layer) in weights.layers.iter().enumerate() {
            let qkv = [
                values(&layer.query_weight)?,
                values(&layer.key_weight)?,
                values(&layer.value_weight)?,
            ]
            .concat();
            let qkv_bias = [
                values(&layer.query_bias)?,
                vec![0.0; d],
                values(&layer.value_bias)?,
            ]
            .concat();
            add_gemm(Weight::Qkv(l), &qkv, &qkv_bias, t, d, 3 * d);
            let linear = |w: &Tensor, b: &Tensor| -> Result<(Vec<f32>, Vec<f32>)> {
                Ok((values(w)?, values(b)?))
            };
            let (w, b) = linear(&layer.out_weight, &layer.out_bias)?;
            add_gemm(Weight::Out(l), &w, &b, t, d, d);
            let (w, b) = linear(&layer.fc1_weight, &layer.fc1_bias)?;
            add_gemm(Weight::Fc1(l), &w, &b, t, d, f);
            let (w, b) = linear(&layer.fc2_weight, &layer.fc2_bias)?;
            add_gemm(Weight::Fc2(l), &w, &b, t, f, d);
            norms.insert(
                Weight::AttnNorm(l),
                norm(&layer.attn_norm_gamma, &layer.attn_norm_beta)?,
            );
            norms.insert(
                Weight::MlpNorm(l),
                norm(&layer.mlp_norm_gamma, &layer.mlp_norm_beta)?,
            );
        }
        norms.insert(
            Weight::FinalNorm,
            norm(&weights.final_norm_gamma, &weights.final_norm_beta)?,
        );
        Ok(PreparedWeights {
            gemms,
            norms,
            positions: f32_bytes(&values(&weights.positions)?),
        })
    }

    /// Bytes placed on the device once per model.
    pub fn resident_bytes(&self) -> usize {
        self.gemms
            .values()
            .map(|g| g.b.len() + g.bias.len())
            .sum::<usize>()
            + self.norms.values().map(Vec::len).sum::<usize>()
            + self.positions.len()
    }
}
