//! Transcription options with faster-whisper `transcribe()`'s defaults (except previous-text
//! conditioning, off here as in WhisperX), and the temperature fallback's decisions made as
//! faster-whisper's `generate_with_fallback` makes them.

use super::search::Decoded;
use crate::error::{Error, OptionName, Result};

/// `--task`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Speech to text in its own language.
    Transcribe,
    /// Speech to English text.
    Translate,
}

/// Decoding settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DecodingOptions {
    /// A language code (`en`, `de`, ...); `None` detects it on the first 30 s.
    pub language: Option<String>,
    /// Transcribe or translate to English.
    pub task: Task,
    /// Hypotheses of the beam search at temperature 0 (1: greedy).
    pub beam_size: usize,
    /// Samples drawn at each temperature above 0, the likeliest kept.
    pub best_of: usize,
    /// The beam search ends once `beam_size * patience` hypotheses have finished.
    pub patience: f32,
    /// Hypotheses rank by `sum_logprob / length^length_penalty`.
    pub length_penalty: f32,
    /// Tried in order until a decode passes the thresholds.
    pub temperatures: Vec<f32>,
    /// A decode whose text compresses better than this (a loop) is retried hotter.
    pub compression_ratio_threshold: Option<f64>,
    /// A decode whose mean log-probability is below this is retried hotter.
    pub logprob_threshold: Option<f64>,
    /// A window whose no-speech probability is above this (and log-probability below the threshold) is silence.
    pub no_speech_threshold: Option<f64>,
    /// Prompt each window with the text decoded so far (faster-whisper's default; off here: one
    /// bad window can then derail the next, and it made faster-whisper drop two windows of the
    /// long test recording).
    pub condition_on_previous_text: bool,
    /// The previous text is forgotten after a window decoded above this temperature.
    pub prompt_reset_on_temperature: f32,
    /// Text put before the first window (spellings, names, style).
    pub initial_prompt: Option<String>,
    /// Words to prefer, in every window's prompt.
    pub hotwords: Option<String>,
    /// Token ids never sampled; `-1` stands for the model's non-speech symbols.
    pub suppress_tokens: Vec<i64>,
    /// No blank or end-of-text as a window's first token.
    pub suppress_blank: bool,
    /// Decode text only (`<|notimestamps|>`): one segment per window.
    pub without_timestamps: bool,
    /// The first timestamp of a window is at most this many seconds.
    pub max_initial_timestamp: f64,
    /// Word-level timestamps from the alignment heads' cross-attention.
    pub word_timestamps: bool,
    /// Punctuation merged into the next word (word timestamps).
    pub prepend_punctuations: String,
    /// Punctuation merged into the previous word (word timestamps).
    pub append_punctuations: String,
}

impl Default for DecodingOptions {
    fn default() -> Self {
        DecodingOptions {
            language: None,
            task: Task::Transcribe,
            beam_size: 5,
            best_of: 5,
            patience: 1.0,
            length_penalty: 1.0,
            temperatures: vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
            compression_ratio_threshold: Some(2.4),
            logprob_threshold: Some(-1.0),
            no_speech_threshold: Some(0.6),
            condition_on_previous_text: false,
            prompt_reset_on_temperature: 0.5,
            initial_prompt: None,
            hotwords: None,
            suppress_tokens: vec![-1],
            suppress_blank: true,
            without_timestamps: false,
            max_initial_timestamp: 1.0,
            word_timestamps: false,
            prepend_punctuations: super::words::PREPEND_PUNCTUATIONS.into(),
            append_punctuations: super::words::APPEND_PUNCTUATIONS.into(),
        }
    }
}

impl DecodingOptions {
    /// Check what can be checked without a model: a language code Whisper knows, at least one
    /// beam and one sample, a positive patience, a finite length penalty, temperatures of 0 or
    /// more. ([`Transcriber::new`](crate::Transcriber::new) checks these and, against the
    /// model, whether it knows the language and can translate.)
    pub fn check(&self) -> Result<()> {
        if let Some(code) = &self.language
            && super::languages::language_name(code).is_none()
        {
            return Err(Error::option(
                OptionName::Language,
                code,
                "Whisper knows no such language (codes such as en, de, fr, es, zh, ja)",
            ));
        }
        if self.beam_size == 0 {
            return Err(Error::option(OptionName::BeamSize, 0, "must be at least 1"));
        }
        if self.best_of == 0 {
            return Err(Error::option(OptionName::BestOf, 0, "must be at least 1"));
        }
        if !(self.patience.is_finite() && self.patience > 0.0) {
            return Err(Error::option(
                OptionName::Patience,
                self.patience,
                "must be above 0",
            ));
        }
        if !self.length_penalty.is_finite() {
            return Err(Error::option(
                OptionName::LengthPenalty,
                self.length_penalty,
                "must be a number",
            ));
        }
        if let Some(bad) = self.temperatures.iter().find(|t| t.is_nan() || **t < 0.0) {
            return Err(Error::option(
                OptionName::Temperature,
                bad,
                "must be 0 or more",
            ));
        }
        if self.temperatures.is_empty() {
            return Err(Error::option(
                OptionName::Temperature,
                "",
                "needs at least one value",
            ));
        }
        Ok(())
    }

