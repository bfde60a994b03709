//! Transcription as faster-whisper's `transcribe` does it (OpenAI's algorithm, run by
//! CTranslate2): the whole recording's log-mel, a 30 s window at the seek position encoded (on
//! any device) and decoded with timestamps by beam search (or greedily, or by sampling), with a
//! temperature fallback when a decode looks like a repetition loop or is improbable; the
//! decode cut into segments at its timestamps (and words, with `word_timestamps`), and the seek
//! advanced to the last complete one.
//!
//! `Decoding::run` is the seek loop; it asks `detect_language` for the prompt's language,
//! `decode_window` for each window's tokens (`search`, `rules`, the fallback of `options`), and
//! `emit` for its segments. Where we differ from faster-whisper on purpose: previous-text
//! conditioning is off by default, and a window called silent that ends in sound is re-read
//! from that sound instead of skipped (`sound`).

pub mod align;
pub mod format;
mod languages;
pub mod options;
pub mod prompt;
pub mod rules;
pub mod search;
mod segments;
mod sound;
mod speech;
pub mod words;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::CancelToken;
use crate::decoder::{DecoderWeights, Window};
use crate::error::{Error, OptionName, Result};
use crate::mel::{HOP_LENGTH, WINDOW_FRAMES, WholeMel};
use crate::tokenizer::{TIMESTAMP_SECONDS, Tokenizer};
pub use languages::language_name;
pub use options::{DecodingOptions, Task};
use rules::{Rules, suppressed_tokens};
use search::{Context, Decoded, Rng, Search};
use segments::split_by_timestamps;
pub use speech::{SpeechSpan, restore_segment_times, restore_speech_times};
pub use words::Word;
use words::{Piece, WindowWords, add_word_timestamps, last_end};

/// The fields of a Hugging Face `generation_config.json` that decoding uses.
#[derive(Debug, Clone, Deserialize)]
pub struct GenerationConfig {
    #[serde(default)]
    pub begin_suppress_tokens: Vec<u32>,
    /// The model's non-speech symbols (what `-1` in `--suppress-tokens` stands for).
    #[serde(default)]
    pub suppress_tokens: Vec<u32>,
    #[serde(default)]
    pub is_multilingual: bool,
    /// `<|en|>` -> 50259, ...
    #[serde(default)]
    pub lang_to_id: BTreeMap<String, u32>,
    /// (decoder layer, head) pairs whose cross-attention follows the audio (word timestamps).
    #[serde(default)]
    pub alignment_heads: Vec<(usize, usize)>,
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

/// One timed piece of the transcript.
#[derive(Debug, Clone, Serialize)]
pub struct Segment {
    /// Index in the transcript.
    pub id: usize,
    /// The mel frame (10 ms) where the decoded 30 s segment began.
    pub seek: usize,
    /// Start (seconds).
    pub start: f64,
    /// End (seconds).
    pub end: f64,
    /// The text, beginning with a space as Whisper writes it.
    pub text: String,
    /// The decoded token ids.
    pub tokens: Vec<u32>,
    /// The temperature of the decode that was kept.
    pub temperature: f32,
    /// Mean log-probability of its tokens.
    pub avg_logprob: f64,
    /// gzip compression ratio of its text (high: a repetition loop).
    pub compression_ratio: f64,
    /// Probability that the window had no speech.
    pub no_speech_prob: f64,
    /// With word timestamps: the segment's words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub words: Option<Vec<Word>>,
}

/// A finished transcription with its timings.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Transcript {
    /// The language code (`en`, `de`, ...), given or detected.
    pub language: Option<String>,
    /// Probability of the detected language (absent when it was given).
    pub language_probability: Option<f64>,
    /// The timed segments.
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
    /// The whole recording's log-mel (not in the JSON document: `timings_ms` has it).
    #[serde(skip)]
    pub mel_ms: f64,
    /// Voice activity detection, when it ran (not in the JSON document).
    #[serde(skip)]
    pub vad_ms: Option<f64>,
    /// Time in the encoder, every window.
    pub encoder_ms: f64,
    /// Time in the decoder, every window and temperature.
    pub decoder_ms: f64,
    /// Token rows run through the decoder (prompts, every hypothesis and every temperature's
    /// attempt included).
    pub decoder_tokens: usize,
    /// With voice activity detection: the stretches of the recording that were transcribed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speech: Option<Vec<SpeechSpan>>,
    /// Where the encoder's ops ran, how often and how long (the JSON document has the
    /// placement summary instead).
    #[serde(skip)]
    pub ledger: Vec<crate::exec::LedgerEntry>,
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
pub struct Decoding<'a> {
    pub decoder: &'a DecoderWeights,
    pub tokenizer: &'a Tokenizer,
    pub generation: &'a GenerationConfig,
    pub options: DecodingOptions,
}

