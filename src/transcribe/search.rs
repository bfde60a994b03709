//! One window decoded at one temperature by one of three token searches, as CTranslate2 (and so
//! faster-whisper) runs them: `Greedy` (argmax), `Beam` (beam search with patience and a length
//! penalty) and `Sampling` (the best of several samples at a temperature). The logit filters of
//! `rules` apply to every hypothesis; the hypotheses of a window decode as one batch per step.

use rayon::prelude::*;
use std::io::Write;

use super::rules::{Rules, log_softmax};
use crate::CancelToken;
use crate::decoder::{DecoderWeights, KvCache, Window, reorder};
use crate::error::Result;
use crate::kernels::math::log_sum_exp;

/// How tokens are chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Search {
    /// The likeliest token at every step (temperature 0, beam size 1).
    Greedy,
    /// `size` hypotheses; the search ends once `round(size * patience)` have finished.
    Beam { size: usize, patience: f32 },
    /// `best_of` independent samples at `temperature`; the likeliest (by length-normalised
    /// log-probability) is kept.
    Sampling { temperature: f32, best_of: usize },
}

/// The outcome of decoding one window once.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// Sampled tokens, text and timestamps, without the prompt or the final end-of-text.
    pub tokens: Vec<u32>,
    /// Sum of the tokens' log-probabilities, end-of-text included, over (tokens + 1):
    /// faster-whisper's `avg_logprob`.
    pub avg_logprob: f64,
    /// Probability of `<|nocaptions|>` at the start-of-transcript position.
    pub no_speech_prob: f64,
    pub temperature: f32,
    /// Text bytes / zlib-compressed text bytes: high for repetitive loops.
    pub compression_ratio: f64,
    /// Decoder forward passes (token rows through the decoder, prompt included).
    pub forward_tokens: usize,
}

/// A small deterministic generator (SplitMix64) for temperature sampling: runs are repeatable.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What a search needs besides the decoder.
pub struct Context<'a> {
    pub decoder: &'a DecoderWeights,
    pub window: &'a Window,
    pub rules: &'a Rules,
    /// The prompt: start-of-transcript, language, task (and earlier text before them).
    pub prompt: &'a [u32],
    /// Score normalisation: a finished hypothesis ranks by `sum_logprob / len^length_penalty`.
    pub length_penalty: f32,
    pub text_of: &'a (dyn Fn(&[u32]) -> String + Sync),
    /// Checked before every decoder step.
    pub cancel: &'a CancelToken,
}

/// A finished hypothesis: its tokens (no end-of-text) and summed log-probability.
#[derive(Debug, Clone)]
struct Finished {
    tokens: Vec<u32>,
    sum_logprob: f32,
}

impl Context<'_> {
    /// Decode the window once with `search`; `Err` only when cancelled.
    pub fn decode(&self, search: Search, rng: &mut Rng) -> Result<Decoded> {
        self.cancel.check()?;
        let vocab = self.decoder.vocab;
        let sot_index = self
            .prompt
            .iter()
            .position(|&t| t == self.rules.specials.sot)
            .unwrap_or(0);
        let last = self.prompt.len() - 1;
        let mut cache = self.decoder.new_cache();
        let logits = self.decoder.prefill(
            self.window,
            &mut cache,
            self.prompt,
            &[sot_index, last],
            None,
        );
        let no_speech_prob =
            (log_softmax(&logits[..vocab])[self.rules.specials.no_speech as usize] as f64).exp();
        let first = logits[vocab..].to_vec();
        // CTranslate2: at most half the context, and no more than fits after the prompt.
        let max_positions = self.decoder.max_positions;
        let sample_len =
            (max_positions / 2).min(max_positions + 1 - self.prompt.len().min(max_positions));
        let mut run = Run {
            context: self,
            sample_len,
            forward_tokens: self.prompt.len(),
        };
        let (best, temperature) = match search {
            Search::Greedy => (run.greedy(cache, first)?, 0.0),
            Search::Beam { size, patience } => (run.beam(cache, first, size, patience)?, 0.0),
            Search::Sampling {
                temperature,
                best_of,
            } => (
                run.sample(cache, first, temperature, best_of.max(1), rng)?,
                temperature,
            ),
        };
        let text = (self.text_of)(&best.tokens);
        Ok(Decoded {
            avg_logprob: best.sum_logprob as f64 / (best.tokens.len() + 1) as f64,
            no_speech_prob,
            temperature,
            compression_ratio: compression_ratio(text.trim()),
            forward_tokens: run.forward_tokens,
            tokens: best.tokens,
        })
    }

    /// The finished hypothesis that ranks first: the largest `sum / len^length_penalty`
    /// (CTranslate2's `finalize_hypothesis_score`), the earliest on ties.
    fn best(&self, finished: Vec<Finished>) -> Finished {
        let rank = |f: &Finished| {
            let len = f.tokens.len().max(1) as f32;
            f.sum_logprob / len.powf(self.length_penalty)
        };
        let mut best = 0;
        for (i, f) in finished.iter().enumerate() {
            if rank(f) > rank(&finished[best]) {
                best = i;
            }
        }
        finished
            .into_iter()
            .nth(best)
            .expect("a search finishes at least one hypothesis")
    }
}

