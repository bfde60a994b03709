//! Tensor names. A model may use Hugging Face names (`model.encoder.layers.N.self_attn.q_proj`)
//! or OpenAI checkpoint names (`encoder.blocks.N.attn.query`); each encoder tensor has one
//! `TensorRole` and both spellings, and each decoder tensor its candidate names
//! (`decoder_candidates`, `decoder_layer_candidates`).

/// One encoder tensor, independent of naming convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorRole {
    Conv1Weight,
    Conv1Bias,
    Conv2Weight,
    Conv2Bias,
    Positions,
    FinalNormGamma,
    FinalNormBeta,
    Layer(usize, LayerTensor),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerTensor {
    AttnNormGamma,
    AttnNormBeta,
    QueryWeight,
    QueryBias,
    KeyWeight,
    ValueWeight,
    ValueBias,
    OutWeight,
    OutBias,
    MlpNormGamma,
    MlpNormBeta,
    Fc1Weight,
    Fc1Bias,
    Fc2Weight,
    Fc2Bias,
}

impl TensorRole {
    /// The Hugging Face name (without the optional `model.` prefix).
    pub fn hf_name(self) -> String {
        match self {
            TensorRole::Conv1Weight => "encoder.conv1.weight".into(),
            TensorRole::Conv1Bias => "encoder.conv1.bias".into(),
            TensorRole::Conv2Weight => "encoder.conv2.weight".into(),
            TensorRole::Conv2Bias => "encoder.conv2.bias".into(),
            TensorRole::Positions => "encoder.embed_positions.weight".into(),
            TensorRole::FinalNormGamma => "encoder.layer_norm.weight".into(),
            TensorRole::FinalNormBeta => "encoder.layer_norm.bias".into(),
            TensorRole::Layer(i, t) => {
                let suffix = match t {
                    LayerTensor::AttnNormGamma => "self_attn_layer_norm.weight",
                    LayerTensor::AttnNormBeta => "self_attn_layer_norm.bias",
                    LayerTensor::QueryWeight => "self_attn.q_proj.weight",
                    LayerTensor::QueryBias => "self_attn.q_proj.bias",
                    LayerTensor::KeyWeight => "self_attn.k_proj.weight",
                    LayerTensor::ValueWeight => "self_attn.v_proj.weight",
                    LayerTensor::ValueBias => "self_attn.v_proj.bias",
                    LayerTensor::OutWeight => "self_attn.out_proj.weight",
                    LayerTensor::OutBias => "self_attn.out_proj.bias",
                    LayerTensor::MlpNormGamma => "final_layer_norm.weight",
                    LayerTensor::MlpNormBeta => "final_layer_norm.bias",
                    LayerTensor::Fc1Weight => "fc1.weight",
                    LayerTensor::Fc1Bias => "fc1.bias",
                    LayerTensor::Fc2Weight => "fc2.weight",
                    LayerTensor::Fc2Bias => "fc2.bias",
                };
                format!("encoder.layers.{i}.{suffix}")
            }
        }
    }

    /// The OpenAI checkpoint name.
    pub fn openai_name(self) -> String {
        match self {
            TensorRole::Conv1Weight => "encoder.conv1.weight".into(),
            TensorRole::Conv1Bias => "encoder.conv1.bias".into(),
            TensorRole::Conv2Weight => "encoder.conv2.weight".into(),
            TensorRole::Conv2Bias => "encoder.conv2.bias".into(),
            TensorRole::Positions => "encoder.positional_embedding".into(),
            TensorRole::FinalNormGamma => "encoder.ln_post.weight".into(),
            TensorRole::FinalNormBeta => "encoder.ln_post.bias".into(),
            TensorRole::Layer(i, t) => {
                let suffix = match t {
                    LayerTensor::AttnNormGamma => "attn_ln.weight",
                    LayerTensor::AttnNormBeta => "attn_ln.bias",
                    LayerTensor::QueryWeight => "attn.query.weight",
                    LayerTensor::QueryBias => "attn.query.bias",
                    LayerTensor::KeyWeight => "attn.key.weight",
                    LayerTensor::ValueWeight => "attn.value.weight",
                    LayerTensor::ValueBias => "attn.value.bias",
                    LayerTensor::OutWeight => "attn.out.weight",
                    LayerTensor::OutBias => "attn.out.bias",
                    LayerTensor::MlpNormGamma => "mlp_ln.weight",
                    LayerTensor::MlpNormBeta => "mlp_ln.bias",
                    LayerTensor::Fc1Weight => "mlp.0.weight",
                    LayerTensor::Fc1Bias => "mlp.0.bias",
                    LayerTensor::Fc2Weight => "mlp.2.weight",
                    LayerTensor::Fc2Bias => "mlp.2.bias",
                };
                format!("encoder.blocks.{i}.{suffix}")
            }
        }
    }

