//! npu-whisper: speech to Whisper encoder embeddings and transcripts, on an AMD Ryzen AI NPU
//! (XDNA) where one is usable and on the CPU everywhere else, with a ledger of where every
//! encoder op ran and how long it took.
//!
//! # Which type to reach for
//!
//! | You want | Use |
//! |---|---|
//! | audio in (WAV, FLAC, MP3, Ogg; any rate and channel count) as 16 kHz mono | [`audio::load`] |
//! | OpenAI-exact log-mel features, `windows x mels x frames` | [`mel::LogMel::features`] |
//! | a model: a directory, a cached name (`base`, `large-v3-turbo`) or a Hub id | [`Model::open`], [`Model::fetch`] |
//! | encoder embeddings, `windows x 1500 x d_model`, and where each op ran | [`Encoder::encode`] → [`Embeddings`] |
//! | the same, one 30 s window at a time (long audio, streaming writers) | [`Encoder::stream`] → [`EncoderStream`] |
//! | timed text (segments, words), as faster-whisper's `transcribe` gives it | [`Transcriber::transcribe`] → [`Transcript`] |
//! | only the speech transcribed (Silero VAD v6, faster-whisper's `vad_filter`) | [`Transcriber::with_vad`], [`Vad`] |
//! | to branch on a failure (or an exit code) | [`Error::kind`] → [`ErrorKind`] |
//!
//! A [`Model`], an [`Encoder`] and a [`Transcriber`] are `Send + Sync` and cheap to clone:
//! load once, share between threads. Each call keeps its activations to itself, so one loaded
//! model serves concurrent requests. Where the encoder runs is chosen by [`Device`]
//! (`Auto`: the NPU when it is usable, else the CPU, and [`Encoder::device_note`] says why);
//! a fallback is never silent: it is in the ledger ([`LedgerEntry::fallback`]) and the
//! placement summary.
//!
//! # Embeddings
//!
//! ```
//! use npu_whisper::{Encoder, EncoderOptions, Model, Precision};
//! # fn main() -> npu_whisper::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! # // The vocabulary of a committed fixture, so the example runs without fetched models.
//! # let vocabulary = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vocabulary/multilingual");
//! # npu_whisper::tools::write_random_model_with_vocabulary(dir.path(), "tiny", Some(1), Some(1), 1, &vocabulary)?;
//! # let path = dir.path();
//! // A model directory (or `Model::fetch("base", &Default::default())` from the cache or the Hub).
//! let model = Model::open(path)?;
//! let encoder = Encoder::new(&model, &EncoderOptions::default().precision(Precision::F32))?;
//! // 45 s of 16 kHz audio (here a tone; `audio::load` reads files).
//! let samples: Vec<f32> = (0..45 * 16_000).map(|i| (i as f32 * 0.05).sin() * 0.1).collect();
//! let embeddings = encoder.encode(&samples)?;
//! assert_eq!(embeddings.view().shape(), &[2, 1500, model.config().d_model]);
//! assert_eq!(embeddings.trimmed().nrows(), 2250); // 20 ms frames that hold audio
//! println!("{}", embeddings.placement()); // "cpu: 26/26 ops" on a machine without an NPU
//! # Ok(())
//! # }
//! ```
//!
//! # Transcription
//!
//! ```
//! use npu_whisper::{DecodingOptions, Model, TranscribeOptions, Transcriber};
//! # fn main() -> npu_whisper::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! # // The vocabulary of a committed fixture, so the example runs without fetched models.
//! # let vocabulary = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vocabulary/multilingual");
//! # npu_whisper::tools::write_random_model_with_vocabulary(dir.path(), "tiny", Some(1), Some(1), 1, &vocabulary)?;
//! # let path = dir.path();
//! let model = Model::open(path)?;
//! let mut decoding = DecodingOptions::default();
//! decoding.beam_size = 5;
//! decoding.word_timestamps = true;
//! let transcriber = Transcriber::new(&model, TranscribeOptions::default().decoding(decoding))?;
//! let samples = vec![0.0f32; 10 * 16_000];
//! let transcript = transcriber.transcribe(&samples)?;
//! for segment in &transcript.segments {
//!     println!("[{:.2} -> {:.2}]{}", segment.start, segment.end, segment.text);
//! }
//! // A random-weight model (as here) detects the last language of its vocabulary.
//! assert_eq!(transcript.language.as_deref(), Some("su"));
//! print!("{}", transcript.to_srt(&Default::default()));
//! # Ok(())
//! # }
//! ```
//!
//! The `npu-whisper` command line is built on exactly this API. What the crate promises (the
//! items here, the CLI's flags, the JSON schemas) is in docs/usage.md, "Versions and what they
//! promise".

#![warn(missing_docs)]

pub mod audio;
pub mod mel;

// `cpu_features`, `exec`, `kernels` and `model` are private, and public (hidden) with the
// feature `internals` for the crate's own kernel benches and allocation test. Each is declared
// twice, in plain sight, so that rustfmt (which does not look inside macros) formats them.
mod api;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod cpu_features;
#[cfg(not(feature = "internals"))]
mod cpu_features;
mod decoder;
mod doctor;
mod encoder;
mod error;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod exec;
#[cfg(not(feature = "internals"))]
mod exec;
mod hub;
mod interrupt;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod kernels;
#[cfg(not(feature = "internals"))]
mod kernels;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod model;
#[cfg(not(feature = "internals"))]
mod model;
mod npu;
mod tokenizer;
pub mod tools;
mod transcribe;
mod vad;

#[cfg(test)]
mod tests;

/// The internal modules, for the crate's own kernel benches and allocation test (feature
/// `internals`). Not part of the public API: no documentation, no semver promise.
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod internals {
    pub use crate::{cpu_features, exec, kernels, model};
}

pub use api::*;
pub use decoder::KvStorage;
pub use encoder::OpKind;
pub use error::{DecodingOption, Error, ErrorKind, OptionName, Result};
pub use exec::{Device, LedgerEntry, OpDevice, VerifyStats, placement_summary};
pub use hub::progress::Progress as DownloadProgress;
pub use model::Config as ModelConfig;
pub use transcribe::format::CueLayout;
pub use transcribe::{DecodingOptions, Segment, SpeechSpan, Task, Transcript, Word, language_name};
pub use vad::{SpeechRange, Vad, VadOptions};

/// The README's Rust example, compiled as a doctest (`no_run`: it fetches a model) so it
/// cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExample;
