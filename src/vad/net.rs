//! Silero VAD v6 (16 kHz), the network of faster-whisper's `silero_vad_v6.onnx`, on the CPU in
//! f32. Per 576-sample input (64 samples of context, then a 512-sample chunk):
//!
//! 1. reflect-pad 128 samples each side (832), an STFT as a convolution with the stored
//!    258 x 256 basis at stride 128 (5 frames), the first frame dropped, the magnitude of the
//!    129 bins;
//! 2. four kernel-3 convolutions (129 -> 128 -> 64 -> 64 -> 128 channels, strides 1, 2, 2, 1,
//!    padding 1), each followed by ReLU: 4 frames become 1;
//! 3. an LSTM cell of 128 (ONNX gate order input, output, forget, cell) whose state runs on from
//!    chunk to chunk, ReLU, a 1 x 1 convolution to one value, sigmoid.
//!
//! Steps 1-2 are independent per chunk and run in parallel; the LSTM is the only sequential part.

use rayon::prelude::*;

/// Samples per chunk (one probability each) and of context before it.
pub const CHUNK: usize = 512;
pub const CONTEXT: usize = 64;
const INPUT: usize = CHUNK + CONTEXT;
const PAD: usize = 128;
const WINDOW: usize = 256;
const HOP: usize = 128;
/// STFT frames kept per chunk (5 computed, the first dropped as the graph does).
const FRAMES: usize = 4;
const BINS: usize = 129;
pub const HIDDEN: usize = 128;
const GATES: usize = 4 * HIDDEN;
/// Chunks whose features are computed in parallel before the LSTM runs over them: bounds
/// memory on long recordings (4096 x 128 floats).
const BLOCK: usize = 4096;

/// One convolution: `weight[out][k][in]` (rearranged from ONNX's `[out][in][k]` so that each
/// tap is a contiguous dot product), bias, stride.
#[derive(Debug, Clone)]
pub struct Conv {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub inputs: usize,
    pub outputs: usize,
    pub stride: usize,
}

impl Conv {
    /// From ONNX's `[out][in][3]` layout.
    pub fn from_onnx(weight: &[f32], bias: Vec<f32>, inputs: usize, stride: usize) -> Self {
        let outputs = bias.len();
        assert_eq!(weight.len(), outputs * inputs * 3);
        let mut rearranged = vec![0.0; weight.len()];
        for o in 0..outputs {
            for i in 0..inputs {
                for k in 0..3 {
                    rearranged[(o * 3 + k) * inputs + i] = weight[(o * inputs + i) * 3 + k];
                }
            }
        }
        Conv {
            weight: rearranged,
            bias,
            inputs,
            outputs,
            stride,
        }
    }

    /// `input` is `[frames][inputs]`; returns `[out_frames][outputs]` after ReLU, with zero
    /// padding of one frame each side.
    fn forward_relu(&self, input: &[f32], frames: usize) -> (Vec<f32>, usize) {
        let out_frames = (frames - 1) / self.stride + 1;
        let mut out = vec![0.0; out_frames * self.outputs];
        for t in 0..out_frames {
            for o in 0..self.outputs {
                let mut sum = self.bias[o];
                for k in 0..3 {
                    let Some(source) = (t * self.stride + k).checked_sub(1) else {
                        continue;
                    };
                    if source >= frames {
                        continue;
                    }
                    let w = &self.weight[(o * 3 + k) * self.inputs..][..self.inputs];
                    sum += dot(w, &input[source * self.inputs..][..self.inputs]);
                }
                out[t * self.outputs + o] = sum.max(0.0);
            }
        }
        (out, out_frames)
    }
}

/// The network's weights (see `super::weights` for where they come from).
#[derive(Debug, Clone)]
pub struct Silero {
    /// `[258][256]`: rows 0..129 the real parts, 129..258 the imaginary parts.
    pub stft_basis: Vec<f32>,
    pub convs: [Conv; 4],
    /// `[512][128]`, gates i, o, f, c.
    pub lstm_input: Vec<f32>,
    pub lstm_recurrent: Vec<f32>,
    /// `[512]`: the input and recurrent biases summed.
    pub lstm_bias: Vec<f32>,
    pub head_weight: Vec<f32>,
    pub head_bias: f32,
}