/// One window's search in progress.
struct Run<'a, 'b> {
    context: &'a Context<'b>,
    sample_len: usize,
    forward_tokens: usize,
}

impl Run<'_, '_> {
    fn eot(&self) -> u32 {
        self.context.rules.specials.eot
    }

    /// One step of `caches.len()` hypotheses: their next logits (unless cancelled).
    fn step(&mut self, caches: &mut [KvCache], tokens: &[u32]) -> Result<Vec<f32>> {
        self.context.cancel.check()?;
        self.forward_tokens += tokens.len();
        Ok(self
            .context
            .decoder
            .step(self.context.window, caches, tokens))
    }

    /// The likeliest token at every step.
    fn greedy(&mut self, cache: KvCache, mut logits: Vec<f32>) -> Result<Finished> {
        let mut caches = vec![cache];
        let mut tokens = Vec::new();
        let mut sum = 0.0f32;
        loop {
            self.context.rules.apply(&mut logits, &tokens);
            let next = argmax(&logits);
            sum += logits[next as usize] - log_sum_exp(&logits);
            if next == self.eot() {
                break;
            }
            tokens.push(next);
            if tokens.len() >= self.sample_len {
                break;
            }
            logits = self.step(&mut caches, &[next])?;
        }
        Ok(Finished {
            tokens,
            sum_logprob: sum,
        })
    }

    /// CTranslate2's `BeamSearch::search` for one batch: the `2 * size` best continuations of
    /// all hypotheses each step; a candidate among the first `size` that ends (end-of-text, or
    /// the last step) is registered as finished and its place taken by the next candidate
    /// beyond the first `size` that does not end; the search stops once
    /// `round(size * patience)` hypotheses have finished (with no length penalty: once the best
    /// hypothesis has finished).
    ///
    /// Kept whole: the beam search step in CTranslate2's order (expand, score, keep, finish), whose
    /// state is the hypotheses it carries.
    fn beam(
        &mut self,
        cache: KvCache,
        first: Vec<f32>,
        size: usize,
        patience: f32,
    ) -> Result<Finished> {
        let vocab = self.context.decoder.vocab;
        let eot = self.eot();
        let max_candidates = ((size as f32) * patience).round().max(1.0) as usize;
        let early_exit = self.context.length_penalty == 0.0;
        let mut beams: Vec<(Vec<u32>, f32)> = vec![(Vec::new(), 0.0)];
        let mut caches = vec![cache];
        let mut logits = first;
        let mut finished: Vec<Finished> = Vec::new();
        let mut top_finished = false;
        for step in 0..self.sample_len {
            let last_step = step + 1 == self.sample_len;
            // Each hypothesis' own best continuations (rows in parallel), then the best of
            // those: the same set as one pass over all rows, ties still broken by index.
            let rows: Vec<TopK> = logits
                .par_chunks_mut(vocab)
                .zip(beams.par_iter())
                .enumerate()
                .map(|(b, (row, (tokens, score)))| {
                    self.context.rules.apply(row, tokens);
                    let lse = log_sum_exp(row);
                    best_continuations(row, *score, lse, b * vocab, 2 * size)
                })
                .collect();
            let mut best = TopK::new(2 * size);
            for (score, flat) in rows.into_iter().flat_map(TopK::into_sorted) {
                best.offer(score, flat);
            }
            let candidates: Vec<(f32, usize, u32)> = best
                .into_sorted()
                .into_iter()
                .map(|(score, flat)| (score, flat / vocab, (flat % vocab) as u32))
                .collect();
            let mut next: Vec<(Vec<u32>, f32)> = Vec::with_capacity(size);
            let mut origins = Vec::with_capacity(size);
            let mut secondary = size;
            for k in 0..size.min(candidates.len()) {
                let (score, b, token) = candidates[k];
                let mut chosen = k;
                if token == eot || last_step {
                    top_finished |= k == 0;
                    let mut tokens = beams[b].0.clone();
                    if token != eot {
                        tokens.push(token);
                    }
                    finished.push(Finished {
                        tokens,
                        sum_logprob: score,
                    });
                    if let Some(j) = (secondary..candidates.len()).find(|&j| candidates[j].2 != eot)
                    {
                        chosen = j;
                        secondary = j + 1;
                    }
                }
                let (score, b, token) = candidates[chosen];
                let mut tokens = beams[b].0.clone();
                tokens.push(token);
                next.push((tokens, score));
                origins.push(b);
            }
            let done = last_step
                || if early_exit {
                    top_finished && !finished.is_empty()
                } else {
                    finished.len() >= max_candidates
                };
            if done || next.is_empty() {
                break;
            }
            caches = reorder(caches, &origins);
            let tokens: Vec<u32> = next
                .iter()
                .map(|(t, _)| *t.last().expect("one token"))
                .collect();
            beams = next;
            logits = self.step(&mut caches, &tokens)?;
        }
        Ok(self.context.best(finished))
    }