    /// Every name this tensor may be stored under, most common first.
    pub fn candidates(self) -> [String; 3] {
        let hf = self.hf_name();
        [format!("model.{hf}"), hf, self.openai_name()]
    }
}

/// Hugging Face name suffixes under `decoder.` and their OpenAI spellings.
const DECODER_LAYER_NAMES: [(&str, &str); 24] = [
    ("self_attn_layer_norm.weight", "attn_ln.weight"),
    ("self_attn_layer_norm.bias", "attn_ln.bias"),
    ("self_attn.q_proj.weight", "attn.query.weight"),
    ("self_attn.q_proj.bias", "attn.query.bias"),
    ("self_attn.k_proj.weight", "attn.key.weight"),
    ("self_attn.v_proj.weight", "attn.value.weight"),
    ("self_attn.v_proj.bias", "attn.value.bias"),
    ("self_attn.out_proj.weight", "attn.out.weight"),
    ("self_attn.out_proj.bias", "attn.out.bias"),
    ("encoder_attn_layer_norm.weight", "cross_attn_ln.weight"),
    ("encoder_attn_layer_norm.bias", "cross_attn_ln.bias"),
    ("encoder_attn.q_proj.weight", "cross_attn.query.weight"),
    ("encoder_attn.q_proj.bias", "cross_attn.query.bias"),
    ("encoder_attn.k_proj.weight", "cross_attn.key.weight"),
    ("encoder_attn.v_proj.weight", "cross_attn.value.weight"),
    ("encoder_attn.v_proj.bias", "cross_attn.value.bias"),
    ("encoder_attn.out_proj.weight", "cross_attn.out.weight"),
    ("encoder_attn.out_proj.bias", "cross_attn.out.bias"),
    ("final_layer_norm.weight", "mlp_ln.weight"),
    ("final_layer_norm.bias", "mlp_ln.bias"),
    ("fc1.weight", "mlp.0.weight"),
    ("fc1.bias", "mlp.0.bias"),
    ("fc2.weight", "mlp.2.weight"),
    ("fc2.bias", "mlp.2.bias"),
];

/// The names one decoder tensor may have: `model.decoder.X`, `decoder.X`, then OpenAI's
/// `decoder.Y`.
pub fn decoder_candidates(hf: &str, openai: &str) -> Vec<String> {
    vec![
        format!("model.decoder.{hf}"),
        format!("decoder.{hf}"),
        format!("decoder.{openai}"),
    ]
}

/// The names of decoder layer `layer`'s tensor `suffix` (its Hugging Face spelling, such as
/// `fc1.weight`).
pub fn decoder_layer_candidates(layer: usize, suffix: &str) -> Vec<String> {
    let openai = DECODER_LAYER_NAMES
        .iter()
        .find(|(hf, _)| *hf == suffix)
        .map(|(_, o)| *o)
        .expect("every layer suffix is in DECODER_LAYER_NAMES");
    decoder_candidates(
        &format!("layers.{layer}.{suffix}"),
        &format!("blocks.{layer}.{openai}"),
    )
}
