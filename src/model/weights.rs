//! `EncoderWeights`: every encoder tensor located and checked against the config's shapes. The
//! values stay where they are (see `Tensor`) until the executor arranges them for its kernels.

use super::config::{Config, ENCODER_FRAMES};
use super::names::{LayerTensor as L, TensorRole};
use super::tensor::Tensor;
use super::tensor_file::TensorFile;
use crate::error::Result;

/// One pre-LN transformer block. Linear weights are `[out, in]` row-major, as PyTorch stores them.
#[derive(Debug, Clone)]
pub struct LayerWeights {
    pub attn_norm_gamma: Tensor,
    pub attn_norm_beta: Tensor,
    pub query_weight: Tensor,
    pub query_bias: Tensor,
    /// Whisper's key projection has no bias.
    pub key_weight: Tensor,
    pub value_weight: Tensor,
    pub value_bias: Tensor,
    pub out_weight: Tensor,
    pub out_bias: Tensor,
    pub mlp_norm_gamma: Tensor,
    pub mlp_norm_beta: Tensor,
    pub fc1_weight: Tensor,
    pub fc1_bias: Tensor,
    pub fc2_weight: Tensor,
    pub fc2_bias: Tensor,
}

/// The whole encoder. Conv weights are `[out, in, 3]` as PyTorch's Conv1d stores them.
#[derive(Debug, Clone)]
pub struct EncoderWeights {
    pub conv1_weight: Tensor,
    pub conv1_bias: Tensor,
    pub conv2_weight: Tensor,
    pub conv2_bias: Tensor,
    /// Sinusoidal positional embedding, `[1500, d_model]`.
    pub positions: Tensor,
    pub layers: Vec<LayerWeights>,
    pub final_norm_gamma: Tensor,
    pub final_norm_beta: Tensor,
}

impl EncoderWeights {
    /// Locate the first `layers` encoder layers' tensors in `file`, checking names, shapes and
    /// dtypes (from the header: no value is read here).
    pub fn load(file: &TensorFile, config: &Config, layers: usize) -> Result<Self> {
        let d = config.d_model;
        let f = config.encoder_ffn_dim;
        let at = |role, shape: &[usize]| file.tensor(role, shape);
        let layer = |i: usize| -> Result<LayerWeights> {
            let t = |which| TensorRole::Layer(i, which);
            Ok(LayerWeights {
                attn_norm_gamma: at(t(L::AttnNormGamma), &[d])?,
                attn_norm_beta: at(t(L::AttnNormBeta), &[d])?,
                query_weight: at(t(L::QueryWeight), &[d, d])?,
                query_bias: at(t(L::QueryBias), &[d])?,
                key_weight: at(t(L::KeyWeight), &[d, d])?,
                value_weight: at(t(L::ValueWeight), &[d, d])?,
                value_bias: at(t(L::ValueBias), &[d])?,
                out_weight: at(t(L::OutWeight), &[d, d])?,
                out_bias: at(t(L::OutBias), &[d])?,
                mlp_norm_gamma: at(t(L::MlpNormGamma), &[d])?,
                mlp_norm_beta: at(t(L::MlpNormBeta), &[d])?,
                fc1_weight: at(t(L::Fc1Weight), &[f, d])?,
                fc1_bias: at(t(L::Fc1Bias), &[f])?,
                fc2_weight: at(t(L::Fc2Weight), &[d, f])?,
                fc2_bias: at(t(L::Fc2Bias), &[d])?,
            })
        };
        Ok(EncoderWeights {
            conv1_weight: at(TensorRole::Conv1Weight, &[d, config.num_mel_bins, 3])?,
            conv1_bias: at(TensorRole::Conv1Bias, &[d])?,
            conv2_weight: at(TensorRole::Conv2Weight, &[d, d, 3])?,
            conv2_bias: at(TensorRole::Conv2Bias, &[d])?,
            positions: at(TensorRole::Positions, &[ENCODER_FRAMES, d])?,
            layers: (0..layers).map(layer).collect::<Result<_>>()?,
            final_norm_gamma: at(TensorRole::FinalNormGamma, &[d])?,
            final_norm_beta: at(TensorRole::FinalNormBeta, &[d])?,
        })
    }
}

/// Row `j` of a linear layer whose `[out][in]` weight is split over several stacked tensors
/// (Q, K and V stacked into one `[3d][d]` projection): `parts` of `rows` rows each.
pub fn read_stacked_row(parts: &[&Tensor], rows: usize, j: usize, out: &mut [f32]) -> Result<()> {
    parts[j / rows].read_row(j % rows, out.len(), out)
}

/// Row `o` of a PyTorch Conv1d weight `[out][in][3]` arranged as `[3][in]` (see
/// `conv_taps_outer`); `scratch` holds `3 * in` values.
pub fn read_conv_row(
    weight: &Tensor,
    o: usize,
    out: &mut [f32],
    scratch: &mut [f32],
) -> Result<()> {
    let input = out.len() / 3;
    weight.read_row(o, 3 * input, scratch)?;
    for c in 0..input {
        for j in 0..3 {
            out[j * input + c] = scratch[c * 3 + j];
        }
    }
    Ok(())
}

/// A PyTorch Conv1d weight `[out][in][3]` rearranged to `[out][3][in]`, so that a GEMM row of
/// im2col input is three contiguous frame copies `[x[t-1], x[t], x[t+1]]`.
pub fn conv_taps_outer(weight: &[f32], out: usize, input: usize) -> Vec<f32> {
    let mut arranged = vec![0.0; weight.len()];
    for o in 0..out {
        for c in 0..input {
            for j in 0..3 {
                arranged[o * 3 * input + j * input + c] = weight[o * input * 3 + c * 3 + j];
            }
        }
    }
    arranged
}
