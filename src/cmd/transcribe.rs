//! `npu-whisper transcribe`: audio -> whole-file log-mel -> per 30 s segment, encoder (any
//! device) and decoder (CPU) -> timed text. Stdout carries the transcript alone.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;

use super::{elapsed_ms, inputs};
use crate::audio::{self, AudioSource};
use crate::cli::{GlobalArgs, TaskArg, TranscribeArgs, TranscriptFormat};
use crate::options::{decoding_of, encoder_options, kv_storage_of};
use crate::tools::export::OutputTarget;
use crate::{
    CueLayout, DecodingOptions, Error, KvStorage, Precision, Result, Task, TranscribeOptions,
    Transcriber, Transcript, placement_summary,
};

pub fn run(args: &TranscribeArgs, global: &GlobalArgs) -> Result<i32> {
    let total = Instant::now();
    let inputs = inputs::expand(&args.audio, false)?;
    let many = inputs.len() > 1 || args.audio.iter().any(|a| a.is_dir());
    let out_dir = output_dir(args, many, inputs.is_empty())?;
    let layout = cue_layout(args)?;
    // What needs no model is refused before one loads.
    let decoding = options_of(args);
    decoding.check()?;
    let vad = super::vad_of(&args.vad, global)?;
    let outputs: Vec<Option<PathBuf>> = match out_dir {
        Some(dir) => inputs::output_paths(&inputs, dir, args.format.extension())?
            .into_iter()
            .map(Some)
            .collect(),
        None => vec![args.output.clone()],
    };

    let started = Instant::now();
    let (transcriber, model_name) = open_transcriber(args, global, decoding, vad)?;
    let run = RunInfo {
        model_name,
        precision: transcriber.encoder().precision(),
        kv_storage: transcriber.kv_storage(),
        load_ms: elapsed_ms(started),
    };

    let format = if global.json {
        TranscriptFormat::Json
    } else {
        args.format
    };
    let limits = args.limits.limits();
    let delivery = Delivery {
        format,
        layout: &layout,
        run: &run,
        device_note: transcriber.encoder().device_note(),
        quiet: global.quiet,
    };
    let mut first_failure = None;
    let (mut transcribed, mut failed, mut audio_s) = (0usize, 0usize, 0.0f64);
    for (input, output) in inputs.iter().zip(&outputs) {
        let progress = super::progress_bar(
            global,
            "transcribing {bar:30} {pos}/{len} s of audio, {elapsed} (eta {eta})",
        );
        let result = transcribe_one(&transcriber, &input.source, &limits, &progress);
        progress.finish_and_clear();
        let (transcript, measured) = match result {
            Ok(done) => done,
            Err(e @ Error::Interrupted) => return Err(e),
            Err(e) if many => {
                eprintln!("npu-whisper: error: {}", crate::cli::describe(&e));
                first_failure.get_or_insert(e.exit_code());
                failed += 1;
                continue;
            }
            Err(e) => return Err(e),
        };
        delivery.deliver(input, output.as_deref(), &transcript, &measured)?;
        transcribed += 1;
        audio_s += measured.audio_s;
    }
    if many && !global.quiet {
        let wall_s = elapsed_ms(total) / 1e3;
        eprintln!(
            "total      {transcribed} transcribed, {failed} failed; {audio_s:.1} s of audio in {wall_s:.1} s ({:.1}x realtime){}",
            audio_s / wall_s.max(1e-9),
            out_dir.map_or(String::new(), |d| format!(", into {}", d.display()))
        );
    }
    tracing::info!("total {:.0} ms", elapsed_ms(total));
    Ok(first_failure.unwrap_or(0))
}

/// `-o DIR/` (one transcript per input), which several inputs need; `None` for one input.
fn output_dir(args: &TranscribeArgs, many: bool, no_inputs: bool) -> Result<Option<&Path>> {
    let out_dir = inputs::output_dir(args.output.as_deref());
    if many && out_dir.is_none() {
        return Err(Error::Usage(
            "several inputs need an output directory: -o DIR/ (one transcript per input)".into(),
        ));
    }
    if no_inputs {
        return Err(Error::Usage("no audio files found in the inputs".into()));
    }
    Ok(out_dir)
}

/// How each transcript leaves the command.
struct Delivery<'a> {
    format: TranscriptFormat,
    layout: &'a CueLayout,
    run: &'a RunInfo,
    device_note: Option<&'a str>,
    quiet: bool,
}

impl Delivery<'_> {
    /// Write one input's transcript in the chosen format (to `output` or stdout), and its
    /// summary to stderr unless quiet (the JSON form carries the summary itself).
    fn deliver(
        &self,
        input: &inputs::Input,
        output: Option<&Path>,
        transcript: &Transcript,
        measured: &Measured,
    ) -> Result<()> {
        let placement = placement_summary(&transcript.ledger);
        let product = match self.format {
            TranscriptFormat::Txt => transcript.to_txt(),
            TranscriptFormat::Srt => transcript.to_srt(self.layout),
            TranscriptFormat::Vtt => transcript.to_vtt(self.layout),
            TranscriptFormat::Json => {
                transcript_json(input, self.run, transcript, measured, &placement)
            }
        };
        write_product(output, &product)?;
        if !self.quiet && self.format != TranscriptFormat::Json {
            eprint!(
                "{}",
                summary(
                    &input.source,
                    self.run,
                    transcript,
                    measured,
                    &placement,
                    self.device_note
                )
            );
            if let Some(path) = output {
                eprintln!("output     {}", path.display());
            }
        }
        Ok(())
    }
}

