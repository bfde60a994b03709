//! npu-whisper: speech audio to Whisper encoder embeddings, on an AMD Ryzen AI NPU where present
//! and on the CPU everywhere else.
//!
//! The data flow runs one way: [`audio::load`] decodes to 16 kHz mono, [`mel::LogMel`] makes
//! OpenAI-exact log-mel windows, and later stages encode them.
//!
//! ```
//! use npu_whisper::mel::LogMel;
//! // One second of a 440 Hz tone at 16 kHz.
//! let audio: Vec<f32> = (0..16_000)
//!     .map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 16_000.0).sin() * 0.5)
//!     .collect();
//! let front_end = LogMel::new(80);
//! let features = front_end.windows(&audio);
//! assert_eq!(features.len(), 80 * 3000); // one 30 s window of 80 mels x 3000 frames
//! ```
//!
//! Encoding a file with a model:
//!
//! ```no_run
//! use npu_whisper::{Encoder, EncoderOptions, Model, audio};
//! # fn main() -> npu_whisper::Result<()> {
//! let model = Model::open("path/to/whisper-base")?;
//! let encoder = Encoder::new(&model, &EncoderOptions::default())?;
//! let audio = audio::load(&audio::AudioSource::File("speech.wav".into()))?;
//! let embeddings = encoder.encode(&audio.samples)?;
//! println!("{:?} on {}", embeddings.view().shape(), embeddings.placement());
//! # Ok(())
//! # }
//! ```

pub mod audio;
pub mod mel;

/// A private module, public (and hidden) with the feature `internals` for the crate's own
/// kernel benches and allocation test.
macro_rules! internal_mod {
    ($name:ident) => {
        #[cfg(feature = "internals")]
        #[doc(hidden)]
        pub mod $name;
        #[cfg(not(feature = "internals"))]
        mod $name;
    };
}

mod api;
internal_mod!(cpu_features);
mod decoder;
mod doctor;
mod encoder;
mod error;
internal_mod!(exec);
mod export;
mod hub;
mod interrupt;
internal_mod!(kernels);
internal_mod!(model);
mod npu;
mod tokenizer;
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
pub use error::{Error, ErrorKind, Result};
pub use exec::{Device, LedgerEntry, OpDevice, VerifyStats, placement_summary};
pub use hub::progress::Progress as DownloadProgress;
pub use model::Config as ModelConfig;
pub use transcribe::format::CueLayout;
pub use transcribe::{DecodingOptions, Segment, SpeechSpan, Task, Transcript, Word};
pub use vad::{SpeechRange, Vad, VadOptions};
