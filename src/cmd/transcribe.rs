//! `npu-whisper transcribe`: audio -> whole-file log-mel -> per 30 s segment, encoder (any
//! device) and decoder (CPU) -> timed text. Stdout carries the transcript alone.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;

use super::{elapsed_ms, inputs};
use crate::audio::{self, AudioSource};
use crate::cli::{GlobalArgs, KvStorageArg, TaskArg, TranscribeArgs, TranscriptFormat};
use crate::decoder::{DecoderWeights, KvStorage};
use crate::error::{Error, Result};
use crate::exec::{ExecOptions, Executor, Precision, placement_summary};
use crate::export::OutputTarget;
use crate::mel::LogMel;
use crate::model::{Model, ModelSource};
use crate::tokenizer::Tokenizer;
use crate::transcribe::{
    GenerationConfig, Options, Task, Transcriber, Transcript, format, restore_speech_times,
};
use crate::vad::{self, Vad, VadOptions};

pub fn run(args: &TranscribeArgs, global: &GlobalArgs) -> Result<i32> {
    let total = Instant::now();
    let inputs = inputs::expand(&args.audio, false)?;
    let many = inputs.len() > 1 || args.audio.iter().any(|a| a.is_dir());
    let out_dir = args
        .output
        .as_deref()
        .filter(|o| o.is_dir() || o.as_os_str().to_string_lossy().ends_with('/'));
    if many && out_dir.is_none() {
        return Err(Error::Usage(
            "several inputs need an output directory: -o DIR/ (one transcript per input)".into(),
        ));
    }
    if inputs.is_empty() {
        return Err(Error::Usage("no audio files found in the inputs".into()));
    }
    let layout = cue_layout(args)?;
    let vad = super::vad_of(&args.vad, global)?;
    let outputs: Vec<Option<PathBuf>> = match out_dir {
        Some(dir) => inputs::output_paths(&inputs, dir, args.format.extension())?
            .into_iter()
            .map(Some)
            .collect(),
        None => vec![args.output.clone()],
    };

    let resolved = super::resolve_model(
        args.model.as_deref(),
        crate::hub::Needs::Transcription,
        global,
    )?;
    let model_path = resolved.path;
    let started = Instant::now();
    let mut source = ModelSource::open(&model_path)?;
    source.name = resolved.name;
    let model_dir = if model_path.is_dir() {
        model_path.clone()
    } else {
        model_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    };
    let precision = args.precision.resolve();
    let kv_storage = match (args.kv_storage, precision) {
        (KvStorageArg::F32, _) | (KvStorageArg::Auto, Precision::F32) => KvStorage::F32,
        (KvStorageArg::F16, _) | (KvStorageArg::Auto, Precision::Bf16) => KvStorage::F16,
    };
    let options = ExecOptions {
        precision,
        device: args.device.into(),
        require_npu: args.require_npu,
        ..ExecOptions::default()
    };
    // The encoder's and the decoder's weights are converted and arranged independently: on two
    // threads, load takes the longer of the two instead of their sum.
    let (encoder_side, decoder_side) = std::thread::scope(|scope| {
        let decoder_side = scope.spawn(|| -> Result<_> {
            let step = Instant::now();
            let tokenizer = Tokenizer::from_file(&model_dir.join("tokenizer.json"))?;
            let generation =
                GenerationConfig::from_file(&model_dir.join("generation_config.json"))?;
            let decoder =
                DecoderWeights::load(&source.file, &source.config, precision, kv_storage)?;
            tracing::info!(
                "tokenizer and decoder weights loaded in {:.0} ms",
                elapsed_ms(step)
            );
            Ok((tokenizer, generation, decoder))
        });
        let encoder_side = (|| -> Result<_> {
            let model = Model::from_source(&source, None)?;
            let executor = Executor::new(&model, options)?;
            tracing::info!(
                "encoder weights loaded and arranged in {:.0} ms",
                elapsed_ms(started)
            );
            Ok((model.config.num_mel_bins, executor))
        })();
        let decoder_side = decoder_side
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (encoder_side, decoder_side)
    });
    let (mel_bins, mut executor) = encoder_side?;
    let (tokenizer, generation, decoder) = decoder_side?;
    super::log_device_note(&executor, args.device);
    let front_end = LogMel::new(mel_bins);
    let model_name = source.name.clone();
    drop(source);
    let load_ms = elapsed_ms(started);

    let transcriber = Transcriber {
        decoder: &decoder,
        tokenizer: &tokenizer,
        generation: &generation,
        options: options_of(args),
    };
    transcriber.check()?;
    let format = if global.json {
        TranscriptFormat::Json
    } else {
        args.format
    };
    let mut first_failure = None;
    for (input, output) in inputs.iter().zip(&outputs) {
        let progress = super::progress_bar(
            global,
            "transcribing {bar:30} {pos}/{len} s of audio, {elapsed} (eta {eta})",
        );
        let result = transcribe_one(
            &transcriber,
            &mut executor,
            &front_end,
            vad.as_ref(),
            &input.source,
            &progress,
        );
        progress.finish_and_clear();
        let (transcript, measured) = match result {
            Ok(done) => done,
            Err(e @ Error::Interrupted) => return Err(e),
            Err(e) if many => {
                eprintln!("npu-whisper: error: {e}");
                first_failure.get_or_insert(e.exit_code());
                continue;
            }
            Err(e) => return Err(e),
        };
        let placement = placement_summary(executor.ledger());
        let product = match format {
            TranscriptFormat::Txt => format::txt(&transcript),
            TranscriptFormat::Srt => format::srt(&transcript, &layout),
            TranscriptFormat::Vtt => format::vtt(&transcript, &layout),
            TranscriptFormat::Json => {
                let mut doc = json!({
                    "schema_version": super::SCHEMA_VERSION,
                    "input": input.source.display_path().display().to_string(),
                    "model": model_name,
                    "encoder_precision": precision.name(),
                    "kv_storage": match kv_storage {
                        KvStorage::F32 => "f32",
                        KvStorage::F16 => "f16",
                    },
                    "duration_s": measured.audio_s,
                    "text": transcript.text(),
                    "placement": placement,
                    "timings_ms": {
                        "load": load_ms,
                        "vad": measured.vad_ms,
                        "mel": measured.mel_ms,
                        "encoder": transcript.encoder_ms,
                        "decoder": transcript.decoder_ms,
                    },
                });
                let extra = serde_json::to_value(&transcript).expect("serialisable");
                if let (Some(doc), Some(extra)) = (doc.as_object_mut(), extra.as_object()) {
                    doc.extend(extra.clone());
                }
                format!(
                    "{}\n",
                    serde_json::to_string_pretty(&doc).expect("serialisable")
                )
            }
        };
        let target = match output {
            Some(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|source| Error::WriteOutput {
                        path: dir.to_path_buf(),
                        source,
                    })?;
                }
                OutputTarget::File(path.clone())
            }
            None => OutputTarget::Stdout,
        };
        crate::export::write_atomically(&target, |out| out.write_all(product.as_bytes()))?;
        if !global.quiet && format != TranscriptFormat::Json {
            eprint!(
                "{}",
                summary(
                    &input.source,
                    &model_name,
                    precision,
                    &transcript,
                    &measured,
                    load_ms,
                    &placement,
                    executor.device_note()
                )
            );
        }
    }
    tracing::info!("total {:.0} ms", elapsed_ms(total));
    Ok(first_failure.unwrap_or(0))
}

