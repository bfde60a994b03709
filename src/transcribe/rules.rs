//! The logit filters of OpenAI's `whisper/decoding.py` as CTranslate2 applies them for
//! faster-whisper, in their order: `SuppressBlank`, `SuppressTokens`, `ApplyTimestampRules`.
//! Pure functions of the logits and the tokens sampled so far, so each rule is tested on its
//! own.

use crate::kernels::math::log_sum_exp;
use crate::tokenizer::Specials;

/// What the filters need to know about the model's vocabulary.
#[derive(Debug, Clone)]
pub struct Rules {
    pub specials: Specials,
    /// Logits beyond this are not tokens (`vocab`).
    pub vocab: usize,
    /// Suppressed at the first sampled position (`suppress_blank`): " " and end-of-text
    /// (`begin_suppress_tokens`); empty when blank is allowed.
    pub begin_suppress: Vec<u32>,
    /// Always suppressed (`suppress_tokens`, see `suppressed_tokens`).
    pub suppress: Vec<u32>,
    /// The first timestamp may be at most this many steps (1.0 s = 50).
    pub max_initial_timestamp_index: Option<u32>,
    /// Whether the decode has timestamps (the timestamp rules apply); `<|notimestamps|>` in
    /// the prompt turns them off.
    pub timestamps: bool,
}

/// faster-whisper's `get_suppressed_tokens`: the ids asked for, `-1` standing for the model's
/// non-speech symbols (`generation_config.suppress_tokens`), plus the task and start tokens.
/// (OpenAI also suppresses `<|nocaptions|>`; CTranslate2, which faster-whisper runs, does not,
/// and neither do we.)
pub fn suppressed_tokens(asked: &[i64], non_speech: &[u32], specials: &Specials) -> Vec<u32> {
    let mut all: Vec<u32> = asked
        .iter()
        .filter_map(|&t| u32::try_from(t).ok())
        .collect();
    if asked.contains(&-1) {
        all.extend_from_slice(non_speech);
    }
    all.extend([
        specials.transcribe,
        specials.translate,
        specials.sot,
        specials.sot_prev,
        specials.sot_lm,
    ]);
    all.sort_unstable();
    all.dedup();
    all
}

impl Rules {
    #[cfg(test)]
    /// Rules for a vocabulary with faster-whisper's defaults: blank suppressed at the start,
    /// the default suppress list, a 1 s initial timestamp, timestamps on.
    pub fn new(
        specials: Specials,
        vocab: usize,
        begin_suppress: &[u32],
        non_speech: &[u32],
    ) -> Self {
        let suppress = suppressed_tokens(&[-1], non_speech, &specials);
        Rules {
            specials,
            vocab,
            begin_suppress: begin_suppress.to_vec(),
            suppress,
            max_initial_timestamp_index: Some(50),
            timestamps: true,
        }
    }

    /// Apply every filter to `logits` (one position) given the tokens sampled so far in this
    /// segment (the prompt excluded).
    pub fn apply(&self, logits: &mut [f32], sampled: &[u32]) {
        let forbid = |logits: &mut [f32], ids: &[u32]| {
            for &id in ids {
                if let Some(l) = logits.get_mut(id as usize) {
                    *l = f32::NEG_INFINITY;
                }
            }
        };
        // SuppressBlank: no blank or end-of-text as the very first token.
        if sampled.is_empty() {
            forbid(logits, &self.begin_suppress);
        }
        // SuppressTokens.
        forbid(logits, &self.suppress);
        if self.timestamps {
            self.apply_timestamp_rules(logits, sampled);
        }
    }

