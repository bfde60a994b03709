//! One 30 s segment decoded at one temperature: greedy (argmax) at 0, sampling above, with the
//! logit filters of `rules`, and the figures the fallback decides on (OpenAI's `DecodingResult`).

use std::io::Write;

use super::rules::{Rules, log_softmax, log_sum_exp};
use crate::decoder::{DecoderState, DecoderWeights};

/// The outcome of decoding one segment once.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// Sampled tokens, text and timestamps, without the prompt or the final end-of-text.
    pub tokens: Vec<u32>,
    /// Sum of the sampled tokens' log-probabilities (end-of-text included) / (tokens + 1).
    pub avg_logprob: f64,
    /// Probability of `<|nocaptions|>` at the start-of-transcript position.
    pub no_speech_prob: f64,
    pub temperature: f32,
    /// Text bytes / zlib-compressed text bytes: high for repetitive loops.
    pub compression_ratio: f64,
    /// Decoder forward passes (tokens through the decoder, prompt included).
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

/// Decode one segment from a fresh cache: `prompt` (start-of-transcript, language, task) then
/// up to `sample_len` tokens.
#[allow(clippy::too_many_arguments)]
pub fn decode_segment(
    decoder: &DecoderWeights,
    state: &mut DecoderState,
    rules: &Rules,
    text_of: &dyn Fn(&[u32]) -> String,
    prompt: &[u32],
    sample_len: usize,
    temperature: f32,
    rng: &mut Rng,
) -> Decoded {
    state.rewind();
    let vocab = decoder.vocab;
    let eot = rules.specials.eot;
    let sot_index = prompt
        .iter()
        .position(|&t| t == rules.specials.sot)
        .unwrap_or(0);
    let all = decoder.step(state, prompt, true);
    let sot_logits = &all[sot_index * vocab..(sot_index + 1) * vocab];
    let no_speech_prob = (log_softmax(sot_logits)[rules.specials.no_speech as usize] as f64).exp();
    let mut logits = all[(prompt.len() - 1) * vocab..].to_vec();
    let mut tokens: Vec<u32> = Vec::new();
    let mut sum_logprob = 0.0f64;
    let mut forward_tokens = prompt.len();
    let room = decoder.max_positions - prompt.len();
    loop {
        rules.apply(&mut logits, &tokens);
        let next = if temperature == 0.0 {
            argmax(&logits)
        } else {
            sample(&logits, temperature, rng)
        };
        sum_logprob += (logits[next as usize] - log_sum_exp(&logits)) as f64;
        if next == eot {
            break;
        }
        tokens.push(next);
        if tokens.len() >= sample_len.min(room) {
            break;
        }
        logits = decoder.step(state, &[next], false);
        forward_tokens += 1;
    }
    let text = text_of(&tokens);
    Decoded {
        avg_logprob: sum_logprob / (tokens.len() + 1) as f64,
        no_speech_prob,
        temperature,
        compression_ratio: compression_ratio(&text),
        tokens,
        forward_tokens,
    }
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
}
