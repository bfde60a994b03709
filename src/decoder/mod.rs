//! The Whisper text decoder on the CPU in f32: token + learned positional embeddings, pre-LN
//! blocks of causal self-attention (each hypothesis with its own `KvCache`), cross-attention
//! over the encoder output (its K/V computed once per window, shared by every hypothesis) and a
//! GELU MLP, a final LayerNorm, and logits from the token embedding (tied). Fed by the encoder
//! on any device.
//!
//! Two entry points: `prefill` runs a sequence of tokens for one hypothesis (the prompt, or a
//! whole transcript forced through for word alignment, optionally recording the alignment
//! heads' cross-attention); `step` runs one new token for each of several hypotheses as one
//! batch, so each weight matrix is read once per step whatever the beam width.

pub mod cross;
pub mod weights;

use crate::kernels::half::{attend, matmul_half_par};
use crate::kernels::rows::{add, gelu, layer_norm};
pub use cross::KvStorage;
use cross::{CrossKv, attend_cross};
use rayon::prelude::*;
pub use weights::DecoderWeights;

/// One window's encoder output as the decoder reads it: every layer's cross-attention keys and
/// values, computed once and shared by every hypothesis decoded against the window.
pub struct Window {
    cross: Vec<CrossKv>,
}

/// The self-attention keys and values of one hypothesis' tokens so far, per layer `[len][d]`.
/// Grown token by token; cloning copies only what is filled (a beam forking).
#[derive(Debug, Clone)]
pub struct KvCache {
    layers: Vec<(Vec<f32>, Vec<f32>)>,
    len: usize,
}

impl KvCache {
    /// An empty cache for a decoder of `layers` layers.
    pub fn new(layers: usize) -> Self {
        KvCache {
            layers: vec![(Vec::new(), Vec::new()); layers],
            len: 0,
        }
    }

    /// Tokens in the cache.
    pub fn len(&self) -> usize {
        self.len
    }
}

/// `caches` reordered so that the new hypothesis `i` continues the old hypothesis
/// `origins[i]`: a cache used once is moved, one used more often is cloned for its extra
/// children (its filled rows only), one not used is dropped.
pub fn reorder(caches: Vec<KvCache>, origins: &[usize]) -> Vec<KvCache> {
    let mut uses = vec![0usize; caches.len()];
    for &o in origins {
        uses[o] += 1;
    }
    let mut slots: Vec<Option<KvCache>> = caches.into_iter().map(Some).collect();
    origins
        .iter()
        .map(|&o| {
            uses[o] -= 1;
            if uses[o] == 0 {
                slots[o].take().expect("each cache is moved once, last")
            } else {
                slots[o].clone().expect("a cache still in use")
            }
        })
        .collect()
}

/// Cross-attention weights recorded during `prefill`: for each requested (layer, head), the
/// scaled query-key scores (before the softmax) of every new row over the window's frames.
#[derive(Debug, Clone)]
pub struct AttentionRecord {
    /// (layer, head) pairs to record (a model's `alignment_heads`).
    pub heads: Vec<(usize, usize)>,
    /// Per pair, `[rows][frames]`.
    pub scores: Vec<Vec<f32>>,
    pub frames: usize,
}

impl AttentionRecord {
    pub fn new(heads: Vec<(usize, usize)>) -> Self {
        let scores = vec![Vec::new(); heads.len()];
        AttentionRecord {
            heads,
            scores,
            frames: 0,
        }
    }
}

impl DecoderWeights {
    /// Prepare to decode against one window's encoder output `[frames][d]`: cross-attention
    /// K and V for every layer (one GEMM each over the frames).
    pub fn start(&self, encoder_out: &[f32]) -> Window {
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
        Window { cross }
    }

    /// An empty cache for one hypothesis.
    pub fn new_cache(&self) -> KvCache {
        KvCache::new(self.layers.len())
    }

    /// Run `tokens` of one hypothesis, appended after what `cache` holds; the logits
    /// `[logit_rows.len()][vocab]` of the new positions `logit_rows` (indices into `tokens`).
    /// `record` collects cross-attention scores of chosen heads (word alignment). Panics if the
    /// cache would exceed the model's positions (callers bound the length).
    pub fn prefill(
        &self,
        window: &Window,
        cache: &mut KvCache,
        tokens: &[u32],
        logit_rows: &[usize],
        record: Option<&mut AttentionRecord>,
    ) -> Vec<f32> {
        let owners = vec![0; tokens.len()];
        let hidden = self.forward(window, std::slice::from_mut(cache), tokens, &owners, record);
        let d = self.d_model();
        let rows: Vec<f32> = logit_rows
            .iter()
            .flat_map(|&r| hidden[r * d..(r + 1) * d].iter().copied())
            .collect();
        self.logits(&rows)
    }

    /// One new token for each hypothesis (`tokens[i]` after `caches[i]`), as one batch: every
    /// weight matrix is read once for all of them. The logits `[hypotheses][vocab]`.
    pub fn step(&self, window: &Window, caches: &mut [KvCache], tokens: &[u32]) -> Vec<f32> {
        assert_eq!(caches.len(), tokens.len());
        let owners: Vec<usize> = (0..tokens.len()).collect();
        let hidden = self.forward(window, caches, tokens, &owners, None);
        self.logits(&hidden)
    }

