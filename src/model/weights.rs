//! `EncoderWeights`: every encoder tensor as f32, checked against the config's shapes.

use super::config::{Config, ENCODER_FRAMES};
use super::names::{LayerTensor as L, TensorRole};
use super::tensor_file::TensorFile;
use crate::error::Result;
use rayon::prelude::*;

/// One pre-LN transformer block. Linear weights are `[out, in]` row-major, as PyTorch stores them.
#[derive(Debug, Clone)]
pub struct LayerWeights {
    pub attn_norm_gamma: Vec<f32>,
    pub attn_norm_beta: Vec<f32>,
    pub query_weight: Vec<f32>,
    pub query_bias: Vec<f32>,
    /// Whisper's key projection has no bias.
    pub key_weight: Vec<f32>,
    pub value_weight: Vec<f32>,
    pub value_bias: Vec<f32>,
    pub out_weight: Vec<f32>,
    pub out_bias: Vec<f32>,
    pub mlp_norm_gamma: Vec<f32>,
    pub mlp_norm_beta: Vec<f32>,
    pub fc1_weight: Vec<f32>,
    pub fc1_bias: Vec<f32>,
    pub fc2_weight: Vec<f32>,
    pub fc2_bias: Vec<f32>,
}

/// The whole encoder. Conv weights are `[out, in, 3]` as PyTorch's Conv1d stores them.
#[derive(Debug, Clone)]
pub struct EncoderWeights {
    pub conv1_weight: Vec<f32>,
    pub conv1_bias: Vec<f32>,
    pub conv2_weight: Vec<f32>,
    pub conv2_bias: Vec<f32>,
    /// Sinusoidal positional embedding, `[1500, d_model]`.
    pub positions: Vec<f32>,
    pub layers: Vec<LayerWeights>,
    pub final_norm_gamma: Vec<f32>,
    pub final_norm_beta: Vec<f32>,
}

impl EncoderWeights {
    /// Load the first `layers` encoder layers (all when `None`) from `file`.
    pub fn load(file: &TensorFile, config: &Config, layers: usize) -> Result<Self> {
        let d = config.d_model;
        let f = config.encoder_ffn_dim;
        let load = |role, shape: &[usize]| file.load(role, shape);
        let layer = |i: usize| -> Result<LayerWeights> {
            let t = |which| TensorRole::Layer(i, which);
            Ok(LayerWeights {
                attn_norm_gamma: load(t(L::AttnNormGamma), &[d])?,
                attn_norm_beta: load(t(L::AttnNormBeta), &[d])?,
                query_weight: load(t(L::QueryWeight), &[d, d])?,
                query_bias: load(t(L::QueryBias), &[d])?,
                key_weight: load(t(L::KeyWeight), &[d, d])?,
                value_weight: load(t(L::ValueWeight), &[d, d])?,
                value_bias: load(t(L::ValueBias), &[d])?,
                out_weight: load(t(L::OutWeight), &[d, d])?,
                out_bias: load(t(L::OutBias), &[d])?,
                mlp_norm_gamma: load(t(L::MlpNormGamma), &[d])?,
                mlp_norm_beta: load(t(L::MlpNormBeta), &[d])?,
                fc1_weight: load(t(L::Fc1Weight), &[f, d])?,
                fc1_bias: load(t(L::Fc1Bias), &[f])?,
                fc2_weight: load(t(L::Fc2Weight), &[d, f])?,
                fc2_bias: load(t(L::Fc2Bias), &[d])?,
            })
        };
        Ok(EncoderWeights {
            conv1_weight: load(TensorRole::Conv1Weight, &[d, config.num_mel_bins, 3])?,
            conv1_bias: load(TensorRole::Conv1Bias, &[d])?,
            conv2_weight: load(TensorRole::Conv2Weight, &[d, d, 3])?,
            conv2_bias: load(TensorRole::Conv2Bias, &[d])?,
            positions: load(TensorRole::Positions, &[ENCODER_FRAMES, d])?,
            // Layers in parallel: converting to f32 is the load's work.
            layers: (0..layers)
                .into_par_iter()
                .map(layer)
                .collect::<Result<_>>()?,
            final_norm_gamma: load(TensorRole::FinalNormGamma, &[d])?,
            final_norm_beta: load(TensorRole::FinalNormBeta, &[d])?,
        })
    }
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
