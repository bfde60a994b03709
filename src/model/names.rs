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

impl LayerTensor {
    /// Every tensor of an encoder layer, in the order checkpoints store them.
    pub const ALL: [LayerTensor; 15] = [
        LayerTensor::AttnNormGamma,
        LayerTensor::AttnNormBeta,
        LayerTensor::QueryWeight,
        LayerTensor::QueryBias,
        LayerTensor::KeyWeight,
        LayerTensor::ValueWeight,
        LayerTensor::ValueBias,
        LayerTensor::OutWeight,
        LayerTensor::OutBias,
        LayerTensor::MlpNormGamma,
        LayerTensor::MlpNormBeta,
        LayerTensor::Fc1Weight,
        LayerTensor::Fc1Bias,
        LayerTensor::Fc2Weight,
        LayerTensor::Fc2Bias,
    ];
}

impl TensorRole {
    /// Every encoder tensor of a model with `layers` layers, in the order checkpoints store
    /// them.
    pub fn encoder(layers: usize) -> Vec<TensorRole> {
        let convolutions = [
            TensorRole::Conv1Weight,
            TensorRole::Conv1Bias,
            TensorRole::Conv2Weight,
            TensorRole::Conv2Bias,
            TensorRole::Positions,
        ];
        let blocks = (0..layers).flat_map(|l| LayerTensor::ALL.map(|t| TensorRole::Layer(l, t)));
        let final_norm = [TensorRole::FinalNormGamma, TensorRole::FinalNormBeta];
        convolutions
            .into_iter()
            .chain(blocks)
            .chain(final_norm)
            .collect()
    }

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

/// The decoder's token embedding (also its output projection): Hugging Face name under
/// `decoder.`, OpenAI name under `decoder.`.
pub const DECODER_TOKEN_EMBEDDING: (&str, &str) = ("embed_tokens.weight", "token_embedding.weight");
/// The decoder's learned positions.
pub const DECODER_POSITION_EMBEDDING: (&str, &str) =
    ("embed_positions.weight", "positional_embedding");
/// The decoder's final LayerNorm.
pub const DECODER_FINAL_NORM_GAMMA: (&str, &str) = ("layer_norm.weight", "ln.weight");
pub const DECODER_FINAL_NORM_BETA: (&str, &str) = ("layer_norm.bias", "ln.bias");

/// Every decoder tensor's Hugging Face name (`model.decoder.…`) for `layers` layers, in the
/// order checkpoints store them.
pub fn hf_decoder_names(layers: usize) -> Vec<String> {
    let hf = |suffix: &str| format!("model.decoder.{suffix}");
    let blocks = (0..layers).flat_map(|l| {
        DECODER_LAYER_NAMES
            .iter()
            .map(move |(suffix, _)| format!("model.decoder.layers.{l}.{suffix}"))
    });
    [DECODER_TOKEN_EMBEDDING, DECODER_POSITION_EMBEDDING]
        .map(|(suffix, _)| hf(suffix))
        .into_iter()
        .chain(blocks)
        .chain([DECODER_FINAL_NORM_GAMMA, DECODER_FINAL_NORM_BETA].map(|(suffix, _)| hf(suffix)))
        .collect()
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

/// The Hugging Face names a CTranslate2 variable becomes, in row order; `None` marks a part that
/// is dropped (the zero key bias of a fused projection).
pub fn hf_names_of_ctranslate2(name: &str) -> Option<Vec<Option<String>>> {
    let one = |n: String| Some(vec![Some(n)]);
    let (kind, suffix) = name.rsplit_once('/')?;
    // gamma/beta are LayerNorm weight/bias; weight/bias/encodings keep their meaning.
    let param = match suffix {
        "gamma" | "weight" | "encodings" => "weight",
        "beta" | "bias" => "bias",
        _ => return None,
    };
    let fixed = match kind {
        "encoder/conv1" => return one(format!("model.encoder.conv1.{param}")),
        "encoder/conv2" => return one(format!("model.encoder.conv2.{param}")),
        "encoder/position_encodings" => return one("model.encoder.embed_positions.weight".into()),
        "encoder/layer_norm" => return one(format!("model.encoder.layer_norm.{param}")),
        "decoder/embeddings" => return one("model.decoder.embed_tokens.weight".into()),
        "decoder/position_encodings" => return one("model.decoder.embed_positions.weight".into()),
        "decoder/layer_norm" => return one(format!("model.decoder.layer_norm.{param}")),
        other => other,
    };
    let mut parts = fixed.splitn(3, '/');
    let stack = parts.next()?;
    let layer: usize = parts.next()?.strip_prefix("layer_")?.parse().ok()?;
    let rest = parts.next()?;
    if stack != "encoder" && stack != "decoder" {
        return None;
    }
    let base = format!("model.{stack}.layers.{layer}");
    let is_bias = param == "bias";
    let split = |names: &[&str], drop_key_bias: bool| -> Option<Vec<Option<String>>> {
        Some(
            names
                .iter()
                .map(|n| {
                    if drop_key_bias && is_bias && n.ends_with("k_proj") {
                        None
                    } else {
                        Some(format!("{base}.{n}.{param}"))
                    }
                })
                .collect(),
        )
    };
    match rest {
        "self_attention/layer_norm" => one(format!("{base}.self_attn_layer_norm.{param}")),
        "self_attention/linear_0" => split(
            &["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"],
            true,
        ),
        "self_attention/linear_1" => one(format!("{base}.self_attn.out_proj.{param}")),
        "attention/layer_norm" if stack == "decoder" => {
            one(format!("{base}.encoder_attn_layer_norm.{param}"))
        }
        "attention/linear_0" if stack == "decoder" => {
            one(format!("{base}.encoder_attn.q_proj.{param}"))
        }
        "attention/linear_1" if stack == "decoder" => {
            split(&["encoder_attn.k_proj", "encoder_attn.v_proj"], true)
        }
        "attention/linear_2" if stack == "decoder" => {
            one(format!("{base}.encoder_attn.out_proj.{param}"))
        }
        "ffn/layer_norm" => one(format!("{base}.final_layer_norm.{param}")),
        "ffn/linear_0" => one(format!("{base}.fc1.{param}")),
        "ffn/linear_1" => one(format!("{base}.fc2.{param}")),
        _ => None,
    }
}

/// The names one decoder tensor may have: `model.decoder.X`, `decoder.X`, then OpenAI's
/// `decoder.Y`.
pub fn decoder_candidates((hf, openai): (&str, &str)) -> Vec<String> {
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
    decoder_candidates((
        &format!("layers.{layer}.{suffix}"),
        &format!("blocks.{layer}.{openai}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fused_projections_split_and_drop_the_key_bias() {
        let t = hf_names_of_ctranslate2("encoder/layer_3/self_attention/linear_0/weight").unwrap();
        assert_eq!(
            t,
            vec![
                Some("model.encoder.layers.3.self_attn.q_proj.weight".into()),
                Some("model.encoder.layers.3.self_attn.k_proj.weight".into()),
                Some("model.encoder.layers.3.self_attn.v_proj.weight".into()),
            ]
        );
        let b = hf_names_of_ctranslate2("decoder/layer_0/attention/linear_1/bias").unwrap();
        assert_eq!(
            b,
            vec![
                None,
                Some("model.decoder.layers.0.encoder_attn.v_proj.bias".into())
            ]
        );
        assert_eq!(
            hf_names_of_ctranslate2("encoder/layer_1/ffn/layer_norm/gamma").unwrap(),
            vec![Some(
                "model.encoder.layers.1.final_layer_norm.weight".into()
            )]
        );
        assert!(hf_names_of_ctranslate2("encoder/layer_1/unknown/weight").is_none());
    }

    #[test]
    fn every_ctranslate2_variable_becomes_a_name_the_loaders_read() {
        let mut ct2 = vec![
            "encoder/conv1/weight".to_string(),
            "encoder/conv1/bias".into(),
            "encoder/conv2/weight".into(),
            "encoder/conv2/bias".into(),
            "encoder/position_encodings/encodings".into(),
            "encoder/layer_norm/gamma".into(),
            "encoder/layer_norm/beta".into(),
            "decoder/embeddings/weight".into(),
            "decoder/position_encodings/encodings".into(),
            "decoder/layer_norm/gamma".into(),
            "decoder/layer_norm/beta".into(),
        ];
        let encoder_parts = [
            "self_attention/layer_norm",
            "self_attention/linear_0",
            "self_attention/linear_1",
            "ffn/layer_norm",
            "ffn/linear_0",
            "ffn/linear_1",
        ];
        let decoder_parts = [
            "attention/layer_norm",
            "attention/linear_0",
            "attention/linear_1",
            "attention/linear_2",
        ];
        for (stack, parts) in [
            ("encoder", &encoder_parts[..]),
            ("decoder", &encoder_parts[..]),
            ("decoder", &decoder_parts[..]),
        ] {
            for part in parts {
                let (a, b) = if part.ends_with("layer_norm") {
                    ("gamma", "beta")
                } else {
                    ("weight", "bias")
                };
                ct2.push(format!("{stack}/layer_0/{part}/{a}"));
                ct2.push(format!("{stack}/layer_0/{part}/{b}"));
            }
        }
        let mut produced: Vec<String> = ct2
            .iter()
            .flat_map(|name| hf_names_of_ctranslate2(name).unwrap_or_else(|| panic!("{name}")))
            .flatten()
            .collect();
        let mut read: Vec<String> = TensorRole::encoder(1)
            .into_iter()
            .map(|role| format!("model.{}", role.hf_name()))
            .chain(hf_decoder_names(1))
            .collect();
        produced.sort();
        read.sort();
        assert_eq!(produced, read);
    }
}