    fn apply_timestamp_rules(&self, logits: &mut [f32], sampled: &[u32]) {
        let s = &self.specials;
        let begin = s.timestamp_begin as usize;
        let eot = s.eot as usize;
        let vocab = self.vocab.min(logits.len());
        let set = |logits: &mut [f32], range: std::ops::Range<usize>| {
            for l in &mut logits[range.start.min(vocab)..range.end.min(vocab)] {
                *l = f32::NEG_INFINITY;
            }
        };
        set(
            logits,
            s.no_timestamps as usize..s.no_timestamps as usize + 1,
        );
        let is_ts = |t: u32| t >= s.timestamp_begin;
        let n = sampled.len();
        let last_was_timestamp = n >= 1 && is_ts(sampled[n - 1]);
        let penultimate_was_timestamp = n < 2 || is_ts(sampled[n - 2]);
        if last_was_timestamp {
            if penultimate_was_timestamp {
                // Two timestamps in a row close a segment: text must follow.
                set(logits, begin..vocab);
            } else {
                // A timestamp after text: the next is a timestamp or end-of-text.
                set(logits, 0..eot);
            }
        }
        if let Some(&last_ts) = sampled.iter().rev().find(|&&t| is_ts(t)) {
            // Timestamps never decrease, and a segment has non-zero length.
            let last_allowed = if last_was_timestamp && !penultimate_was_timestamp {
                last_ts
            } else {
                last_ts + 1
            };
            set(logits, begin..last_allowed as usize);
        }
        if n == 0 {
            // The first token is a timestamp, at most max_initial_timestamp.
            set(logits, 0..begin);
            if let Some(max) = self.max_initial_timestamp_index {
                set(logits, begin + max as usize + 1..vocab);
            }
        }
        // If the timestamps together are likelier than any one text token, take a timestamp.
        // (OpenAI compares log-probabilities; both sides share the normaliser, so the logits'
        // log-sum-exp over the timestamps against the largest text logit is the same test.)
        let timestamps = log_sum_exp(&logits[begin..vocab]);
        let max_text = crate::kernels::math::max(&logits[..begin]);
        if timestamps > max_text {
            set(logits, 0..begin);
        }
    }
}

/// `log_softmax` of a row (language detection and temperature sampling).
pub fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let log_sum = log_sum_exp(logits);
    logits.iter().map(|&l| l - log_sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // A toy vocabulary: text 0..10, eot 10, sot 11, transcribe 12, translate 13, sot_lm 14,
    // sot_prev 15, no_speech 16, no_timestamps 17, timestamps 18..118 (0.00 ... 1.98 s).
    fn rules() -> Rules {
        let specials = Specials {
            eot: 10,
            sot: 11,
            transcribe: 12,
            translate: 13,
            sot_lm: 14,
            sot_prev: 15,
            no_speech: 16,
            no_timestamps: 17,
            timestamp_begin: 18,
        };
        Rules::new(specials, 118, &[1, 10], &[3])
    }

    fn allowed(rules: &Rules, logits: &[f32], sampled: &[u32]) -> Vec<usize> {
        let mut l = logits.to_vec();
        rules.apply(&mut l, sampled);
        (0..l.len()).filter(|&i| l[i] > f32::NEG_INFINITY).collect()
    }

    #[test]
    fn the_first_token_is_a_timestamp_within_the_first_second() {
        let r = rules();
        let got = allowed(&r, &[0.0; 118], &[]);
        assert_eq!(got, (18..=68).collect::<Vec<_>>());
    }

    #[test]
    fn text_follows_a_pair_of_timestamps_and_blank_is_allowed_after_the_start() {
        let r = rules();
        // A segment [0.00 .. 0.40] just closed: text or end-of-text only (not the suppressed 3,
        // not the specials except no-speech, which faster-whisper's suppression list leaves
        // open, unlike OpenAI's).
        let got = allowed(&r, &[0.0; 118], &[18, 5, 38, 38]);
        assert_eq!(got, vec![0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 16]);
    }

    #[test]
    fn after_text_and_one_timestamp_only_later_timestamps_or_the_end_follow() {
        let r = rules();
        let mut logits = vec![0.0; 118];
        logits[10] = 10.0; // end-of-text likelier than all timestamps together
        let got = allowed(&r, &logits, &[18, 5, 38]);
        // The segment may end at 38 itself (the closing twin) or later, or the text may end.
        let mut want = vec![10, 16];
        want.extend(38..118);
        assert_eq!(got, want);
        // With flat logits the 80 timestamps outweigh end-of-text, which is then forbidden too.
        let got = allowed(&r, &[0.0; 118], &[18, 5, 38]);
        assert_eq!(got, (38..118).collect::<Vec<_>>());
    }

    #[test]
    fn timestamps_never_go_back() {
        let r = rules();
        // After text, the next timestamp is at least one step past the last one.
        let mut logits = vec![0.0; 118];
        logits[5] = 50.0; // text is far likelier than any timestamp
        let got = allowed(&r, &logits, &[18, 5, 40, 40, 6]);
        assert!(got.contains(&5));
        assert!(!got.contains(&40) && got.contains(&41));
        assert!(!(18..40).any(|t| got.contains(&t)));
    }

    #[test]
    fn likely_timestamps_as_a_whole_beat_the_best_text_token() {
        let r = rules();
        let mut logits = vec![0.0; 118];
        logits[5] = 3.0; // the best text token, but 100 timestamps at 0.0 outweigh it
        let got = allowed(&r, &logits, &[18, 5]);
        assert!(got.iter().all(|&t| t >= 18), "{got:?}");
        logits[5] = 10.0;
        assert!(allowed(&r, &logits, &[18, 5]).contains(&5));
    }
}
