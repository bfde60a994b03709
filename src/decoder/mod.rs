//! The Whisper text decoder on the CPU in f32: token + learned positional embeddings, pre-LN
//! blocks of causal self-attention (with a KV cache), cross-attention over the encoder output
//! (its K/V computed once per window) and a GELU MLP, a final LayerNorm, and logits from the
//! token embedding (tied). Fed by the encoder on any device.

pub mod cross;
pub mod weights;

use crate::kernels::half::{attend, matmul_half_par};
use crate::kernels::rows::{add, gelu, layer_norm};
use cross::{CrossKv, attend_cross};
use rayon::prelude::*;
pub use weights::DecoderWeights;

/// Per-window decoder state: the cross-attention K/V of the window's encoder output, and the
/// self-attention cache of the tokens decoded so far.
pub struct DecoderState {
    /// Per layer: the keys and values of the encoder output.
    cross: Vec<CrossKv>,
    /// Per layer: `[positions][d]` keys and values of the tokens so far.
    self_kv: Vec<(Vec<f32>, Vec<f32>)>,
    /// Tokens in the cache.
    len: usize,
}

impl DecoderState {
    /// Tokens decoded so far (the cache length).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forget the decoded tokens, keeping the window's cross-attention K/V (for a retry).
    pub fn rewind(&mut self) {
        self.len = 0;
    }
}

impl DecoderWeights {
    /// Prepare to decode against one window's encoder output `[frames][d]`: cross-attention
    /// K and V for every layer (one GEMM each over the frames).
    pub fn start(&self, encoder_out: &[f32]) -> DecoderState {
        let d = self.d_model();
        let frames = encoder_out.len() / d;
        // Layers in parallel: besides the GEMMs (parallel themselves), the K/V re-layout is
        // per-layer work.
        let cross = self
            .layers
            .par_iter()
            .map(|layer| {
                let mut keys_values = vec![0.0f32; frames * 2 * d];
                layer
                    .cross_kv
                    .forward(&mut keys_values, encoder_out, frames);
                CrossKv::new(&keys_values, frames, self.heads, self.kv_storage)
            })
            .collect();
        let cache = self.max_positions * d;
        DecoderState {
            cross,
            self_kv: self
                .layers
                .iter()
                .map(|_| (vec![0.0; cache], vec![0.0; cache]))
                .collect(),
            len: 0,
        }
    }

    /// Run `tokens` (appended after the cached ones) through the decoder and return the logits
    /// `[tokens.len()][vocab]` of every new position when `all_logits`, else of the last one.
    /// Panics if the cache would exceed the model's positions (callers bound the length).
    pub fn step(&self, state: &mut DecoderState, tokens: &[u32], all_logits: bool) -> Vec<f32> {
        let d = self.d_model();
        let m = tokens.len();
        let p0 = state.len;
        assert!(p0 + m <= self.max_positions, "decoder context exceeded");
        let mut x = vec![0.0f32; m * d];
        let mut row = vec![0.0f32; d];
        for (i, &t) in tokens.iter().enumerate() {
            self.tokens.row(t as usize, &mut row);
            let pos = &self.positions[(p0 + i) * d..(p0 + i + 1) * d];
            for ((o, &e), &p) in x[i * d..(i + 1) * d].iter_mut().zip(&row).zip(pos) {
                *o = e + p;
            }
        }
        let mut h = vec![0.0f32; m * d];
        let mut qkv = vec![0.0f32; m * 3 * d];
        let mut q = vec![0.0f32; m * d];
        let mut context = vec![0.0f32; m * d];
        let mut projected = vec![0.0f32; m * d];
        let mut scores = Vec::new();
        for (layer, ((self_k, self_v), cross)) in self
            .layers
            .iter()
            .zip(state.self_kv.iter_mut().zip(&state.cross))
        {
            // Causal self-attention: the new rows' K and V join the cache, then each new row
            // attends to every position up to its own.
            layer_norm(&mut h, &x, &layer.self_norm.gamma, &layer.self_norm.beta);
            matmul_half_par(
                &mut qkv,
                &h,
                &layer.self_qkv.weight,
                Some(&layer.self_qkv.bias),
                m,
            );
            for i in 0..m {
                let r = &qkv[i * 3 * d..(i + 1) * 3 * d];
                self_k[(p0 + i) * d..(p0 + i + 1) * d].copy_from_slice(&r[d..2 * d]);
                self_v[(p0 + i) * d..(p0 + i + 1) * d].copy_from_slice(&r[2 * d..]);
            }
            for i in 0..m {
                let len = p0 + i + 1;
                attend(
                    &mut context[i * d..(i + 1) * d],
                    &qkv[i * 3 * d..i * 3 * d + d],
                    self_k,
                    self_v,
                    len,
                    self.heads,
                    &mut scores,
                );
            }
            let out = &layer.self_out;
            matmul_half_par(&mut projected, &context, &out.weight, Some(&out.bias), m);
            add(&mut x, &projected);

            // Cross-attention over the window's encoder frames.
            layer_norm(&mut h, &x, &layer.cross_norm.gamma, &layer.cross_norm.beta);
            matmul_half_par(
                &mut q,
                &h,
                &layer.cross_q.weight,
                Some(&layer.cross_q.bias),
                m,
            );
            for i in 0..m {
                attend_cross(
                    &mut context[i * d..(i + 1) * d],
                    &q[i * d..(i + 1) * d],
                    cross,
                );
            }
            let out = &layer.cross_out;
            matmul_half_par(&mut projected, &context, &out.weight, Some(&out.bias), m);
            add(&mut x, &projected);

            // MLP.
            layer_norm(&mut h, &x, &layer.mlp_norm.gamma, &layer.mlp_norm.beta);
            let mut hidden = vec![0.0f32; m * layer.fc1.weight.rows];
            matmul_half_par(&mut hidden, &h, &layer.fc1.weight, Some(&layer.fc1.bias), m);
            gelu(&mut hidden);
            matmul_half_par(
                &mut projected,
                &hidden,
                &layer.fc2.weight,
                Some(&layer.fc2.bias),
                m,
            );
            add(&mut x, &projected);
        }
        state.len += m;
        let rows = if all_logits { 0..m } else { m - 1..m };
        let last = &x[rows.start * d..rows.end * d];
        let mut normed = vec![0.0f32; last.len()];
        layer_norm(
            &mut normed,
            last,
            &self.final_norm.gamma,
            &self.final_norm.beta,
        );
        let mut logits = vec![0.0f32; rows.len() * self.vocab];
        matmul_half_par(&mut logits, &normed, &self.tokens, None, rows.len());
        logits
    }
}