    /// Whether a decode at this temperature is retried at the next one: a repetition loop or
    /// an improbable decode, unless the window is silence (no speech likely and improbable).
    pub fn needs_fallback(&self, d: &Decoded) -> bool {
        let looping = self
            .compression_ratio_threshold
            .is_some_and(|t| d.compression_ratio > t);
        let improbable = self.logprob_threshold.is_some_and(|t| d.avg_logprob < t);
        let silence = self
            .no_speech_threshold
            .is_some_and(|t| d.no_speech_prob > t)
            && improbable;
        (looping || improbable) && !silence
    }

    /// The decode to keep: the last attempt if it passed; when every temperature failed, the
    /// most probable attempt that is not a repetition loop (or the most probable of all), the
    /// first on ties, reported at the last temperature tried (which decides the prompt reset).
    pub fn choose(&self, mut attempts: Vec<Decoded>) -> Decoded {
        let last = attempts.last().expect("at least one temperature").clone();
        if !self.needs_fallback(&last) {
            return last;
        }
        let not_looping: Vec<usize> = (0..attempts.len())
            .filter(|&i| {
                !self
                    .compression_ratio_threshold
                    .is_some_and(|t| attempts[i].compression_ratio > t)
            })
            .collect();
        let pool: Vec<usize> = if not_looping.is_empty() {
            (0..attempts.len()).collect()
        } else {
            not_looping
        };
        let mut best = pool[0];
        for &i in &pool[1..] {
            if attempts[i].avg_logprob > attempts[best].avg_logprob {
                best = i;
            }
        }
        let mut chosen = attempts.swap_remove(best);
        chosen.temperature = last.temperature;
        chosen
    }

    /// Skipped as silence: no speech likely, and the decode not confident.
    pub fn is_silent(&self, d: &Decoded) -> bool {
        let Some(threshold) = self.no_speech_threshold else {
            return false;
        };
        d.no_speech_prob > threshold && !self.logprob_threshold.is_some_and(|t| d.avg_logprob > t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(avg_logprob: f64, compression_ratio: f64, no_speech_prob: f64) -> Decoded {
        Decoded {
            tokens: vec![],
            avg_logprob,
            no_speech_prob,
            temperature: 0.0,
            compression_ratio,
            forward_tokens: 1,
        }
    }

    #[test]
    fn loops_and_improbable_decodes_fall_back_unless_the_window_is_silence() {
        let o = DecodingOptions::default();
        assert!(!o.needs_fallback(&decoded(-0.3, 1.5, 0.01)));
        assert!(
            o.needs_fallback(&decoded(-0.3, 3.1, 0.01)),
            "repetition loop"
        );
        assert!(o.needs_fallback(&decoded(-1.4, 1.5, 0.01)), "improbable");
        assert!(
            !o.needs_fallback(&decoded(-1.4, 1.5, 0.9)),
            "silence: no retry"
        );
        // faster-whisper: a confident loop in a window with no speech likely is still retried.
        assert!(o.needs_fallback(&decoded(-0.3, 3.1, 0.9)));
        assert!(o.is_silent(&decoded(-1.4, 1.5, 0.9)));
        assert!(
            !o.is_silent(&decoded(-0.2, 1.5, 0.9)),
            "confident text is kept"
        );
        let greedy_only = DecodingOptions {
            compression_ratio_threshold: None,
            logprob_threshold: None,
            ..DecodingOptions::default()
        };
        assert!(!greedy_only.needs_fallback(&decoded(-3.0, 5.0, 0.0)));
    }

    #[test]
    fn when_every_temperature_fails_the_most_probable_non_loop_is_kept() {
        let o = DecodingOptions::default();
        let mut attempts = vec![
            decoded(-1.2, 1.5, 0.0),
            decoded(-0.5, 3.0, 0.0), // likelier, but a repetition loop
            decoded(-4.0, 1.1, 0.0), // the temperature-1.0 sample
        ];
        for (i, a) in attempts.iter_mut().enumerate() {
            a.temperature = i as f32 * 0.5;
        }
        let chosen = o.choose(attempts.clone());
        assert_eq!(chosen.avg_logprob, -1.2);
        assert_eq!(chosen.temperature, 1.0, "reported at the last temperature");
        // A passing last attempt is kept as it is.
        attempts.push(decoded(-0.2, 1.3, 0.0));
        assert_eq!(o.choose(attempts).avg_logprob, -0.2);
        // Only loops: the likeliest loop; ties go to the first.
        let loops = vec![decoded(-0.9, 3.0, 0.0), decoded(-0.4, 2.9, 0.0)];
        assert_eq!(o.choose(loops).avg_logprob, -0.4);
        let mut ties = vec![decoded(-1.5, 1.0, 0.0), decoded(-1.5, 1.0, 0.0)];
        ties[1].tokens = vec![7];
        assert!(o.choose(ties).tokens.is_empty());
    }
}
