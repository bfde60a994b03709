//! `Config`: the dimensions of a Whisper model, from a Hugging Face `config.json` or inferred from
//! tensor shapes. Nothing is hard-coded to one size: tiny ... large-v3 all fit here.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Every published Whisper model has 64-dimensional attention heads.
pub const HEAD_DIM: usize = 64;
/// Encoder positions: 3000 mel frames halved by conv2's stride.
pub const ENCODER_FRAMES: usize = 1500;
/// The largest width we accept; large-v3 is 1280. Refusing absurd sizes before allocating
/// anything keeps a hostile config.json from asking for terabytes.
const MAX_D_MODEL: usize = 8192;
const MAX_LAYERS: usize = 256;

/// Model dimensions. Field names are Hugging Face's `config.json` keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Mel bins of the input (80, or 128 for large-v3).
    pub num_mel_bins: usize,
    /// Width of the model.
    pub d_model: usize,
    /// Encoder layers.
    pub encoder_layers: usize,
    /// Attention heads per encoder layer.
    pub encoder_attention_heads: usize,
    #[serde(default = "default_ffn")]
    /// Hidden width of the encoder's MLP.
    pub encoder_ffn_dim: usize,
    #[serde(default = "default_source_positions")]
    /// Encoder positions (1500).
    pub max_source_positions: usize,
    #[serde(default)]
    /// Decoder layers.
    pub decoder_layers: usize,
    #[serde(default)]
    /// Attention heads per decoder layer.
    pub decoder_attention_heads: usize,
    #[serde(default)]
    /// Hidden width of the decoder's MLP.
    pub decoder_ffn_dim: usize,
    #[serde(default)]
    /// Tokens in the vocabulary.
    pub vocab_size: usize,
}

fn default_ffn() -> usize {
    0
}

fn default_source_positions() -> usize {
    ENCODER_FRAMES
}

impl Config {
    /// Read and validate a Hugging Face `config.json`.
    pub fn from_json_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadInput {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config: Config = serde_json::from_str(&text)
            .map_err(|e| Error::model(path, format!("not a Whisper config.json: {e}")))?;
        if config.encoder_ffn_dim == 0 {
            config.encoder_ffn_dim = 4 * config.d_model;
        }
        if config.decoder_ffn_dim == 0 {
            config.decoder_ffn_dim = 4 * config.d_model;
        }
        config.validate(path)?;
        Ok(config)
    }

    /// The standard shape of a model with this width and depth (head size 64, FFN 4x).
    pub fn standard(num_mel_bins: usize, d_model: usize, encoder_layers: usize) -> Self {
        Config {
            num_mel_bins,
            d_model,
            encoder_layers,
            encoder_attention_heads: d_model / HEAD_DIM,
            encoder_ffn_dim: 4 * d_model,
            max_source_positions: ENCODER_FRAMES,
            decoder_layers: 0,
            decoder_attention_heads: 0,
            decoder_ffn_dim: 0,
            vocab_size: 0,
        }
    }

    /// Refuse dimensions the encoder cannot run, before anything is allocated for them.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let bad = |what: String| Err(Error::model(path, what));
        if !crate::mel::SUPPORTED_N_MELS.contains(&self.num_mel_bins) {
            return bad(format!(
                "num_mel_bins is {}, expected 80 or 128",
                self.num_mel_bins
            ));
        }
        if self.d_model == 0 || self.d_model > MAX_D_MODEL {
            return bad(format!(
                "d_model {} is out of range 1..={MAX_D_MODEL}",
                self.d_model
            ));
        }
        if self.encoder_layers == 0 || self.encoder_layers > MAX_LAYERS {
            return bad(format!(
                "encoder_layers {} is out of range 1..={MAX_LAYERS}",
                self.encoder_layers
            ));
        }
        let heads = self.encoder_attention_heads;
        if heads == 0 || !self.d_model.is_multiple_of(heads) {
            return bad(format!(
                "encoder_attention_heads {heads} does not divide d_model {}",
                self.d_model
            ));
        }
        if self.encoder_ffn_dim == 0 || self.encoder_ffn_dim > 8 * MAX_D_MODEL {
            return bad(format!(
                "encoder_ffn_dim {} is out of range",
                self.encoder_ffn_dim
            ));
        }
        if self.max_source_positions != ENCODER_FRAMES {
            return bad(format!(
                "max_source_positions is {}, but 30 s windows give {ENCODER_FRAMES} encoder frames",
                self.max_source_positions
            ));
        }
        Ok(())
    }

    /// Width of an attention head (64).
    pub fn head_dim(&self) -> usize {
        self.d_model / self.encoder_attention_heads
    }

    /// Multiply-adds x 2 of one encoder window: conv stem, and per layer the four projections,
    /// the two attention products and the MLP.
    pub fn encoder_flops(&self) -> f64 {
        let (t, d, f) = (
            ENCODER_FRAMES as f64,
            self.d_model as f64,
            self.encoder_ffn_dim as f64,
        );
        let conv1 = 2.0 * 2.0 * t * d * self.num_mel_bins as f64 * 3.0;
        let conv2 = 2.0 * t * d * d * 3.0;
        let layer = 2.0 * t * (4.0 * d * d + 2.0 * d * f) + 2.0 * 2.0 * t * t * d;
        conv1 + conv2 + self.encoder_layers as f64 * layer
    }

    /// The published model whose encoder this is ("tiny", "base", ..., "large-v3"; an 80-mel
    /// large encoder is "large-v1", as v2 shares its dimensions), or "custom": looked up in the
    /// model catalogue.
    pub fn size_name(&self) -> &'static str {
        crate::hub::catalogue::encoder_size_name(self).unwrap_or("custom")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_flops_match_the_published_figure() {
        // REFERENCES.md: a base window is 87.4 GFLOP.
        let gflop = Config::standard(80, 512, 6).encoder_flops() / 1e9;
        assert!((gflop - 87.4).abs() < 0.5, "{gflop}");
    }

    #[test]
    fn absurd_dimensions_are_refused() {
        let p = Path::new("config.json");
        let mut c = Config::standard(80, 512, 6);
        assert!(c.validate(p).is_ok());
        c.d_model = 1 << 40;
        assert!(c.validate(p).unwrap_err().to_string().contains("d_model"));
        let mut c = Config::standard(80, 512, 6);
        c.encoder_attention_heads = 7;
        assert!(c.validate(p).is_err());
        let mut c = Config::standard(64, 512, 6);
        c.num_mel_bins = 64;
        assert!(c.validate(p).is_err());
    }
}
