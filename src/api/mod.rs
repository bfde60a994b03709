//! The library's front door: the types re-exported at the crate root. Everything here is built
//! from the internal modules and adds policy only where a caller would otherwise have to know
//! an internal (which precision this CPU runs best, which files a model directory holds).

mod cache;
mod cancel;
mod encoder;
pub(crate) mod model;
mod transcriber;
mod windows;

pub use cache::{CachedModel, Fetched, ModelCache, ModelSource};
pub use cancel::CancelToken;
pub use encoder::{
    Embeddings, Encoder, EncoderOptions, EncoderStream, NpuCostBound, NpuCostModel, NpuProjection,
};
pub use model::{FetchOptions, Model};
pub use transcriber::{TranscribeHooks, TranscribeOptions, Transcriber};
pub use windows::{ENCODER_FRAMES, EncoderWindow, SAMPLES_PER_FRAME, WindowSelection};

/// The arithmetic of the encoder's matrix products on the CPU (the NPU computes in bf16
/// whatever this says).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Precision {
    /// bf16 where the CPU multiplies bf16 natively (AVX512_BF16), f32 elsewhere.
    #[default]
    Auto,
    /// f32 throughout: the exact path, equal to the reference implementations.
    F32,
    /// bf16 operands with f32 accumulation: about twice as fast, cosine > 0.999 against f32.
    /// Needs AVX512_BF16; asking for it elsewhere is an error, not a silent fallback.
    Bf16,
}

impl Precision {
    /// What `Auto` means on this CPU; `F32` and `Bf16` stay as they are.
    pub fn resolve(self) -> Precision {
        match self {
            Precision::Auto if crate::cpu_features::has_avx512_bf16() => Precision::Bf16,
            Precision::Auto => Precision::F32,
            other => other,
        }
    }

    /// `auto`, `f32` or `bf16`, as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Auto => "auto",
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        }
    }

    pub(crate) fn arithmetic(self) -> crate::kernels::layers::Arithmetic {
        use crate::kernels::layers::Arithmetic;
        match self.resolve() {
            Precision::Bf16 => Arithmetic::Bf16,
            _ => Arithmetic::F32,
        }
    }
}
