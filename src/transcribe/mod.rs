//! Transcription as OpenAI's `whisper.transcribe` does it: the whole recording's log-mel, a
//! 30 s segment at the seek position encoded (on any device) and decoded with timestamps, the
//! seek advanced to the last complete timestamp, and a temperature fallback when a decode looks
//! like a repetition loop or is improbable. Each segment is decoded without the previous
//! segment's text as a prompt: conditioning on it is known to make Whisper skip whole windows
//! of long files, and `tests/transcribe.rs` checks that no window's speech is lost.

pub mod decode;
pub mod format;
pub mod rules;
mod segments;
mod sound;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::decoder::{DecoderState, DecoderWeights};
use crate::error::{Error, Result};
use crate::mel::{HOP_LENGTH, WINDOW_FRAMES, WholeMel};
use crate::tokenizer::{TIMESTAMP_SECONDS, Tokenizer};
use decode::{Decoded, Rng, decode_segment};
use rules::Rules;
use segments::split_by_timestamps;

/// The fields of a Hugging Face `generation_config.json` that decoding uses.
#[derive(Debug, Clone, Deserialize)]
pub struct GenerationConfig {
    #[serde(default)]
    pub begin_suppress_tokens: Vec<u32>,
    #[serde(default)]
    pub suppress_tokens: Vec<u32>,
    #[serde(default)]
    pub is_multilingual: bool,
    /// `<|en|>` -> 50259, ...
    #[serde(default)]
    pub lang_to_id: BTreeMap<String, u32>,
}

impl GenerationConfig {
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadInput {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text)
            .map_err(|e| Error::model(path, format!("not a Whisper generation_config.json: {e}")))
    }
}

/// `--task`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    Transcribe,
    Translate,
}

/// Decoding settings; the defaults are OpenAI's `transcribe()` defaults.
#[derive(Debug, Clone)]
pub struct Options {
    /// A language code (`en`, `de`, ...); `None` detects it on the first 30 s.
    pub language: Option<String>,
    pub task: Task,
    /// Tried in order until a decode passes the thresholds.
    pub temperatures: Vec<f32>,
    pub compression_ratio_threshold: Option<f64>,
    pub logprob_threshold: Option<f64>,
    pub no_speech_threshold: Option<f64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            language: None,
            task: Task::Transcribe,
            temperatures: vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
            compression_ratio_threshold: Some(2.4),
            logprob_threshold: Some(-1.0),
            no_speech_threshold: Some(0.6),
        }
    }
}

impl Options {
    /// OpenAI's fallback test: a repetition loop or an improbable decode, unless the window is
    /// silence anyway.
    pub fn needs_fallback(&self, d: &Decoded) -> bool {
        let looping = self
            .compression_ratio_threshold
            .is_some_and(|t| d.compression_ratio > t);
        let improbable = self.logprob_threshold.is_some_and(|t| d.avg_logprob < t);
        let silent = self
            .no_speech_threshold
            .is_some_and(|t| d.no_speech_prob > t);
        (looping || improbable) && !silent
    }

    /// The decode to keep: the last attempt if it passed; when every temperature failed, the
    /// most probable attempt that is not a repetition loop (faster-whisper's choice; OpenAI's
    /// reference keeps the temperature-1.0 sample, which on a hard window is often nonsense).
    pub fn choose(&self, mut attempts: Vec<Decoded>) -> Decoded {
        let last = attempts.pop().expect("at least one temperature");
        if !self.needs_fallback(&last) {
            return last;
        }
        attempts.push(last);
        let not_looping = |d: &&Decoded| {
            !self
                .compression_ratio_threshold
                .is_some_and(|t| d.compression_ratio > t)
        };
        let best = |candidates: Vec<&Decoded>| {
            candidates
                .into_iter()
                .max_by(|a, b| a.avg_logprob.total_cmp(&b.avg_logprob))
                .cloned()
        };
        best(attempts.iter().filter(not_looping).collect())
            .or_else(|| best(attempts.iter().collect()))
            .expect("at least one attempt")
    }