/// The transcription options of the command line.
fn options_of(args: &TranscribeArgs) -> Options {
    let d = &args.decoding;
    Options {
        language: args.language.clone(),
        task: match args.task {
            TaskArg::Transcribe => Task::Transcribe,
            TaskArg::Translate => Task::Translate,
        },
        beam_size: d.beam_size,
        best_of: d.best_of,
        patience: d.patience,
        length_penalty: d.length_penalty,
        temperatures: if d.no_fallback {
            vec![0.0]
        } else {
            Options::default().temperatures
        },
        compression_ratio_threshold: d.compression_ratio_threshold,
        logprob_threshold: d.log_prob_threshold,
        no_speech_threshold: d.no_speech_threshold,
        condition_on_previous_text: d.condition_on_previous_text,
        prompt_reset_on_temperature: d.prompt_reset_on_temperature,
        initial_prompt: d.initial_prompt.clone(),
        hotwords: d.hotwords.clone(),
        suppress_tokens: d.suppress_tokens.clone(),
        without_timestamps: d.without_timestamps,
        max_initial_timestamp: d.max_initial_timestamp,
        word_timestamps: args.words.word_timestamps,
        prepend_punctuations: args.words.prepend_punctuations.clone(),
        append_punctuations: args.words.append_punctuations.clone(),
        ..Options::default()
    }
}

/// The subtitle layout options, which need word timestamps (as in OpenAI's command line).
fn cue_layout(args: &TranscribeArgs) -> Result<format::CueLayout> {
    let w = &args.words;
    let layout = format::CueLayout {
        max_line_width: w.max_line_width.map(|n| n as usize),
        max_line_count: w.max_line_count.map(|n| n as usize),
        max_words_per_line: w.max_words_per_line.map(|n| n as usize),
        highlight_words: w.highlight_words,
    };
    let asked = layout.max_line_width.is_some()
        || layout.max_line_count.is_some()
        || layout.max_words_per_line.is_some()
        || layout.highlight_words;
    if asked && !w.word_timestamps {
        return Err(Error::Usage(
            "--max-line-width, --max-line-count, --max-words-per-line and --highlight-words need --word-timestamps".into(),
        ));
    }
    if layout.max_line_count.is_some() && layout.max_line_width.is_none() {
        tracing::warn!("--max-line-count has no effect without --max-line-width");
    }
    if layout.max_words_per_line.is_some() && layout.max_line_width.is_some() {
        tracing::warn!("--max-words-per-line has no effect with --max-line-width");
    }
    Ok(layout)
}