impl Silero {
    /// One speech probability per 512 samples of `audio` (a whole multiple of 512), as
    /// faster-whisper's `SileroVADModel.__call__` computes them: each chunk gets the last 64
    /// samples of the one before as context (zeros for the first), the LSTM state runs through
    /// the whole recording, and — reproduced on purpose — the last 64 samples of the last chunk
    /// are zeroed (`context[-1] = 0` writes through a NumPy view into the audio).
    pub fn probabilities(&self, mut audio: Vec<f32>) -> Vec<f32> {
        assert_eq!(audio.len() % CHUNK, 0, "whole chunks");
        let chunks = audio.len() / CHUNK;
        let len = audio.len();
        if len >= CONTEXT {
            audio[len - CONTEXT..].fill(0.0);
        }
        let mut state = LstmState::default();
        let mut out = Vec::with_capacity(chunks);
        for first in (0..chunks).step_by(BLOCK) {
            let count = (chunks - first).min(BLOCK);
            let features: Vec<Vec<f32>> = (first..first + count)
                .into_par_iter()
                .map(|c| {
                    let mut input = [0.0f32; INPUT];
                    if c > 0 {
                        input[..CONTEXT].copy_from_slice(&audio[c * CHUNK - CONTEXT..c * CHUNK]);
                    }
                    input[CONTEXT..].copy_from_slice(&audio[c * CHUNK..(c + 1) * CHUNK]);
                    let features = self.features(&input);
                    // The input half of the LSTM's gates does not depend on the state.
                    let mut projected = self.lstm_bias.clone();
                    for (g, p) in projected.iter_mut().enumerate() {
                        *p += dot(&self.lstm_input[g * HIDDEN..][..HIDDEN], &features);
                    }
                    projected
                })
                .collect();
            for projected in &features {
                out.push(self.step(projected, &mut state));
            }
        }
        out
    }

    /// Steps 1-2 for one 576-sample input: 128 features.
    fn features(&self, input: &[f32; INPUT]) -> Vec<f32> {
        let mut padded = [0.0f32; INPUT + 2 * PAD];
        for j in 0..PAD {
            padded[j] = input[PAD - j];
            padded[PAD + INPUT + j] = input[INPUT - 2 - j];
        }
        padded[PAD..PAD + INPUT].copy_from_slice(input);
        let mut magnitude = vec![0.0f32; FRAMES * BINS];
        for f in 0..FRAMES {
            let frame = &padded[(f + 1) * HOP..][..WINDOW];
            for b in 0..BINS {
                let re = dot(&self.stft_basis[b * WINDOW..][..WINDOW], frame);
                let im = dot(&self.stft_basis[(BINS + b) * WINDOW..][..WINDOW], frame);
                magnitude[f * BINS + b] = (re * re + im * im).sqrt();
            }
        }
        let (mut x, mut frames) = (magnitude, FRAMES);
        for conv in &self.convs {
            (x, frames) = conv.forward_relu(&x, frames);
        }
        debug_assert_eq!(frames, 1);
        x
    }

    /// The LSTM cell on one chunk's projected input, then the head: the probability.
    fn step(&self, projected: &[f32], state: &mut LstmState) -> f32 {
        let mut gates = [0.0f32; GATES];
        for (g, gate) in gates.iter_mut().enumerate() {
            *gate = projected[g] + dot(&self.lstm_recurrent[g * HIDDEN..][..HIDDEN], &state.h);
        }
        for j in 0..HIDDEN {
            let input = sigmoid(gates[j]);
            let output = sigmoid(gates[HIDDEN + j]);
            let forget = sigmoid(gates[2 * HIDDEN + j]);
            let cell = gates[3 * HIDDEN + j].tanh();
            state.c[j] = forget * state.c[j] + input * cell;
            state.h[j] = output * state.c[j].tanh();
        }
        let relu = state.h.map(|v| v.max(0.0));
        sigmoid(dot(&self.head_weight, &relu) + self.head_bias)
    }
}

struct LstmState {
    h: [f32; HIDDEN],
    c: [f32; HIDDEN],
}

impl Default for LstmState {
    fn default() -> Self {
        LstmState {
            h: [0.0; HIDDEN],
            c: [0.0; HIDDEN],
        }
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// A dot product in 16 lanes (vectorised by the compiler), then the tail.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut lanes = [0.0f32; 16];
    let (ac, bc) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ac.zip(bc) {
        for l in 0..16 {
            lanes[l] += x[l] * y[l];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_strided_convolution_matches_the_formula_with_zero_padding() {
        // 2 inputs, 1 output, weight[o][i][k] = i * 3 + k + 1, input [frames][inputs].
        let weight: Vec<f32> = (0..6).map(|v| v as f32 + 1.0).collect();
        let conv = Conv::from_onnx(&weight, vec![0.5], 2, 2);
        let input = [1.0, -1.0, 2.0, 0.0, -3.0, 1.0, 0.5, 0.5];
        let (out, frames) = conv.forward_relu(&input, 4);
        assert_eq!(frames, 2);
        let x = |t: isize, i: usize| {
            if (0..4).contains(&t) {
                input[t as usize * 2 + i]
            } else {
                0.0
            }
        };
        for (t, &got) in out.iter().enumerate() {
            let mut want = 0.5;
            for i in 0..2 {
                for k in 0..3 {
                    want += weight[i * 3 + k] * x(2 * t as isize + k as isize - 1, i);
                }
            }
            assert!((got - want.max(0.0)).abs() < 1e-6, "{t}: {got} vs {want}");
        }
    }

    #[test]
    fn dot_sums_every_element() {
        for n in [0, 1, 15, 16, 17, 129, 256] {
            let a: Vec<f32> = (0..n).map(|i| i as f32).collect();
            let b = vec![2.0f32; n];
            assert_eq!(dot(&a, &b), (n * n.saturating_sub(1)) as f32);
        }
    }
}