    /// Skipped as silence: no-speech likely and the decode not confident.
    pub fn is_silent(&self, d: &Decoded) -> bool {
        let Some(threshold) = self.no_speech_threshold else {
            return false;
        };
        d.no_speech_prob > threshold && !self.logprob_threshold.is_some_and(|t| d.avg_logprob > t)
    }
}

/// One timed piece of the transcript.
#[derive(Debug, Clone, Serialize)]
pub struct Segment {
    pub id: usize,
    /// The mel frame (10 ms) where the decoded 30 s segment began.
    pub seek: usize,
    pub start: f64,
    pub end: f64,
    pub text: String,
    pub tokens: Vec<u32>,
    pub temperature: f32,
    pub avg_logprob: f64,
    pub compression_ratio: f64,
    pub no_speech_prob: f64,
}

/// A finished transcription with its timings.
#[derive(Debug, Clone, Serialize)]
pub struct Transcript {
    pub language: Option<String>,
    /// Probability of the detected language (absent when it was given).
    pub language_probability: Option<f64>,
    pub segments: Vec<Segment>,
    /// 30 s segments encoded and decoded.
    pub windows: usize,
    /// Windows called silence (no-speech probability above the threshold).
    pub windows_silent: usize,
    /// Of those, windows that ended in sound and were re-read from its onset instead of
    /// skipped (`sound::reread_from`).
    pub windows_reread: usize,
    /// Decodes repeated at a higher temperature.
    pub fallbacks: usize,
    pub encoder_ms: f64,
    pub decoder_ms: f64,
    /// Tokens run through the decoder (prompts and every temperature's attempt included).
    pub decoder_tokens: usize,
}

impl Transcript {
    /// The whole text, segments joined as Whisper does (each begins with its own space).
    pub fn text(&self) -> String {
        self.segments
            .iter()
            .map(|s| s.text.as_str())
            .collect::<String>()
    }
}

/// Everything decoding needs from a model directory.
pub struct Transcriber<'a> {
    pub decoder: &'a DecoderWeights,
    pub tokenizer: &'a Tokenizer,
    pub generation: &'a GenerationConfig,
    pub options: Options,
}

