//! `Transcriber`: encoder (any device) and decoder (CPU) loaded together, and the whole
//! pipeline of one recording: voice activity detection if asked, the log-mel of the whole
//! recording, the seek loop, the speech ranges' times restored.

use std::sync::Arc;
use std::time::Instant;

use super::{CancelToken, Encoder, EncoderOptions, Model, Precision};
use crate::decoder::{DecoderWeights, KvStorage};
use crate::error::{Error, Result};
use crate::transcribe::{
    Decoding, DecodingOptions, RunHooks, Segment, Transcript, restore_segment_times,
    restore_speech_times,
};
use crate::vad::{self, SpeechMap, Vad, VadOptions};

/// Everything `transcribe` does, grouped as the command line groups it.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TranscribeOptions {
    /// Where and how the encoder runs.
    pub encoder: EncoderOptions,
    /// How each window is decoded (faster-whisper's defaults).
    pub decoding: DecodingOptions,
    /// How the decoder keeps each window's cross-attention keys and values; `None`: f16 with
    /// the bf16 encoder, f32 with the f32 one (so `Precision::F32` is the exact path).
    pub kv_storage: Option<KvStorage>,
}

impl TranscribeOptions {
    /// Encode with `encoder`'s device and precision.
    pub fn encoder(mut self, encoder: EncoderOptions) -> Self {
        self.encoder = encoder;
        self
    }

    /// Decode as `decoding` says.
    pub fn decoding(mut self, decoding: DecodingOptions) -> Self {
        self.decoding = decoding;
        self
    }

    /// Keep the cross-attention keys and values as `kv_storage`.
    pub fn kv_storage(mut self, kv_storage: Option<KvStorage>) -> Self {
        self.kv_storage = kv_storage;
        self
    }
}

/// What a caller hears during one transcription, and how it stops it
/// ([`Transcriber::transcribe_with`]). The default hears nothing and is never cancelled.
pub struct TranscribeHooks<'a> {
    cancel: CancelToken,
    progress: Box<dyn FnMut(f64, f64) + 'a>,
    segment: Box<dyn FnMut(&Segment) + 'a>,
}

impl Default for TranscribeHooks<'_> {
    fn default() -> Self {
        TranscribeHooks {
            cancel: CancelToken::new(),
            progress: Box::new(|_, _| {}),
            segment: Box::new(|_| {}),
        }
    }
}

impl<'a> TranscribeHooks<'a> {
    /// Stop at the next window or decoder step once `cancel` is cancelled.
    pub fn cancel(mut self, cancel: CancelToken) -> Self {
        self.cancel = cancel;
        self
    }

    /// Hear the seconds done and the seconds in all after each 30 s window.
    pub fn on_progress(mut self, progress: impl FnMut(f64, f64) + 'a) -> Self {
        self.progress = Box::new(progress);
        self
    }

    /// Hear each segment as soon as it is decoded (as it will stand in the transcript).
    pub fn on_segment(mut self, segment: impl FnMut(&Segment) + 'a) -> Self {
        self.segment = Box::new(segment);
        self
    }
}

/// A model loaded for transcription. Cloning is cheap and clones share the weights, so one
/// `Transcriber` serves concurrent callers.
#[derive(Clone)]
pub struct Transcriber {
    encoder: Encoder,
    decoder: Arc<DecoderWeights>,
    model: Model,
    options: TranscribeOptions,
    kv_storage: KvStorage,
    vad: Option<Arc<(Vad, VadOptions)>>,
}

impl std::fmt::Debug for Transcriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcriber")
            .field("model", &self.model.name())
            .field("encoder", &self.encoder)
            .field("kv_storage", &self.kv_storage)
            .field("vad", &self.vad.is_some())
            .finish()
    }
}

