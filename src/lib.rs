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

pub mod encoder;
pub mod exec;
pub mod model;

mod api;

pub use api::{
    Embeddings, Encoder, EncoderOptions, EncoderStream, FetchOptions, MachineInfo, Model,
    NpuProjection, Precision, TranscribeOptions, Transcriber, cpu_gemm_peak_gflops, machine_info,
};
pub use decoder::KvStorage;
pub use encoder::OpKind;
pub use error::{Error, ErrorKind, Result};
pub use exec::{Device, LedgerEntry, OpDevice, VerifyStats, placement_summary};
pub use hub::progress::Progress as DownloadProgress;
pub use model::Config as ModelConfig;
pub use transcribe::format::CueLayout;
pub use transcribe::{DecodingOptions, Segment, SpeechSpan, Task, Transcript, Word};
pub use vad::{Vad, VadOptions};