    /// The final LayerNorm and the tied output projection of `hidden` rows.
    fn logits(&self, hidden: &[f32]) -> Vec<f32> {
        let rows = hidden.len() / self.d_model();
        let mut normed = vec![0.0f32; hidden.len()];
        layer_norm(
            &mut normed,
            hidden,
            &self.final_norm.gamma,
            &self.final_norm.beta,
        );
        let mut logits = vec![0.0f32; rows * self.vocab];
        matmul_half_par(&mut logits, &normed, &self.tokens, None, rows);
        logits
    }

    /// Token embedding plus learned position, one row per token.
    fn embed(&self, tokens: &[u32], positions: &[usize]) -> Vec<f32> {
        let d = self.d_model();
        let mut x = vec![0.0f32; tokens.len() * d];
        let mut row = vec![0.0f32; d];
        for (i, &t) in tokens.iter().enumerate() {
            self.tokens.row(t as usize, &mut row);
            let pos = &self.positions[positions[i] * d..(positions[i] + 1) * d];
            for ((o, &e), &p) in x[i * d..(i + 1) * d].iter_mut().zip(&row).zip(pos) {
                *o = e + p;
            }
        }
        x
    }

    /// The decoder blocks over `tokens`, row `i` belonging to `caches[owners[i]]` (a
    /// hypothesis' rows consecutive and in order); the hidden states `[rows][d]` before the
    /// final LayerNorm.
    ///
    /// Kept whole: the layer loop reads in the order of OpenAI's `ResidualAttentionBlock`
    /// (self-attention, cross-attention, MLP, each `x += f(ln(x))`), and its scratch buffers
    /// are shared by all three and all layers.
    fn forward(
        &self,
        window: &Window,
        caches: &mut [KvCache],
        tokens: &[u32],
        owners: &[usize],
        mut record: Option<&mut AttentionRecord>,
    ) -> Vec<f32> {
        let d = self.d_model();
        let m = tokens.len();
        // Each row's position: after its hypothesis' cache and its own earlier rows.
        let mut next: Vec<usize> = caches.iter().map(KvCache::len).collect();
        let positions: Vec<usize> = owners
            .iter()
            .map(|&o| {
                next[o] += 1;
                next[o] - 1
            })
            .collect();
        assert!(
            next.iter().all(|&n| n <= self.max_positions),
            "decoder context exceeded"
        );
        let mut x = self.embed(tokens, &positions);
        if let Some(r) = record.as_deref_mut() {
            r.frames = window.cross.first().map_or(0, CrossKv::frames);
        }
        let mut h = vec![0.0f32; m * d];
        let mut qkv = vec![0.0f32; m * 3 * d];
        let mut q = vec![0.0f32; m * d];
        let mut context = vec![0.0f32; m * d];
        let mut projected = vec![0.0f32; m * d];
        let mut scores = Vec::new();
        for (l, (layer, cross)) in self.layers.iter().zip(&window.cross).enumerate() {
            // Causal self-attention: the new rows' K and V join their caches, then each new
            // row attends to its hypothesis' positions up to its own.
            layer_norm(&mut h, &x, &layer.self_norm.gamma, &layer.self_norm.beta);
            matmul_half_par(
                &mut qkv,
                &h,
                &layer.self_qkv.weight,
                Some(&layer.self_qkv.bias),
                m,
            );
            for (i, r) in qkv.chunks_exact(3 * d).enumerate() {
                let (keys, values) = &mut caches[owners[i]].layers[l];
                keys.extend_from_slice(&r[d..2 * d]);
                values.extend_from_slice(&r[2 * d..]);
            }
            // Rows in parallel when there are several (beam search's hypotheses each read
            // their own cache).
            let attend_row = |i: usize, context: &mut [f32], scores: &mut Vec<f32>| {
                let (keys, values) = &caches[owners[i]].layers[l];
                let query = &qkv[i * 3 * d..i * 3 * d + d];
                attend(
                    context,
                    query,
                    keys,
                    values,
                    positions[i] + 1,
                    self.heads,
                    scores,
                );
            };
            if m == 1 {
                attend_row(0, &mut context, &mut scores);
            } else {
                context
                    .par_chunks_mut(d)
                    .enumerate()
                    .for_each_init(Vec::new, |scores, (i, row)| attend_row(i, row, scores));
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
            attend_cross(&mut context, &q, cross);
            if let Some(r) = record.as_deref_mut() {
                for (slot, &(rl, head)) in r.heads.iter().enumerate() {
                    if rl == l {
                        for i in 0..m {
                            r.scores[slot].extend(cross.scores(&q[i * d..(i + 1) * d], head));
                        }
                    }
                }
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
        for (cache, len) in caches.iter_mut().zip(next) {
            cache.len = len;
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reordering_moves_single_uses_and_clones_shared_ones() {
        let cache = |tag: f32| KvCache {
            layers: vec![(vec![tag; 4], vec![tag; 4])],
            len: 1,
        };
        let caches = vec![cache(0.0), cache(1.0), cache(2.0)];
        // Hypothesis 1 forks in two, 0 continues, 2 is dropped.
        let new = reorder(caches, &[1, 0, 1]);
        let tags: Vec<f32> = new.iter().map(|c| c.layers[0].0[0]).collect();
        assert_eq!(tags, [1.0, 0.0, 1.0]);
    }
}
