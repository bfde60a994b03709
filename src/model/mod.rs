//! Whisper models: configuration, weights (memory-mapped safetensors, Hugging Face or OpenAI
//! names, f32/f16/bf16), where to find them, and the CTranslate2 importer.

pub mod config;
pub mod ct2;
pub mod float;
pub mod names;
pub mod random;
pub mod tensor;
pub mod tensor_file;
pub mod weights;

use std::path::{Path, PathBuf};

pub use config::Config;
pub use tensor::Tensor;
pub use weights::{EncoderWeights, LayerWeights};

use crate::error::{Error, Result};
use names::{LayerTensor, TensorRole};
use tensor_file::TensorFile;

/// Environment variable overriding the model cache directory.
pub const MODEL_DIR_ENV: &str = "NPU_WHISPER_MODEL_DIR";

/// A loaded model: its dimensions and encoder weights.
pub struct EncoderModel {
    /// A short name: the cache name, directory name or file stem.
    pub name: String,
    /// The safetensors file the weights came from.
    pub weights_path: PathBuf,
    pub config: Config,
    pub encoder: EncoderWeights,
}

impl std::fmt::Debug for EncoderModel {
    // The weights are millions of numbers; a debug print shows what identifies the model.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("name", &self.name)
            .field("weights_path", &self.weights_path)
            .field("config", &self.config)
            .field("layers_loaded", &self.encoder.layers.len())
            .finish()
    }
}

/// A model's file opened and its dimensions read, before any weight is converted: the encoder and
/// the decoder load their weights from it independently (and so concurrently).
pub struct ModelFile {
    pub name: String,
    pub config: Config,
    pub file: TensorFile,
}

impl ModelFile {
    /// Open a model directory (Hugging Face hub layout: `config.json` + `model.safetensors`) or a
    /// single safetensors file (dimensions inferred from shapes).
    pub fn open(path: &Path) -> Result<Self> {
        let (weights_path, config_path) = if path.is_dir() {
            let single = path.join("model.safetensors");
            let sharded = path.join(tensor_file::SHARD_INDEX);
            let weights = if single.exists() || !sharded.exists() {
                single
            } else {
                sharded
            };
            if !weights.exists() {
                let hint = if path.join("model.bin").exists() {
                    format!(
                        "; it holds a CTranslate2 model.bin: import it with `npu-whisper convert {} -o DIR`",
                        path.join("model.bin").display()
                    )
                } else {
                    String::new()
                };
                return Err(Error::model(
                    path,
                    format!(
                        "no model.safetensors (or {}) in this directory{hint}",
                        tensor_file::SHARD_INDEX
                    ),
                ));
            }
            let config = path.join("config.json");
            (weights, config.exists().then_some(config))
        } else {
            (path.to_path_buf(), None)
        };
        let file = TensorFile::open(&weights_path)?;
        let config = match config_path {
            Some(config_path) => Config::from_json_file(&config_path)?,
            None => infer_config(&file)?,
        };
        Ok(ModelFile {
            name: name_of_path(path),
            config,
            file,
        })
    }
}

/// Encoder layers to load: all of `config`'s, or the first `max_layers` of them.
pub fn layers_to_load(config: &Config, max_layers: Option<usize>) -> Result<usize> {
    match max_layers {
        Some(n) if n > config.encoder_layers => Err(Error::InvalidOption {
            option: crate::error::OptionName::EncoderLayers,
            value: n.to_string(),
            reason: format!(
                "the model has only {} encoder layers",
                config.encoder_layers
            ),
        }),
        Some(n) => Ok(n),
        None => Ok(config.encoder_layers),
    }
}

impl EncoderModel {
    #[cfg(any(test, feature = "internals"))]
    /// Load a model directory or safetensors file (see `ModelFile::open`). `max_layers` loads
    /// only the first layers of the encoder.
    pub fn load(path: &Path, max_layers: Option<usize>) -> Result<Self> {
        Self::from_source(&ModelFile::open(path)?, max_layers)
    }

    /// The encoder weights of an opened model.
    pub fn from_source(source: &ModelFile, max_layers: Option<usize>) -> Result<Self> {
        let ModelFile { name, config, file } = source;
        let encoder = EncoderWeights::load(file, config, layers_to_load(config, max_layers)?)?;
        let outside: Vec<&str> = file
            .names()
            .filter(|n| !n.starts_with("model.encoder.") && !n.starts_with("encoder."))
            .collect();
        if !outside.is_empty() {
            tracing::debug!(
                "{}: ignoring {} tensors outside the encoder (e.g. `{}`)",
                file.path().display(),
                outside.len(),
                outside[0]
            );
        }
        Ok(EncoderModel {
            name: name.clone(),
            weights_path: file.path().to_path_buf(),
            config: config.clone(),
            encoder,
        })
    }
}