/// What one input's transcription measured besides the transcript.
#[derive(Clone, Copy)]
struct Measured {
    audio_s: f64,
    mel_ms: f64,
    /// Voice activity detection, when `--vad` ran.
    vad_ms: Option<f64>,
}

/// Decode, find speech (`--vad`), compute the whole log-mel and transcribe one input.
fn transcribe_one(
    transcriber: &Transcriber,
    executor: &mut Executor,
    front_end: &LogMel,
    vad: Option<&(Vad, VadOptions)>,
    source: &AudioSource,
    progress: &indicatif::ProgressBar,
) -> Result<(Transcript, Measured)> {
    let audio = audio::load(source)?;
    let mut measured = Measured {
        audio_s: audio.duration_secs(),
        mel_ms: 0.0,
        vad_ms: None,
    };
    let (samples, speech) = match vad {
        Some((vad, options)) => {
            let started = Instant::now();
            let ranges = vad.speech(&audio.samples, options);
            measured.vad_ms = Some(elapsed_ms(started));
            tracing::info!(
                "VAD: {} stretch(es) of speech, {:.1} of {:.1} s",
                ranges.len(),
                ranges.iter().map(|r| r.end - r.start).sum::<usize>() as f64 / 16000.0,
                measured.audio_s
            );
            (vad::collect(&audio.samples, &ranges), Some(ranges))
        }
        None => (audio.samples, None),
    };
    let mut transcript = if samples.is_empty() {
        // Nothing to transcribe: no language either, unless it was given (or the model knows
        // only English).
        let english_only = !transcriber.generation.is_multilingual;
        Transcript {
            language: transcriber
                .options
                .language
                .clone()
                .or_else(|| english_only.then(|| "en".to_string())),
            ..Transcript::default()
        }
    } else {
        let started = Instant::now();
        let mel = front_end.whole(&samples);
        measured.mel_ms = elapsed_ms(started);
        let mut encode =
            |window: &[f32]| -> Result<Vec<f32>> { Ok(executor.encode_window(window)?.to_vec()) };
        // Seconds of audio: 100 mel frames each.
        transcriber.run(&mel, &mut encode, &mut |seek, content| {
            progress.set_length(content.div_ceil(100) as u64);
            progress.set_position((seek / 100) as u64);
        })?
    };
    if let Some(ranges) = speech {
        restore_speech_times(&mut transcript, &ranges);
    }
    Ok((transcript, measured))
}

/// The stderr summary: where time went, speed, placement.
#[allow(clippy::too_many_arguments)]
fn summary(
    source: &AudioSource,
    model_name: &str,
    precision: Precision,
    t: &Transcript,
    measured: &Measured,
    load_ms: f64,
    placement: &str,
    device_note: Option<&str>,
) -> String {
    let language = match (&t.language, t.language_probability) {
        (Some(code), Some(p)) => format!("{code} (detected, p {p:.2})"),
        (Some(code), None) => code.clone(),
        (None, _) => "-".into(),
    };
    let Measured {
        audio_s,
        mel_ms,
        vad_ms,
    } = *measured;
    let work_s = (vad_ms.unwrap_or(0.0) + mel_ms + t.encoder_ms + t.decoder_ms) / 1e3;
    let mut text = format!(
        "input      {} ({audio_s:.2} s)\n\
         model      {model_name} (encoder {}), language {language}\n\
         segments   {} from {} window(s) of 30 s ({} silent, {} of them re-read from sound at the end; {} temperature fallback(s))\n\
         time       load {load_ms:.0} ms, mel {mel_ms:.1} ms, encoder {:.0} ms, decoder {:.0} ms ({} tokens, {:.0} tokens/s)\n\
         speed      {:.1}x realtime (audio s / vad+mel+encoder+decoder s); RTF {:.4}\n\
         placement  encoder {placement}; decoder cpu\n",
        source.display_path().display(),
        precision.name(),
        t.segments.len(),
        t.windows,
        t.windows_silent,
        t.windows_reread,
        t.fallbacks,
        t.encoder_ms,
        t.decoder_ms,
        t.decoder_tokens,
        t.decoder_tokens as f64 / (t.decoder_ms / 1e3).max(1e-9),
        audio_s / work_s.max(1e-9),
        work_s / audio_s.max(1e-9),
    );
    if let (Some(ms), Some(speech)) = (vad_ms, &t.speech) {
        // A fold from +0.0: an empty f64 sum is -0.0, which prints as "-0.0".
        let kept = speech.iter().fold(0.0, |sum, s| sum + (s.end - s.start));
        text.push_str(&format!(
            "vad        {} stretch(es) of speech, {kept:.1} of {audio_s:.1} s transcribed (silero-vad v6, {ms:.0} ms)\n",
            speech.len()
        ));
    }
    if let Some(note) = device_note {
        text.push_str(&format!("device     {note}\n"));
    }
    text
}
