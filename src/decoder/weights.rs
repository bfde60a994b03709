//! The decoder's weights, loaded from the same safetensors file as the encoder (Hugging Face or
//! OpenAI names). Matrices the decoder multiplies one token at a time are kept as f16 (`Half`):
//! the published checkpoints are f16, so this is exact for them and halves the memory read per
//! token, which is what bounds a matrix-vector product. Arithmetic is f32.

use crate::error::{Error, Result};
use crate::model::names::{
    self, decoder_candidates as candidates, decoder_layer_candidates as layer_candidates,
};
use crate::model::tensor_file::TensorFile;
use crate::model::{Config, fused_attention_bias};

use super::cross::KvStorage;
use crate::kernels::half::Half;
use crate::kernels::layers::{Arithmetic, Linear, Norm};
use rayon::prelude::*;

/// A linear layer applied to a few rows at a time: f16 weight `[out][in]`, f32 bias.
#[derive(Debug, Clone)]
pub struct HalfLinear {
    pub weight: Half,
    pub bias: Vec<f32>,
}

/// One decoder block.
#[derive(Debug, Clone)]
pub struct DecoderLayer {
    pub self_norm: Norm,
    /// Q, K and V of the self-attention stacked into one `[3d][d]` projection (zero K bias).
    pub self_qkv: HalfLinear,
    pub self_out: HalfLinear,
    pub cross_norm: Norm,
    pub cross_q: HalfLinear,
    /// Cross-attention K and V projections stacked (`[K out | V out]`, bias `[zeros | V
    /// bias]`) for the once-per-window GEMM over the encoder's frames, at the encoder's
    /// precision: like the encoder's own GEMMs, it is a product over 1500 frames.
    pub cross_kv: Linear,
    pub cross_out: HalfLinear,
    pub mlp_norm: Norm,
    pub fc1: HalfLinear,
    pub fc2: HalfLinear,
}

/// All decoder weights.
#[derive(Debug, Clone)]
pub struct DecoderWeights {
    /// Token embedding `[vocab][d]`, also the output projection (tied).
    pub tokens: Half,
    /// Learned positions `[max_positions][d]`.
    pub positions: Vec<f32>,
    pub layers: Vec<DecoderLayer>,
    pub final_norm: Norm,
    pub heads: usize,
    pub vocab: usize,
    /// How the cross-attention K/V of each window are kept (`--kv-storage`).
    pub kv_storage: KvStorage,
    pub max_positions: usize,
}

impl DecoderWeights {
    /// Load the decoder described by `config` from `file`; `precision` is the encoder's (see
    /// `DecoderLayer::cross_kv`), `kv_storage` how each window's cross-attention K/V are kept.
    ///
    /// Kept whole: one tensor per statement in checkpoint order, each beside the shape it must
    /// have; split, the shapes would sit apart from the names.
    pub fn load(
        file: &TensorFile,
        config: &Config,
        precision: Arithmetic,
        kv_storage: KvStorage,
    ) -> Result<Self> {
        let d = config.d_model;
        let layers = config.decoder_layers;
        let heads = config.decoder_attention_heads;
        if layers == 0 || heads == 0 || !d.is_multiple_of(heads) {
            return Err(Error::model(
                file.path(),
                format!(
                    "the model's config has no usable decoder (decoder_layers {layers}, decoder_attention_heads {heads}, d_model {d}): transcription needs one"
                ),
            ));
        }
        let ffn = config.decoder_ffn_dim;
        let token_names = candidates(names::DECODER_TOKEN_EMBEDDING);
        let vocab = token_names
            .iter()
            .find_map(|n| file.shape_of(n))
            .map(|shape| shape[0])
            .ok_or_else(|| {
                Error::model(file.path(), "missing tensor `model.decoder.embed_tokens.weight`: the file holds no decoder (encoder-only export?)")
            })?;
        let tokens = Half::from_bits(file.load_any_f16(&token_names, &[vocab, d])?, vocab, d);
        let position_names = candidates(names::DECODER_POSITION_EMBEDDING);
        let max_positions = position_names
            .iter()
            .find_map(|n| file.shape_of(n))
            .map_or(0, |shape| shape[0]);
        let positions = file.load_any(&position_names, &[max_positions, d])?;
        let norm = |gamma: Vec<String>, beta: Vec<String>| -> Result<Norm> {
            Ok(Norm {
                gamma: file.load_any(&gamma, &[d])?,
                beta: file.load_any(&beta, &[d])?,
            })
        };
        // Layers in parallel: arranging the cross-attention K/V weights is the work.
        let layers = (0..layers)
            .into_par_iter()
            .map(|l| {
                let load = |suffix: &str, shape: &[usize]| {
                    file.load_any(&layer_candidates(l, suffix), shape)
                };
                let load_f16 = |suffix: &str, shape: &[usize]| {
                    file.load_any_f16(&layer_candidates(l, suffix), shape)
                };
                let linear = |name: &str, out: usize, input: usize| -> Result<HalfLinear> {
                    Ok(HalfLinear {
                        weight: Half::from_bits(
                            load_f16(&format!("{name}.weight"), &[out, input])?,
                            out,
                            input,
                        ),
                        bias: load(&format!("{name}.bias"), &[out])?,
                    })
                };
                let q = load_f16("self_attn.q_proj.weight", &[d, d])?;
                let k = load_f16("self_attn.k_proj.weight", &[d, d])?;
                let v = load_f16("self_attn.v_proj.weight", &[d, d])?;
                let qkv_bias = fused_attention_bias(
                    Some(load("self_attn.q_proj.bias", &[d])?),
                    load("self_attn.v_proj.bias", &[d])?,
                );
                let cross_kv = Linear::from_out_in(
                    &[
                        load("encoder_attn.k_proj.weight", &[d, d])?,
                        load("encoder_attn.v_proj.weight", &[d, d])?,
                    ]
                    .concat(),
                    &fused_attention_bias(None, load("encoder_attn.v_proj.bias", &[d])?),
                    precision,
                );
                Ok(DecoderLayer {
                    self_norm: norm(
                        layer_candidates(l, "self_attn_layer_norm.weight"),
                        layer_candidates(l, "self_attn_layer_norm.bias"),
                    )?,
                    self_qkv: HalfLinear {
                        weight: Half::from_bits([&q[..], &k, &v].concat(), 3 * d, d),
                        bias: qkv_bias,
                    },
                    self_out: linear("self_attn.out_proj", d, d)?,
                    cross_norm: norm(
                        layer_candidates(l, "encoder_attn_layer_norm.weight"),
                        layer_candidates(l, "encoder_attn_layer_norm.bias"),
                    )?,
                    cross_q: linear("encoder_attn.q_proj", d, d)?,
                    cross_kv,
                    cross_out: linear("encoder_attn.out_proj", d, d)?,
                    mlp_norm: norm(
                        layer_candidates(l, "final_layer_norm.weight"),
                        layer_candidates(l, "final_layer_norm.bias"),
                    )?,
                    fc1: linear("fc1", ffn, d)?,
                    fc2: linear("fc2", d, ffn)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(DecoderWeights {
            tokens,
            positions,
            layers,
            final_norm: norm(
                candidates(names::DECODER_FINAL_NORM_GAMMA),
                candidates(names::DECODER_FINAL_NORM_BETA),
            )?,
            heads,
            vocab,
            max_positions,
            kv_storage,
        })
    }

    pub fn d_model(&self) -> usize {
        self.tokens.cols
    }
}
