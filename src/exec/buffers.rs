//! The activation buffers of one window: sized once from the plan, reused for every window, and
//! owned by the per-call state (never by the shared compiled encoder).

use crate::encoder::{Buf, Plan};
use crate::mel::WINDOW_FRAMES;
use crate::model::config::ENCODER_FRAMES;

/// Activation storage for one window, sized once from the plan and reused for every window.
#[derive(Debug, Default, Clone)]
pub struct Buffers {
    mel: Vec<f32>,
    stem: Vec<f32>,
    residual: Vec<f32>,
    normed: Vec<f32>,
    qkv: Vec<f32>,
    context: Vec<f32>,
    projected: Vec<f32>,
    hidden: Vec<f32>,
    /// Scratch: im2col rows of the convolutions.
    pub(crate) im2col: Vec<f32>,
    /// Scratch: the mel input transposed to frames-first.
    pub(crate) mel_frames: Vec<f32>,
    /// Scratch: per-thread attention scores.
    pub(crate) attention_scratch: crate::kernels::attention::ThreadScratch,
    /// Scratch: bf16 activation pairs of the bf16 GEMMs.
    pub(crate) bf16_pairs: Vec<u32>,
    /// Scratch: the bf16 attention's packed K^T/V and per-thread blocks.
    pub(crate) bf16_attention: crate::kernels::bf16::AttentionScratch,
}

impl Buffers {
    pub fn new(plan: &Plan) -> Self {
        let c = &plan.config;
        let (t, d) = (ENCODER_FRAMES, c.d_model);
        Buffers {
            mel: vec![0.0; c.num_mel_bins * WINDOW_FRAMES],
            stem: vec![0.0; WINDOW_FRAMES * d],
            residual: vec![0.0; t * d],
            normed: vec![0.0; t * d],
            qkv: vec![0.0; t * 3 * d],
            context: vec![0.0; t * d],
            projected: vec![0.0; t * d],
            hidden: vec![0.0; t * c.encoder_ffn_dim],
            // The larger of the two convolutions' im2col matrices.
            im2col: vec![0.0; (WINDOW_FRAMES * 3 * c.num_mel_bins).max(t * 3 * d)],
            mel_frames: vec![0.0; c.num_mel_bins * WINDOW_FRAMES],
            attention_scratch: crate::kernels::attention::ThreadScratch::for_attention(
                ENCODER_FRAMES,
            ),
            bf16_pairs: Vec::new(),
            bf16_attention: crate::kernels::bf16::AttentionScratch::default(),
        }
    }

    fn slot(&mut self, buf: Buf) -> &mut Vec<f32> {
        match buf {
            Buf::Mel => &mut self.mel,
            Buf::Stem => &mut self.stem,
            Buf::Residual => &mut self.residual,
            Buf::Normed => &mut self.normed,
            Buf::Qkv => &mut self.qkv,
            Buf::Context => &mut self.context,
            Buf::Projected => &mut self.projected,
            Buf::Hidden => &mut self.hidden,
        }
    }

    pub fn get(&self, buf: Buf) -> &[f32] {
        match buf {
            Buf::Mel => &self.mel,
            Buf::Stem => &self.stem,
            Buf::Residual => &self.residual,
            Buf::Normed => &self.normed,
            Buf::Qkv => &self.qkv,
            Buf::Context => &self.context,
            Buf::Projected => &self.projected,
            Buf::Hidden => &self.hidden,
        }
    }

    pub fn get_mut(&mut self, buf: Buf) -> &mut [f32] {
        self.slot(buf)
    }

    /// Move a buffer out so an op can write it while reading others; `put` returns it.
    pub fn take(&mut self, buf: Buf) -> Vec<f32> {
        std::mem::take(self.slot(buf))
    }

    pub fn put(&mut self, buf: Buf, values: Vec<f32>) {
        *self.slot(buf) = values;
    }
}