/// What one run of the command knows about its transcriber, for each input's summary.
struct RunInfo {
    model_name: String,
    precision: Precision,
    kv_storage: KvStorage,
    load_ms: f64,
}

/// The model opened and the transcriber built (encoder and decoder loaded, the VAD attached),
/// with the model's name.
fn open_transcriber(
    args: &TranscribeArgs,
    global: &GlobalArgs,
    decoding: DecodingOptions,
    vad: Option<(crate::Vad, crate::VadOptions)>,
) -> Result<(Transcriber, String)> {
    let model = super::open_model(args.model.as_deref(), false, global)?;
    let options = TranscribeOptions::default()
        .encoder(encoder_options(
            args.device,
            args.precision,
            args.require_npu,
        ))
        .decoding(decoding)
        .kv_storage(kv_storage_of(args.kv_storage));
    let mut transcriber = Transcriber::new(&model, options)?;
    if let Some((vad, options)) = vad {
        transcriber = transcriber.with_vad(vad, options);
    }
    super::log_device_note(transcriber.encoder().device_note(), args.device);
    Ok((transcriber, model.name().to_string()))
}

/// `-f json`: the transcript with the run's model, precision, placement and timings.
fn transcript_json(
    input: &inputs::Input,
    run: &RunInfo,
    transcript: &Transcript,
    measured: &Measured,
    placement: &str,
) -> String {
    let mut doc = json!({
        "schema_version": super::SCHEMA_VERSION,
        "input": input.source.display_path().display().to_string(),
        "model": run.model_name,
        "encoder_precision": run.precision.name(),
        "kv_storage": match run.kv_storage {
            KvStorage::F32 => "f32",
            KvStorage::F16 => "f16",
        },
        "duration_s": measured.audio_s,
        "text": transcript.text(),
        "placement": placement,
        "timings_ms": {
            "load": run.load_ms,
            "vad": measured.vad_ms,
            "mel": measured.mel_ms,
            "encoder": transcript.encoder_ms,
            "decoder": transcript.decoder_ms,
        },
    });
    let extra = serde_json::to_value(transcript).expect("serialisable");
    if let (Some(doc), Some(extra)) = (doc.as_object_mut(), extra.as_object()) {
        doc.extend(extra.clone());
    }
    format!(
        "{}\n",
        serde_json::to_string_pretty(&doc).expect("serialisable")
    )
}

/// The transcript into its file (its directory made; written whole or not at all) or stdout.
fn write_product(output: Option<&std::path::Path>, product: &str) -> Result<()> {
    let target = match output {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| Error::WriteOutput {
                    path: dir.to_path_buf(),
                    source,
                })?;
            }
            OutputTarget::File(path.to_path_buf())
        }
        None => OutputTarget::Stdout,
    };
    crate::tools::export::write_atomically(&target, |out| out.write_all(product.as_bytes()))
}

/// The transcription options of the command line.
fn options_of(args: &TranscribeArgs) -> DecodingOptions {
    let mut o = decoding_of(&args.decoding);
    o.language = args.language.clone();
    o.task = match args.task {
        TaskArg::Transcribe => Task::Transcribe,
        TaskArg::Translate => Task::Translate,
    };
    o.word_timestamps = args.words.word_timestamps;
    o.prepend_punctuations = args.words.prepend_punctuations.clone();
    o.append_punctuations = args.words.append_punctuations.clone();
    o
}

/// The subtitle layout options, which need word timestamps (as in OpenAI's command line).
fn cue_layout(args: &TranscribeArgs) -> Result<CueLayout> {
    let w = &args.words;
    let layout = CueLayout {
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

/// Decode one input and transcribe it.
fn transcribe_one(
    transcriber: &Transcriber,
    source: &AudioSource,
    limits: &audio::AudioLimits,
    progress: &indicatif::ProgressBar,
) -> Result<(Transcript, Measured)> {
    let audio = audio::load(source, limits)?;
    let transcript = transcriber.transcribe_with_progress(&audio.samples, &mut |done, all| {
        progress.set_length(all.ceil() as u64);
        progress.set_position(done as u64);
    })?;
    let measured = Measured {
        audio_s: audio.duration_secs(),
        mel_ms: transcript.mel_ms,
        vad_ms: transcript.vad_ms,
    };
    Ok((transcript, measured))
}

/// The stderr summary: where time went, speed, placement.
#[allow(clippy::too_many_arguments)]
fn summary(
    source: &AudioSource,
    run: &RunInfo,
    t: &Transcript,
    measured: &Measured,
    placement: &str,
    device_note: Option<&str>,
) -> String {
    let RunInfo {
        model_name,
        precision,
        load_ms,
        ..
    } = run;
    let (precision, load_ms) = (*precision, *load_ms);
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