    /// `best_of` samples at `temperature`, as one batch; each ends at end-of-text or the
    /// length limit. Scores are the untempered log-probabilities (CTranslate2's sampler).
    fn sample(
        &mut self,
        cache: KvCache,
        first: Vec<f32>,
        temperature: f32,
        best_of: usize,
        rng: &mut Rng,
    ) -> Result<Finished> {
        let vocab = self.context.decoder.vocab;
        let eot = self.eot();
        let mut alive: Vec<(Vec<u32>, f32)> = vec![(Vec::new(), 0.0); best_of];
        let mut caches = vec![cache; best_of];
        let mut logits: Vec<f32> = first.repeat(best_of);
        let mut finished = Vec::new();
        while !alive.is_empty() {
            let mut keep = Vec::new();
            let mut tokens = Vec::new();
            for (h, (sampled, score)) in alive.iter_mut().enumerate() {
                let row = &mut logits[h * vocab..(h + 1) * vocab];
                self.context.rules.apply(row, sampled);
                let next = sample(row, temperature, rng);
                *score += row[next as usize] - log_sum_exp(row);
                if next == eot {
                    finished.push(Finished {
                        tokens: std::mem::take(sampled),
                        sum_logprob: *score,
                    });
                    continue;
                }
                sampled.push(next);
                if sampled.len() >= self.sample_len {
                    finished.push(Finished {
                        tokens: std::mem::take(sampled),
                        sum_logprob: *score,
                    });
                    continue;
                }
                keep.push(h);
                tokens.push(next);
            }
            if keep.is_empty() {
                break;
            }
            alive = keep
                .iter()
                .map(|&h| std::mem::take(&mut alive[h]))
                .collect();
            caches = reorder(caches, &keep);
            logits = self.step(&mut caches, &tokens)?;
        }
        Ok(self.context.best(finished))
    }
}

/// The `k` largest scores with their indices; ties go to the smaller index.
struct TopK {
    k: usize,
    /// Kept sorted best first.
    items: Vec<(f32, usize)>,
}

impl TopK {
    fn new(k: usize) -> Self {
        TopK {
            k,
            items: Vec::with_capacity(k + 1),
        }
    }

    fn offer(&mut self, score: f32, index: usize) {
        if self.items.len() == self.k
            && self
                .items
                .last()
                .is_some_and(|&(worst, at)| score < worst || (score == worst && index > at))
        {
            return;
        }
        let at = self
            .items
            .partition_point(|&(s, i)| s > score || (s == score && i < index));
        self.items.insert(at, (score, index));
        self.items.truncate(self.k);
    }

    fn into_sorted(self) -> Vec<(f32, usize)> {
        self.items
    }
}

/// The `k` best `score + (logit - lse)` of a row (CTranslate2's order of operations: the
/// log-probability, then the hypothesis' score added), indices from `first`, forbidden (`-inf`)
/// logits never among them. Once `k` are held, a logit is compared raw against the bar the
/// worst kept score sets, so most of the 51,865 logits cost one comparison.
fn best_continuations(row: &[f32], score: f32, lse: f32, first: usize, k: usize) -> TopK {
    let mut top = TopK::new(k);
    let mut bar = f32::NEG_INFINITY;
    for (c, chunk) in row.chunks(16).enumerate() {
        // A chunk with nothing at or above the bar is passed over on its maximum (one vector
        // comparison for 16 logits).
        let highest = chunk.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if highest < bar || highest == f32::NEG_INFINITY {
            continue;
        }
        for (i, &l) in chunk.iter().enumerate() {
            // `>=`: an equal score may still win on its (smaller) index against a later
            // holder; `offer` decides. Strictly above -inf: forbidden tokens are never
            // candidates.
            if l >= bar && l > f32::NEG_INFINITY {
                top.offer(score + (l - lse), first + 16 * c + i);
                if let Some(&(worst, _)) = top.items.last().filter(|_| top.items.len() == k) {
                    // The raw logit whose score equals the worst kept one, lowered by a margin
                    // far above the rounding of that sum, so no candidate `offer` would admit
                    // is skipped.
                    let exact = worst - score + lse;
                    bar = exact - 1e-4 * (1.0 + exact.abs() + score.abs() + lse.abs());
                }
            }
        }
    }
    top
}

