//! Voice activity detection with Silero VAD v6, the network faster-whisper ships in its wheel
//! (`faster_whisper/assets/silero_vad_v6.onnx`, MIT licence), run in Rust on the CPU: speech
//! probabilities per 32 ms chunk (`net`), speech ranges and the map back to the recording's
//! timeline exactly as `faster_whisper.vad` computes them (`timestamps`). The weights come from
//! the ONNX file by a small protobuf reader (`onnx`) and are kept as safetensors (`weights`); the
//! file itself is fetched like a model (`model fetch silero-vad`) on first use.

mod net;
pub mod onnx;
mod timestamps;
pub mod weights;

use std::path::{Path, PathBuf};

pub use net::CHUNK;
pub use timestamps::{SpeechMap, SpeechRange, VadOptions, collect, speech_ranges};

use crate::error::{Error, Result};
use crate::hub::progress::Progress;
use crate::hub::{self, ModelRef, Needs, Settings, catalogue};

/// The catalogue name of the VAD's weights.
pub const MODEL_NAME: &str = "silero-vad";

/// A loaded Silero VAD. Cloning copies its small weights (a service gives each model its own).
#[derive(Clone)]
pub struct Vad {
    net: net::Silero,
}

impl Vad {
    /// From a safetensors file [`convert_silero_vad`](crate::tools::convert_silero_vad) wrote, or from
    /// the ONNX file itself.
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Vad {
            net: weights::load(path)?,
        })
    }

    /// The cached `silero-vad` model (fetched when absent, unless `options.offline`), imported
    /// from its ONNX file into safetensors beside it on first use.
    pub fn fetch(options: &crate::FetchOptions) -> Result<Self> {
        Vad::open(&locate_weights(
            None,
            options.offline,
            options.progress.as_ref(),
        )?)
    }

    /// One speech probability per 512 samples, on the recording padded as
    /// `get_speech_timestamps` pads it (zeros to the next multiple of 512, a whole chunk when it
    /// already is one).
    pub fn probabilities(&self, samples: &[f32]) -> Vec<f32> {
        let mut padded = samples.to_vec();
        padded.resize((samples.len() / CHUNK + 1) * CHUNK, 0.0);
        self.net.probabilities(padded)
    }

    /// The recording's speech ranges.
    pub fn speech(&self, samples: &[f32], options: &VadOptions) -> Vec<SpeechRange> {
        speech_ranges(&self.probabilities(samples), samples.len(), options)
    }
}

/// The VAD weights to load: `explicit` if given, else the cached `silero-vad` (fetched when
/// absent, unless `offline`), imported from its ONNX file into safetensors beside it on first
/// use.
pub fn locate_weights(
    explicit: Option<&Path>,
    offline: bool,
    progress: &dyn Progress,
) -> Result<PathBuf> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    let settings = Settings::from_env(offline);
    let entry = catalogue::lookup(MODEL_NAME).expect("the catalogue names silero-vad");
    let model = ModelRef::Named(entry);
    let dir = match hub::locate(&settings, &model, Needs::Encoder) {
        Some(dir) => dir,
        None if offline => {
            return Err(Error::fetch(
                MODEL_NAME,
                format!(
                    "voice activity detection needs it, it is not in the cache ({}) and offline mode (HF_HUB_OFFLINE=1) forbids downloading: fetch it first with `npu-whisper model fetch {MODEL_NAME}`",
                    settings.local_dir.display()
                ),
            ));
        }
        None => hub::fetch(
            &settings,
            &model,
            Needs::Encoder,
            hub::Source::Auto,
            progress,
        )?,
    };
    let imported = dir.join(weights::WEIGHTS_FILE);
    if imported.is_file() {
        return Ok(imported);
    }
    let onnx = dir.join(weights::ONNX_FILE);
    let tensors = weights::import_onnx_file(&onnx)?;
    match weights::write(&tensors, &imported) {
        Ok(()) => {
            tracing::info!("imported {} into {}", onnx.display(), imported.display());
            Ok(imported)
        }
        // A read-only cache still works: the ONNX file is read each time instead.
        Err(e) => {
            tracing::warn!("could not keep the imported VAD weights ({e}); reading the ONNX file");
            Ok(onnx)
        }
    }
}