impl Transcriber {
    /// Load `model`'s encoder and decoder (on two threads: load takes the longer of the two,
    /// not their sum) and check the options against the model (an English-only model cannot
    /// translate, a language must be one the model knows).
    pub fn new(model: &Model, options: TranscribeOptions) -> Result<Transcriber> {
        // Refused before the weights load: no decode without a tokenizer and generation config.
        model
            .inner
            .text
            .as_ref()
            .map_err(|problem| problem.to_error())?;
        let precision = options.encoder.precision.resolve();
        let kv_storage = options.kv_storage.unwrap_or(match precision {
            Precision::Bf16 => KvStorage::F16,
            _ => KvStorage::F32,
        });
        let mut encoder_options = options.encoder.clone();
        encoder_options.precision = precision;
        if encoder_options.layers.is_some() {
            return Err(Error::Usage(
                "transcription needs every encoder layer (EncoderOptions::layers is for benchmarks)"
                    .into(),
            ));
        }
        let super::model::Weights::File(file) = &model.inner.weights else {
            return Err(Error::Usage(format!(
                "{} has synthetic weights: it can encode but not transcribe",
                model.name()
            )));
        };
        let (encoder, decoder) = std::thread::scope(|scope| {
            let decoder = scope.spawn(|| {
                let started = Instant::now();
                let decoder = DecoderWeights::load(
                    &file.file,
                    &file.config,
                    precision.arithmetic(),
                    kv_storage,
                );
                tracing::info!(
                    "decoder weights loaded in {:.0} ms",
                    started.elapsed().as_secs_f64() * 1e3
                );
                decoder
            });
            let encoder = Encoder::new(model, &encoder_options);
            let decoder = decoder
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (encoder, decoder)
        });
        let transcriber = Transcriber {
            encoder: encoder?,
            decoder: Arc::new(decoder?),
            model: model.clone(),
            options,
            kv_storage,
            vad: None,
        };
        transcriber
            .decoding_with(transcriber.options.decoding.clone())?
            .check()?;
        Ok(transcriber)
    }

