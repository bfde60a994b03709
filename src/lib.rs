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
//! Encoding a file with a model, window by window:
//!
//! ```no_run
//! use npu_whisper::{audio, exec::Executor, mel::LogMel, model::Model};
//! # fn main() -> npu_whisper::Result<()> {
//! let model = Model::load("path/to/whisper-base".as_ref(), None)?;
//! let audio = audio::load(&audio::AudioSource::File("speech.wav".into()))?;
//! let front_end = LogMel::new(model.config.num_mel_bins);
//! let mut encoder = Executor::cpu(&model)?;
//! for window in front_end.windows(&audio.samples).chunks_exact(front_end.window_len()) {
//!     let embeddings: &[f32] = encoder.encode_window(window)?; // [1500 x d_model]
//!     println!("{} values", embeddings.len());
//! }
//! # Ok(())
//! # }
//! ```

pub mod audio;
pub mod cli;
pub mod cmd;
pub mod cpu_features;
pub mod decoder;
pub mod doctor;
pub mod error;
pub mod export;
pub mod hub;
pub mod interrupt;
pub mod kernels;
pub mod mel;
pub mod npu;
pub mod tokenizer;
pub mod transcribe;
pub mod vad;

pub use error::{Error, Result};
pub mod encoder;
pub mod exec;
pub mod model;