impl EncoderModel {
    /// A model of `config`'s dimensions with deterministic synthetic weights (for benchmarks:
    /// the arithmetic, and so the time, is that of a real model of the same size).
    pub fn synthetic(config: &Config, layers: usize) -> Self {
        use tensor::Generated;
        let d = config.d_model;
        let f = config.encoder_ffn_dim;
        let mut seed = 0x853C_49E6_748F_EA9Bu64;
        // Each tensor draws from its own stream, made on demand: a large-v3-sized model costs
        // nothing until the executor arranges it, one tensor at a time.
        let mut values = |len: usize, scale: f32| {
            seed = seed.wrapping_add(1 << 40);
            Tensor::Generated(Generated::Uniform { seed, scale, len })
        };
        let constant =
            |value: f32, len: usize| Tensor::Generated(Generated::Constant { value, len });
        let w = 1.0 / (d as f32).sqrt();
        let layer_weights = (0..layers)
            .map(|_| LayerWeights {
                attn_norm_gamma: constant(1.0, d),
                attn_norm_beta: constant(0.0, d),
                query_weight: values(d * d, w),
                query_bias: values(d, 0.1),
                key_weight: values(d * d, w),
                value_weight: values(d * d, w),
                value_bias: values(d, 0.1),
                out_weight: values(d * d, w),
                out_bias: values(d, 0.1),
                mlp_norm_gamma: constant(1.0, d),
                mlp_norm_beta: constant(0.0, d),
                fc1_weight: values(f * d, w),
                fc1_bias: values(f, 0.1),
                fc2_weight: values(d * f, 1.0 / (f as f32).sqrt()),
                fc2_bias: values(d, 0.1),
            })
            .collect();
        let encoder = EncoderWeights {
            conv1_weight: values(d * config.num_mel_bins * 3, 0.1),
            conv1_bias: values(d, 0.1),
            conv2_weight: values(d * d * 3, w),
            conv2_bias: values(d, 0.1),
            positions: values(config::ENCODER_FRAMES * d, 1.0),
            layers: layer_weights,
            final_norm_gamma: constant(1.0, d),
            final_norm_beta: constant(0.0, d),
        };
        EncoderModel {
            name: format!("synthetic-{}", config.size_name()),
            weights_path: PathBuf::from("<synthetic>"),
            config: config.clone(),
            encoder,
        }
    }
}

fn model_name(path: &Path) -> String {
    let stem = if path.is_dir() {
        path.file_name()
    } else {
        path.file_stem()
    };
    stem.map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".to_string())
}

/// Dimensions of a bare safetensors file, from its tensor shapes.
pub fn infer_config(file: &TensorFile) -> Result<Config> {
    let path = file.path();
    let conv1 = file.shape(TensorRole::Conv1Weight).ok_or_else(|| {
        Error::model(
            path,
            format!(
                "missing tensor `{}` (or `{}`): not a Whisper encoder",
                TensorRole::Conv1Weight.candidates()[0],
                TensorRole::Conv1Weight.openai_name()
            ),
        )
    })?;
    let [d_model, n_mels, 3] = conv1[..] else {
        return Err(Error::model(
            path,
            format!("tensor conv1.weight: expected shape [d_model, n_mels, 3], found {conv1:?}"),
        ));
    };
    // The depth is the highest block index named by any tensor, so a tensor missing from the
    // last block is reported as missing rather than silently shortening the model.
    let layers = file
        .names()
        .filter_map(encoder_block_index)
        .max()
        .map_or(0, |i| i + 1);
    let ffn = file
        .shape(TensorRole::Layer(0, LayerTensor::Fc1Weight))
        .and_then(|s| s.first().copied())
        .unwrap_or(4 * d_model);
    let mut config = Config::standard(n_mels, d_model, layers);
    config.encoder_ffn_dim = ffn;
    if !d_model.is_multiple_of(config::HEAD_DIM) {
        return Err(Error::model(
            path,
            format!(
                "d_model {d_model} is not a multiple of the 64-wide Whisper heads; add a config.json"
            ),
        ));
    }
    config.validate(path)?;
    Ok(config)
}

/// The block index in `...encoder.layers.N....` or `encoder.blocks.N....`.
fn encoder_block_index(name: &str) -> Option<usize> {
    let rest = name
        .split_once("encoder.layers.")
        .or_else(|| name.split_once("encoder.blocks."))?
        .1;
    rest.split('.').next()?.parse().ok()
}

/// The bias of a fused attention projection. Whisper's key projections have no bias, so the
/// K part is zeros: `[q | 0 | v]` for a self-attention QKV (`query` given), `[0 | v]` for a
/// cross-attention KV.
pub fn fused_attention_bias(query: Option<Vec<f32>>, value: Vec<f32>) -> Vec<f32> {
    let d = value.len();
    let mut bias = query.unwrap_or_default();
    bias.resize(bias.len() + d, 0.0);
    bias.extend(value);
    bias
}

/// The model cache: `$NPU_WHISPER_MODEL_DIR`, else `$XDG_CACHE_HOME/npu-whisper/models`, else
/// `~/.cache/npu-whisper/models`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(MODEL_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("npu-whisper").join("models")
}

/// A model path's name: a Hub snapshot (`models--ORG--NAME/snapshots/COMMIT`) is called
/// `ORG/NAME`, anything else by its directory name or file stem.
pub fn name_of_path(path: &Path) -> String {
    let dir = if path.is_dir() {
        Some(path)
    } else {
        path.parent()
    };
    if let Some(snapshot) = dir
        && let Some(snapshots) = snapshot.parent()
        && snapshots.file_name().is_some_and(|n| n == "snapshots")
        && let Some(folder) = snapshots.parent().and_then(|r| r.file_name())
        && let Some(rest) = folder.to_string_lossy().strip_prefix("models--")
        && let Some((org, name)) = rest.split_once("--")
    {
        return format!("{org}/{}", name.replace("--", "/"));
    }
    model_name(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fused_attention_biases_have_zeros_for_the_key() {
        assert_eq!(
            fused_attention_bias(Some(vec![1.0, 2.0]), vec![5.0, 6.0]),
            vec![1.0, 2.0, 0.0, 0.0, 5.0, 6.0]
        );
        assert_eq!(
            fused_attention_bias(None, vec![5.0, 6.0]),
            vec![0.0, 0.0, 5.0, 6.0]
        );
    }
}