    /// The decode of this model with `options` (the tokenizer and generation config are
    /// there: `new` refused a model without them).
    fn decoding_with(&self, options: DecodingOptions) -> Result<Decoding<'_>> {
        let (tokenizer, generation) = self
            .model
            .inner
            .text
            .as_ref()
            .map_err(|problem| problem.to_error())?;
        Ok(Decoding {
            decoder: &self.decoder,
            tokenizer,
            generation,
            options,
        })
    }

    /// Transcribe only the speech `vad` finds (faster-whisper's `vad_filter`): the silences
    /// are cut out before the log-mel and the times mapped back to the recording's.
    pub fn with_vad(mut self, vad: Vad, options: VadOptions) -> Self {
        self.vad = Some(Arc::new((vad, options)));
        self
    }

    /// The same loaded model decoding as `decoding` says (a service's per-request language,
    /// prompt or temperature): cheap, the weights are shared; the options are checked against
    /// the model as `new` checks them.
    pub fn with_decoding(&self, decoding: DecodingOptions) -> Result<Transcriber> {
        self.decoding_with(decoding.clone())?.check()?;
        let mut transcriber = self.clone();
        transcriber.options.decoding = decoding;
        Ok(transcriber)
    }

    /// The decoding options in force.
    pub fn decoding(&self) -> &DecodingOptions {
        &self.options.decoding
    }

    /// Transcribe a recording (16 kHz mono samples).
    pub fn transcribe(&self, samples: &[f32]) -> Result<Transcript> {
        self.transcribe_with(samples, TranscribeHooks::default())
    }

    /// Transcribe a recording, telling `progress` the seconds done and the seconds in all
    /// after each 30 s window.
    pub fn transcribe_with_progress(
        &self,
        samples: &[f32],
        progress: &mut dyn FnMut(f64, f64),
    ) -> Result<Transcript> {
        self.transcribe_with(samples, TranscribeHooks::default().on_progress(progress))
    }

    /// Transcribe a recording with `hooks`: progress after each window, each segment as soon
    /// as it is decoded (its times already on the recording's clock, with VAD too), and a
    /// [`CancelToken`] checked before each window and each decoder step.
    ///
    /// ```
    /// use npu_whisper::{CancelToken, Model, TranscribeHooks, TranscribeOptions, Transcriber};
    /// # fn main() -> npu_whisper::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # // The vocabulary of a committed fixture, so the example runs without fetched models.
    /// # let vocabulary = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vocabulary/multilingual");
    /// # npu_whisper::tools::write_random_model_with_vocabulary(dir.path(), "tiny", Some(1), Some(1), 1, &vocabulary)?;
    /// let transcriber = Transcriber::new(&Model::open(dir.path())?, TranscribeOptions::default())?;
    /// let samples = vec![0.0f32; 5 * 16_000];
    /// let mut texts = Vec::new();
    /// let hooks = TranscribeHooks::default().on_segment(|segment| texts.push(segment.text.clone()));
    /// let transcript = transcriber.transcribe_with(&samples, hooks)?;
    /// assert_eq!(texts.len(), transcript.segments.len());
    ///
    /// let cancel = CancelToken::new();
    /// cancel.cancel();
    /// let stopped = transcriber.transcribe_with(&samples, TranscribeHooks::default().cancel(cancel));
    /// assert!(matches!(stopped, Err(npu_whisper::Error::Cancelled)));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// Kept whole: the pipeline in faster-whisper's order (VAD and the samples it keeps, the window
    /// encoder, decoding, times mapped back across the removed silence), each stage feeding the
    /// next.
    pub fn transcribe_with(
        &self,
        samples: &[f32],
        mut hooks: TranscribeHooks<'_>,
    ) -> Result<Transcript> {
        let decoding = self.decoding_with(self.options.decoding.clone())?;
        hooks.cancel.check()?;
        let (vad_ms, speech, selected) = match self.vad.as_deref() {
            Some((vad, options)) => {
                let started = Instant::now();
                let ranges = vad.speech(samples, options);
                tracing::info!(
                    "VAD: {} stretch(es) of speech, {:.1} of {:.1} s",
                    ranges.len(),
                    ranges.iter().map(|r| r.end - r.start).sum::<usize>() as f64 / 16000.0,
                    samples.len() as f64 / 16000.0
                );
                let selected = vad::collect(samples, &ranges);
                (
                    Some(started.elapsed().as_secs_f64() * 1e3),
                    Some(ranges),
                    Some(selected),
                )
            }
            None => (None, None, None),
        };
        let selected_samples = selected.as_deref().unwrap_or(samples);
        let map = speech.as_deref().map(SpeechMap::new);
        let mut stream = self.encoder.stream();
        let mut encode = |window: &[f32]| -> Result<Vec<f32>> {
            Ok(stream
                .encode_mel(window)?
                .as_slice()
                .expect("standard layout")
                .to_vec())
        };
        let mut transcript = if selected_samples.is_empty() {
            // Nothing to transcribe: no text, but a language all the same (a caller's JSON
            // always has one): the one given, English for an English-only model, else the
            // language the model hears in what is left after VAD (nothing: a window of
            // padding), as faster-whisper 1.2.1 detects it.
            let language = match (
                &decoding.options.language,
                decoding.generation.is_multilingual,
            ) {
                (Some(code), _) => (code.clone(), None),
                (None, false) => ("en".to_string(), None),
                (None, true) => {
                    let mel = self.encoder.front_end().whole(selected_samples);
                    let (code, probability) = decoding.detect_language_of(&mel, &mut encode)?;
                    (code, Some(probability))
                }
            };
            Transcript {
                language: Some(language.0),
                language_probability: language.1,
                ..Transcript::default()
            }
        } else {
            let started = Instant::now();
            let mel = self.encoder.front_end().whole(selected_samples);
            let mel_ms = started.elapsed().as_secs_f64() * 1e3;
            let TranscribeHooks {
                cancel,
                progress,
                segment,
            } = &mut hooks;
            // 100 mel frames per second of audio.
            let mut progress =
                |seek: usize, content: usize| progress(seek as f64 / 100.0, content as f64 / 100.0);
            let mut on_segment = |decoded: &Segment| match &map {
                Some(map) => {
                    let mut restored = decoded.clone();
                    restore_segment_times(&mut restored, map);
                    segment(&restored)
                }
                None => segment(decoded),
            };
            let mut run_hooks = RunHooks {
                progress: &mut progress,
                segment: &mut on_segment,
                cancel,
            };
            let mut transcript = decoding.run(&mel, &mut encode, &mut run_hooks)?;
            transcript.mel_ms = mel_ms;
            transcript
        };
        transcript.vad_ms = vad_ms;
        transcript.ledger = stream.ledger().to_vec();
        if let Some(ranges) = speech {
            restore_speech_times(&mut transcript, &ranges);
        }
        Ok(transcript)
    }

    /// The encoder this transcriber runs (for its device note and precision).
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// The model transcribed with.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// How the cross-attention keys and values are kept (`None` in the options resolved).
    pub fn kv_storage(&self) -> KvStorage {
        self.kv_storage
    }
}

const _: () = {
    const fn shared<T: Send + Sync>() {}
    shared::<Transcriber>();
};