/// What the caller of [`Decoding::run`] hears as it goes, and the token that stops it.
pub struct RunHooks<'a> {
    /// The seek position and the content length (mel frames), after each window.
    pub progress: &'a mut dyn FnMut(usize, usize),
    /// Each segment as it is cut (times on the decoded audio's clock).
    pub segment: &'a mut dyn FnMut(&Segment),
    /// Checked before each window and each decoder step.
    pub cancel: &'a CancelToken,
}

/// The state the seek loop carries from window to window.
struct Progress {
    seek: usize,
    /// Text tokens of the emitted segments (and the initial prompt): the previous text.
    all_tokens: Vec<u32>,
    /// `all_tokens[prompt_reset_since..]` is what the next window is conditioned on.
    prompt_reset_since: usize,
    /// End of the last word heard (seconds; word timestamps only).
    last_speech: f64,
}

/// What `emit` needs to know about the window it cuts.
struct WindowAt<'a> {
    window: &'a Window,
    seek: usize,
    /// Mel frames of the window that hold audio.
    frames: usize,
    /// The start-of-transcript sequence (word alignment is forced through after it).
    sot_sequence: &'a [u32],
    language: &'a str,
}

impl Decoding<'_> {
    /// The prompt's language token, checked against the model (and the options' language).
    fn language_token(&self, code: &str) -> Result<u32> {
        let token = format!("<|{code}|>");
        self.generation
            .lang_to_id
            .get(&token)
            .copied()
            .or_else(|| self.tokenizer.special(&token))
            .ok_or_else(|| {
                Error::option(
                    OptionName::Language,
                    code,
                    "the model knows no such language (codes such as en, de, fr, es, zh, ja)",
                )
            })
    }

    /// Check options against the model before any work.
    pub fn check(&self) -> Result<()> {
        let o = &self.options;
        o.check()?;
        if !self.generation.is_multilingual {
            if o.task == Task::Translate {
                return Err(Error::option(
                    OptionName::Task,
                    "translate",
                    "translation needs a multilingual model; this one is English-only",
                ));
            }
            if let Some(code) = &o.language
                && code != "en"
            {
                return Err(Error::option(
                    OptionName::Language,
                    code,
                    "this model is English-only",
                ));
            }
        } else if let Some(code) = &o.language {
            self.language_token(code)?;
        }
        if o.word_timestamps && self.generation.alignment_heads.is_empty() {
            return Err(Error::option(
                OptionName::WordTimestamps,
                true,
                "needs the model's alignment heads (alignment_heads in generation_config.json); this model has none",
            ));
        }
        for (option, prompt) in [
            (OptionName::InitialPrompt, &o.initial_prompt),
            (OptionName::Hotwords, &o.hotwords),
        ] {
            if let Some(text) = prompt {
                self.tokenizer
                    .encode(text)
                    .map_err(|why| Error::option(option, "(text)", why))?;
            }
        }
        Ok(())
    }

    /// The logit filters for these options.
    fn rules(&self) -> Rules {
        let specials = self.tokenizer.specials.clone();
        let o = &self.options;
        Rules {
            suppress: suppressed_tokens(
                &o.suppress_tokens,
                &self.generation.suppress_tokens,
                &specials,
            ),
            begin_suppress: if o.suppress_blank {
                self.generation.begin_suppress_tokens.clone()
            } else {
                Vec::new()
            },
            max_initial_timestamp_index: Some(
                (o.max_initial_timestamp / TIMESTAMP_SECONDS).round() as u32,
            ),
            timestamps: !o.without_timestamps,
            vocab: self.decoder.vocab,
            specials,
        }
    }

    /// Most probable language of the first window of `mel` (encoded by `encode`): (code,
    /// probability).
    pub fn detect_language_of(
        &self,
        mel: &WholeMel,
        encode: &mut dyn FnMut(&[f32]) -> Result<Vec<f32>>,
    ) -> Result<(String, f64)> {
        let mut input = vec![0.0f32; mel.n_mels() * WINDOW_FRAMES];
        mel.segment(0, &mut input);
        let window = self.decoder.start(&encode(&input)?);
        Ok(self.detect_language(&window))
    }

    /// Most probable language of the window: (code, probability), from the logits at the
    /// start-of-transcript position over the language tokens.
    fn detect_language(&self, window: &Window) -> (String, f64) {
        let mut cache = self.decoder.new_cache();
        let logits = self.decoder.prefill(
            window,
            &mut cache,
            &[self.tokenizer.specials.sot],
            &[0],
            None,
        );
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

    /// Decode one window: at each temperature in turn (beam search or greedy at 0, sampling
    /// above) until a decode passes the fallback's thresholds.
    fn decode_window(
        &self,
        window: &Window,
        rules: &Rules,
        prompt: &[u32],
        seek: usize,
        transcript: &mut Transcript,
        cancel: &CancelToken,
    ) -> Result<Decoded> {
        let o = &self.options;
        let text_of = |tokens: &[u32]| self.tokenizer.decode(tokens);
        let context = Context {
            decoder: self.decoder,
            window,
            rules,
            prompt,
            length_penalty: o.length_penalty,
            text_of: &text_of,
            cancel,
        };
        // A fixed seed per window keeps runs repeatable.
        let mut rng = Rng::new(seek as u64 ^ 0x5EED);
        let started = Instant::now();
        // On a pool thread: the decoder's small parallel products then start on the thread
        // that runs them, instead of being injected into the pool from outside and waited
        // for, dozens of times per token.
        let attempts = rayon::scope(|_| -> Result<Vec<Decoded>> {
            let mut attempts: Vec<Decoded> = Vec::new();
            for &temperature in &o.temperatures {
                let search = match temperature {
                    t if t > 0.0 => Search::Sampling {
                        temperature: t,
                        best_of: o.best_of,
                    },
                    _ if o.beam_size > 1 => Search::Beam {
                        size: o.beam_size,
                        patience: o.patience,
                    },
                    _ => Search::Greedy,
                };
                let attempt = context.decode(search, &mut rng)?;
                let done = !o.needs_fallback(&attempt);
                attempts.push(attempt);
                if done {
                    break;
                }
            }
            Ok(attempts)
        })?;
        transcript.fallbacks += attempts.len() - 1;
        let ms = started.elapsed().as_secs_f64() * 1e3;
        let steps: usize = attempts.iter().map(|a| a.forward_tokens).sum();
        transcript.decoder_tokens += steps;
        transcript.decoder_ms += ms;
        tracing::debug!(
            "decoded the window at {seek}: {steps} token rows in {ms:.1} ms ({:.2} ms/row)",
            ms / steps.max(1) as f64
        );
        Ok(o.choose(attempts))
    }

    /// Transcribe a whole recording. `encode` runs the encoder on one `[n_mels][3000]` window;
    /// `hooks` hear the progress and each segment as it is cut, and can cancel.
    ///
    /// Kept whole: the seek loop of faster-whisper's `generate_segments`, in its order (window,
    /// decode with temperature fallback, a silent window skipped or re-read, segments emitted,
    /// prompt reset, advance), so the two can be read side by side.
    pub fn run(
        &self,
        mel: &WholeMel,
        encode: &mut dyn FnMut(&[f32]) -> Result<Vec<f32>>,
        hooks: &mut RunHooks<'_>,
    ) -> Result<Transcript> {
        self.check()?;
        let o = &self.options;
        let rules = self.rules();
        let mut transcript = Transcript::default();
        let content_frames = mel.content_frames();
        let mut input = vec![0.0f32; mel.n_mels() * WINDOW_FRAMES];
        let mut start_window = |seek: usize, transcript: &mut Transcript| -> Result<Window> {
            mel.segment(seek, &mut input);
            let started = Instant::now();
            let encoded = encode(&input)?;
            transcript.encoder_ms += started.elapsed().as_secs_f64() * 1e3;
            let started = Instant::now();
            let window = self.decoder.start(&encoded);
            let ms = started.elapsed().as_secs_f64() * 1e3;
            tracing::debug!("cross-attention K/V of the window at {seek}: {ms:.1} ms");
            transcript.decoder_ms += ms;
            Ok(window)
        };
        let (sot_sequence, mut first_window) =
            self.start_sequence(&mut start_window, &mut transcript)?;
        let prompts = prompt::Prompts::new(self, &sot_sequence)?;
        let mut state = Progress {
            seek: 0,
            all_tokens: prompts.initial.clone(),
            prompt_reset_since: 0,
            last_speech: 0.0,
        };
        let language = transcript.language.clone().unwrap_or_default();
        while state.seek < content_frames {
            hooks.cancel.check()?;
            let seek = state.seek;
            let segment_frames = WINDOW_FRAMES.min(content_frames - seek);
            transcript.windows += 1;
            let window = match first_window.take().filter(|_| seek == 0) {
                Some(window) => window,
                None => start_window(seek, &mut transcript)?,
            };
            let prompt = prompts.for_window(&state.all_tokens[state.prompt_reset_since..]);
            let result = self.decode_window(
                &window,
                &rules,
                &prompt,
                seek,
                &mut transcript,
                hooks.cancel,
            )?;
            if o.is_silent(&result) {
                transcript.windows_silent += 1;
                state.seek = match sound::reread_from(|t| mel.frame_level(t), seek, segment_frames)
                {
                    Some(from) => {
                        tracing::debug!(
                            "window at {seek} called silent but ends in sound: re-read from {from}"
                        );
                        transcript.windows_reread += 1;
                        from
                    }
                    None => seek + segment_frames,
                };
                (hooks.progress)(state.seek.min(content_frames), content_frames);
                continue;
            }
            let at = WindowAt {
                window: &window,
                seek,
                frames: segment_frames,
                sot_sequence: &sot_sequence,
                language: &language,
            };
            let emitted = transcript.segments.len();
            let advance = self.emit(&result, &at, &mut state, &mut transcript);
            for segment in &transcript.segments[emitted..] {
                (hooks.segment)(segment);
            }
            if !o.condition_on_previous_text || result.temperature > o.prompt_reset_on_temperature {
                state.prompt_reset_since = state.all_tokens.len();
            }
            state.seek = seek + advance;
            (hooks.progress)(state.seek.min(content_frames), content_frames);
        }
        Ok(transcript)
    }

    /// The start-of-transcript sequence (with language and task on multilingual models), the
    /// language in `transcript`, and the first window when detecting the language encoded it.
    fn start_sequence(
        &self,
        start_window: &mut dyn FnMut(usize, &mut Transcript) -> Result<Window>,
        transcript: &mut Transcript,
    ) -> Result<(Vec<u32>, Option<Window>)> {
        let specials = &self.tokenizer.specials;
        let o = &self.options;
        if !self.generation.is_multilingual {
            transcript.language = Some("en".into());
            return Ok((vec![specials.sot], None));
        }
        let mut first_window = None;
        let code = match &o.language {
            Some(code) => code.clone(),
            None => {
                let window = start_window(0, transcript)?;
                let started = Instant::now();
                let (code, probability) = self.detect_language(&window);
                transcript.decoder_ms += started.elapsed().as_secs_f64() * 1e3;
                transcript.decoder_tokens += 1;
                transcript.language_probability = Some(probability);
                first_window = Some(window);
                code
            }
        };
        let task = match o.task {
            Task::Transcribe => specials.transcribe,
            Task::Translate => specials.translate,
        };
        let sot_sequence = vec![specials.sot, self.language_token(&code)?, task];
        transcript.language = Some(code);
        Ok((sot_sequence, first_window))
    }

    /// Cut a window's decode into segments at its timestamps (and time their words), add the
    /// non-empty ones to the transcript (and their tokens to the previous text); the frames to
    /// advance.
    fn emit(
        &self,
        result: &Decoded,
        at: &WindowAt,
        state: &mut Progress,
        transcript: &mut Transcript,
    ) -> usize {
        let specials = &self.tokenizer.specials;
        // faster-whisper's `seek * time_per_frame`.
        let time_offset = at.seek as f64 * (HOP_LENGTH as f64 / crate::audio::SAMPLE_RATE as f64);
        let split = split_by_timestamps(&result.tokens, specials.timestamp_begin, at.frames);
        let mut advance = split.advance;
        // A closing timestamp may point past the end of the audio (into the padding): the
        // references keep it as it is, and so do we.
        let mut pieces: Vec<Piece> = split
            .pieces
            .into_iter()
            .map(|(start, end, tokens)| Piece {
                start: time_offset + start,
                end: time_offset + end,
                tokens,
                words: Vec::new(),
            })
            .collect();
        if self.options.word_timestamps {
            self.time_words(&mut pieces, at, state.last_speech, transcript);
            let last_word_end = last_end(&pieces);
            if !split.single_timestamp_ending
                && let Some(end) = last_word_end.filter(|&e| e > time_offset)
            {
                // The next window starts where the last word ended (Python's round()).
                let next = (end * 100.0).round_ties_even() as usize;
                advance = next.saturating_sub(at.seek).max(1);
            }
            if let Some(end) = last_word_end {
                state.last_speech = end;
            }
        }
        for piece in pieces {
            let text = self.tokenizer.decode(&piece.tokens);
            // faster-whisper leaves out instantaneous or empty segments.
            if piece.start == piece.end || text.trim().is_empty() {
                continue;
            }
            state.all_tokens.extend_from_slice(&piece.tokens);
            // Whole milliseconds: the sums of 10 ms and 20 ms steps are not exact in binary.
            let ms = |seconds: f64| (seconds * 1e3).round() / 1e3;
            transcript.segments.push(Segment {
                id: transcript.segments.len(),
                seek: at.seek,
                start: ms(piece.start),
                end: ms(piece.end),
                text,
                tokens: piece.tokens,
                temperature: result.temperature,
                avg_logprob: result.avg_logprob,
                compression_ratio: result.compression_ratio,
                no_speech_prob: result.no_speech_prob,
                words: self.options.word_timestamps.then_some(piece.words),
            });
        }
        advance
    }

    /// Word timestamps for a window's pieces: the window's text aligned to its frames, then
    /// faster-whisper's word timing.
    fn time_words(
        &self,
        pieces: &mut [Piece],
        at: &WindowAt,
        last_speech: f64,
        transcript: &mut Transcript,
    ) {
        let specials = &self.tokenizer.specials;
        let text: Vec<u32> = pieces
            .iter()
            .flat_map(|p| p.tokens.iter().copied().filter(|&t| t < specials.eot))
            .collect();
        let started = Instant::now();
        let request = align::AlignRequest {
            start_sequence: at.sot_sequence,
            no_timestamps: specials.no_timestamps,
            eot: specials.eot,
            text: &text,
            mel_frames: at.frames,
            heads: &self.generation.alignment_heads,
        };
        let alignment = rayon::scope(|_| align::align(self.decoder, at.window, &request));
        transcript.decoder_ms += started.elapsed().as_secs_f64() * 1e3;
        transcript.decoder_tokens += at.sot_sequence.len() + text.len() + 2;
        let window = WindowWords {
            tokenizer: self.tokenizer,
            language: at.language,
            alignment: &alignment,
            seek: at.seek,
            prepend_punctuations: &self.options.prepend_punctuations,
            append_punctuations: &self.options.append_punctuations,
        };
        add_word_timestamps(pieces, &window, last_speech);
    }
}