impl Transcriber<'_> {
    /// The prompt's language token, checked against the model (and the options' language).
    fn language_token(&self, code: &str) -> Result<u32> {
        let token = format!("<|{code}|>");
        self.generation
            .lang_to_id
            .get(&token)
            .copied()
            .or_else(|| self.tokenizer.special(&token))
            .ok_or_else(|| {
                Error::Usage(format!(
                    "--language {code}: the model knows no such language (codes such as en, de, fr, es, zh, ja)"
                ))
            })
    }

    /// Check options against the model before any work.
    pub fn check(&self) -> Result<()> {
        if !self.generation.is_multilingual {
            if self.options.task == Task::Translate {
                return Err(Error::Usage(
                    "--task translate needs a multilingual model; this one is English-only".into(),
                ));
            }
            if let Some(code) = &self.options.language
                && code != "en"
            {
                return Err(Error::Usage(format!(
                    "--language {code}: this model is English-only"
                )));
            }
        } else if let Some(code) = &self.options.language {
            self.language_token(code)?;
        }
        Ok(())
    }

    /// Most probable language of the window `state` was started on: (code, probability).
    fn detect_language(&self, state: &mut DecoderState) -> (String, f64) {
        state.rewind();
        let logits = self
            .decoder
            .step(state, &[self.tokenizer.specials.sot], false);
        let languages: Vec<(&String, u32)> = self
            .generation
            .lang_to_id
            .iter()
            .map(|(k, &v)| (k, v))
            .collect();
        let chosen: Vec<f32> = languages
            .iter()
            .map(|(_, id)| logits[*id as usize])
            .collect();
        let logprobs = rules::log_softmax(&chosen);
        let (best, lp) =
            logprobs
                .iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |acc, (i, &lp)| {
                    if lp > acc.1 { (i, lp) } else { acc }
                });
        let code = languages[best]
            .0
            .trim_start_matches("<|")
            .trim_end_matches("|>");
        (code.to_string(), (lp as f64).exp())
    }

    /// Transcribe a whole recording. `encode` runs the encoder on one `[n_mels][3000]` window;
    /// `progress` hears the seek position and the content length (mel frames) after each window.
    pub fn run(
        &self,
        mel: &WholeMel,
        encode: &mut dyn FnMut(&[f32]) -> Result<Vec<f32>>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Transcript> {
        self.check()?;
        let specials = &self.tokenizer.specials;
        let rules = Rules::new(
            specials.clone(),
            self.decoder.vocab,
            &self.generation.begin_suppress_tokens,
            &self.generation.suppress_tokens,
        );
        let text_of = |tokens: &[u32]| self.tokenizer.decode(tokens);
        let mut transcript = Transcript {
            language: None,
            language_probability: None,
            segments: Vec::new(),
            windows: 0,
            windows_silent: 0,
            windows_reread: 0,
            fallbacks: 0,
            encoder_ms: 0.0,
            decoder_ms: 0.0,
            decoder_tokens: 0,
        };
        let content_frames = mel.content_frames();
        let n_mels = mel.n_mels();
        let mut window = vec![0.0f32; n_mels * WINDOW_FRAMES];
        let mut encode_at = |seek: usize, transcript: &mut Transcript| -> Result<Vec<f32>> {
            mel.segment(seek, &mut window);
            let started = Instant::now();
            let out = encode(&window)?;
            transcript.encoder_ms += started.elapsed().as_secs_f64() * 1e3;
            Ok(out)
        };
        // The prompt: start-of-transcript, then language and task on multilingual models.
        let mut prompt = vec![specials.sot];
        // The first window's decoder state, when language detection already prepared it.
        let mut first_window = None;
        if self.generation.is_multilingual {
            let code = match &self.options.language {
                Some(code) => code.clone(),
                None => {
                    let encoded = encode_at(0, &mut transcript)?;
                    let started = Instant::now();
                    let mut state = self.decoder.start(&encoded);
                    let (code, probability) = self.detect_language(&mut state);
                    transcript.decoder_ms += started.elapsed().as_secs_f64() * 1e3;
                    transcript.decoder_tokens += 1;
                    transcript.language_probability = Some(probability);
                    first_window = Some(state);
                    code
                }
            };
            prompt.push(self.language_token(&code)?);
            prompt.push(match self.options.task {
                Task::Transcribe => specials.transcribe,
                Task::Translate => specials.translate,
            });
            transcript.language = Some(code);
        } else {
            transcript.language = Some("en".into());
        }
        let sample_len = self.decoder.max_positions / 2;
        let seconds_per_frame = HOP_LENGTH as f64 / crate::audio::SAMPLE_RATE as f64;
        let duration = ((content_frames as f64 * seconds_per_frame) * 1e3).round() / 1e3;
        let mut seek = 0;
        while seek < content_frames {
            crate::interrupt::check()?;
            let segment_frames = WINDOW_FRAMES.min(content_frames - seek);
            let time_offset = seek as f64 * seconds_per_frame;
            transcript.windows += 1;
            let mut state = match first_window.take().filter(|_| seek == 0) {
                Some(state) => state,
                None => {
                    let encoded = encode_at(seek, &mut transcript)?;
                    let started = Instant::now();
                    let state = self.decoder.start(&encoded);
                    let ms = started.elapsed().as_secs_f64() * 1e3;
                    tracing::debug!("cross-attention K/V of the window at {seek}: {ms:.1} ms");
                    transcript.decoder_ms += ms;
                    state
                }
            };
            let started = Instant::now();
            // A fixed seed per segment keeps runs repeatable.
            let mut rng = Rng::new(seek as u64 ^ 0x5EED);
            // On a pool thread: the decoder's small parallel products then start on the thread
            // that runs them, instead of being injected into the pool from outside and waited
            // for, dozens of times per token.
            let attempts = rayon::scope(|_| {
                let mut attempts: Vec<Decoded> = Vec::new();
                for &temperature in &self.options.temperatures {
                    let attempt = decode_segment(
                        self.decoder,
                        &mut state,
                        &rules,
                        &text_of,
                        &prompt,
                        sample_len,
                        temperature,
                        &mut rng,
                    );
                    let done = !self.options.needs_fallback(&attempt);
                    attempts.push(attempt);
                    if done {
                        break;
                    }
                }
                attempts
            });
            transcript.fallbacks += attempts.len() - 1;
            let ms = started.elapsed().as_secs_f64() * 1e3;
            let steps: usize = attempts.iter().map(|a| a.forward_tokens).sum();
            transcript.decoder_tokens += steps;
            tracing::debug!(
                "decoded the window at {seek}: {steps} tokens in {ms:.1} ms ({:.2} ms/token)",
                ms / steps.max(1) as f64
            );
            transcript.decoder_ms += ms;
            let result = self.options.choose(attempts);
            if self.options.is_silent(&result) {
                transcript.windows_silent += 1;
                seek = match sound::reread_from(|t| mel.frame_level(t), seek, segment_frames) {
                    Some(from) => {
                        tracing::debug!(
                            "window at {seek} called silent but ends in sound: re-read from {from}"
                        );
                        transcript.windows_reread += 1;
                        from
                    }
                    None => seek + segment_frames,
                };
                progress(seek.min(content_frames), content_frames);
                continue;
            }
            let (pieces, advance) =
                split_by_timestamps(&result.tokens, specials.timestamp_begin, segment_frames);
            for (start_pos, end_pos, tokens) in pieces {
                let text = self.tokenizer.decode(&tokens);
                // Whole milliseconds: the sums of 10 ms and 20 ms steps are not exact in binary.
                let seconds =
                    |pos: u32| ((time_offset + pos as f64 * TIMESTAMP_SECONDS) * 1e3).round() / 1e3;
                // A timestamp may point past the end of the audio (into the padding): cut there.
                let (start, end) = (
                    seconds(start_pos).min(duration),
                    seconds(end_pos).min(duration),
                );
                // OpenAI clears instantaneous or empty segments; we leave them out.
                if start == end || text.trim().is_empty() {
                    continue;
                }
                transcript.segments.push(Segment {
                    id: transcript.segments.len(),
                    seek,
                    start,
                    end,
                    text,
                    tokens,
                    temperature: result.temperature,
                    avg_logprob: result.avg_logprob,
                    compression_ratio: result.compression_ratio,
                    no_speech_prob: result.no_speech_prob,
                });
            }
            seek += advance;
            progress(seek.min(content_frames), content_frames);
        }
        Ok(transcript)
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
        let o = Options::default();
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
        assert!(o.is_silent(&decoded(-1.4, 1.5, 0.9)));
        assert!(
            !o.is_silent(&decoded(-0.2, 1.5, 0.9)),
            "confident text is kept"
        );
        let greedy_only = Options {
            compression_ratio_threshold: None,
            logprob_threshold: None,
            ..Options::default()
        };
        assert!(!greedy_only.needs_fallback(&decoded(-3.0, 5.0, 0.0)));
    }

    #[test]
    fn when_every_temperature_fails_the_most_probable_non_loop_is_kept() {
        let o = Options::default();
        let mut attempts = vec![
            decoded(-1.2, 1.5, 0.0),
            decoded(-0.5, 3.0, 0.0), // likelier, but a repetition loop
            decoded(-4.0, 1.1, 0.0), // the temperature-1.0 sample
        ];
        for (i, a) in attempts.iter_mut().enumerate() {
            a.temperature = i as f32 * 0.5;
        }
        assert_eq!(o.choose(attempts.clone()).temperature, 0.0);
        // A passing last attempt is kept as it is.
        attempts.push(decoded(-0.2, 1.3, 0.0));
        assert_eq!(o.choose(attempts).avg_logprob, -0.2);
        // Only loops: the likeliest loop.
        let loops = vec![decoded(-0.9, 3.0, 0.0), decoded(-0.4, 2.9, 0.0)];
        assert_eq!(o.choose(loops).avg_logprob, -0.4);
    }
}