/// The first index of the largest logit (torch's argmax picks the first on ties).
fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// A token drawn from softmax(logits / temperature).
fn sample(logits: &[f32], temperature: f32, rng: &mut Rng) -> u32 {
    let scaled: Vec<f32> = logits.iter().map(|&l| l / temperature).collect();
    let logprobs = log_softmax(&scaled);
    let mut target = rng.next_f64();
    let mut last_possible = 0;
    for (i, &lp) in logprobs.iter().enumerate() {
        if lp == f32::NEG_INFINITY {
            continue;
        }
        last_possible = i;
        target -= (lp as f64).exp();
        if target < 0.0 {
            return i as u32;
        }
    }
    // Rounding left a sliver of probability: the last allowed token takes it.
    last_possible as u32
}

/// `len(text) / len(zlib.compress(text))` over the UTF-8 bytes, as OpenAI's
/// `get_compression_ratio` (zlib level 6, its default).
pub fn compression_ratio(text: &str) -> f64 {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return 0.0;
    }
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
    encoder.write_all(bytes).expect("writing to memory");
    let compressed = encoder.finish().expect("writing to memory");
    bytes.len() as f64 / compressed.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repetition_compresses_well_and_prose_does_not() {
        let loop_text = "I'm going to go to the store. ".repeat(20);
        assert!(compression_ratio(&loop_text) > 2.4);
        let prose = "And so, my fellow Americans, ask not what your country can do for you; \
                     ask what you can do for your country.";
        assert!(compression_ratio(prose) < 2.0);
        assert_eq!(compression_ratio(""), 0.0);
    }

    #[test]
    fn sampling_follows_the_distribution_and_skips_forbidden_tokens() {
        let mut rng = Rng::new(7);
        // p = [0.5, 0, 0.25, 0.25] through logits ln p; token 1 forbidden.
        let logits = [0.5f32.ln(), f32::NEG_INFINITY, 0.25f32.ln(), 0.25f32.ln()];
        let mut counts = [0usize; 4];
        for _ in 0..20_000 {
            counts[sample(&logits, 1.0, &mut rng) as usize] += 1;
        }
        assert_eq!(counts[1], 0);
        let share = |c: usize| c as f64 / 20_000.0;
        assert!((share(counts[0]) - 0.5).abs() < 0.02, "{counts:?}");
        assert!((share(counts[2]) - 0.25).abs() < 0.02, "{counts:?}");
        assert_eq!(argmax(&logits), 0);
    }

    #[test]
    fn the_fast_row_scan_keeps_what_offering_every_logit_keeps() {
        // Ties, forbidden tokens, and scores where the raw-logit bar is near the kept worst.
        let row: Vec<f32> = (0..5000)
            .map(|i| match i % 7 {
                0 => f32::NEG_INFINITY,
                1 => 3.25,
                _ => ((i * 7919) % 1013) as f32 / 97.0 - 5.0,
            })
            .collect();
        for (score, lse, k) in [(0.0, 0.0, 10), (-3.7, 12.1, 10), (-120.25, 8.5, 3)] {
            let mut all = TopK::new(k);
            for (t, &l) in row.iter().enumerate() {
                if l > f32::NEG_INFINITY {
                    all.offer(score + (l - lse), 100 + t);
                }
            }
            let fast = best_continuations(&row, score, lse, 100, k);
            assert_eq!(fast.into_sorted(), all.into_sorted());
        }
    }

    #[test]
    fn top_k_keeps_the_best_and_breaks_ties_by_index() {
        let mut top = TopK::new(3);
        for (s, i) in [(1.0, 5), (3.0, 1), (2.0, 2), (3.0, 0), (0.5, 9), (2.0, 1)] {
            top.offer(s, i);
        }
        assert_eq!(top.into_sorted(), vec![(3.0, 0), (3.0, 1), (2.0, 1)]);
    }
}
