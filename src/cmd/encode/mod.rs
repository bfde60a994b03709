//! `npu-whisper encode`: audio -> log-mel -> Whisper encoder -> embeddings, with timings.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

mod batch;
mod report;
mod speech;

use super::{elapsed_ms, inputs};
use crate::audio::{self, AudioSource, SAMPLE_RATE};
use crate::cli::{EncodeArgs, GlobalArgs};
use crate::mel::{HOP_LENGTH, N_FFT};
use crate::tools::export::{self, OutputTarget};
use crate::{
    Device, ENCODER_FRAMES, Encoder, EncoderOptions, EncoderStream, Error, Precision, Result,
    WindowSelection, placement_summary,
};

/// One input's results.
struct Encoded {
    source: crate::audio::SourceFormat,
    audio_s: f64,
    windows: usize,
    shape: Vec<usize>,
    stats: Statistics,
    decode_ms: f64,
    mel_ms: f64,
    encoder_ms: f64,
    export_ms: f64,
    /// bf16 against f32 over all windows (`--verify --precision bf16`).
    precision_check: Option<PrecisionCheck>,
    /// With `--vad`: the windows encoded (`windows` counts them) and the speech found.
    speech: Option<speech::SpeechWindows>,
}

/// The bf16 path's error against the f32 CPU path on the same log-mel.
#[derive(Debug, Clone, Copy, serde::Serialize)]
struct PrecisionCheck {
    max_abs: f64,
    /// The lowest per-window cosine.
    cosine: f64,
}

/// What stays the same across the inputs of a run.
struct Context {
    /// `--verify` with `--precision bf16`: an f32 CPU encoder the bf16 output is compared with.
    reference: std::cell::RefCell<Option<EncoderStream>>,
    encoder: Encoder,
    model: crate::Model,
    trim: bool,
    split: bool,
    /// `--vad`: encode only the windows with speech.
    vad: Option<(crate::Vad, crate::VadOptions)>,
    /// `--max-audio-s`.
    limits: audio::AudioLimits,
}

pub fn run(args: &EncodeArgs, global: &GlobalArgs) -> Result<i32> {
    let total = Instant::now();
    let Plan {
        inputs,
        many,
        target,
        outputs,
    } = plan(args)?;
    let vad = super::vad_of(&args.vad, global)?;

    let model = super::open_model(args.model.as_deref(), true, global)?;
    // Load time starts once the model is on disk (a first fetch is not load time).
    let started = Instant::now();
    let encoder = Encoder::new(&model, &encoder_options(args))?;
    super::log_device_note(encoder.device_note(), args.device);
    let reference = if args.verify && args.precision == crate::cli::PrecisionArg::Bf16 {
        let exact = EncoderOptions::default()
            .device(Device::Cpu)
            .precision(Precision::F32)
            .layers(args.layers.map(|n| n.get()));
        Some(Encoder::new(&model, &exact)?.stream())
    } else {
        None
    };
    let mut stream = encoder.stream();
    let context = Context {
        reference: std::cell::RefCell::new(reference),
        model: model.clone(),
        encoder,
        trim: args.trim,
        split: args.split,
        vad,
        limits: args.limits.limits(),
    };
    let load_ms = elapsed_ms(started);
    tracing::info!("model opened and weights arranged in {load_ms:.1} ms");

    if outputs.is_some() || many {
        // Without an output directory, several inputs are encoded for their reports only.
        let outputs: Vec<Option<std::path::PathBuf>> = match outputs {
            Some(paths) => paths.into_iter().map(Some).collect(),
            None => vec![None; inputs.len()],
        };
        return batch::batch(
            args,
            global,
            &mut stream,
            &context,
            &inputs,
            &outputs,
            total,
        );
    }
    let Some(input) = inputs.first() else {
        return Err(Error::Usage("no audio files found in the inputs".into()));
    };
    let source = &input.source;
    let progress = window_progress(global);
    let done = encode_one(&mut stream, &context, source, target.as_ref(), &progress)?;
    progress.finish_and_clear();
    report::report_single(&report::SingleRun {
        args,
        global,
        stream: &stream,
        context: &context,
        source,
        target: target.as_ref(),
        done: &done,
        load_ms,
        total_ms: elapsed_ms(total),
    });
    Ok(0)
}

/// The inputs and where their embeddings go, checked before any model is opened.
struct Plan {
    inputs: Vec<inputs::Input>,
    /// Several inputs (or a directory): a batch.
    many: bool,
    /// The one output of a single input (`-o FILE` or `-o -`).
    target: Option<OutputTarget>,
    /// One output per input (`-o DIR/`).
    outputs: Option<Vec<std::path::PathBuf>>,
}

/// Expand the inputs and check that the output arguments fit them (several inputs need a
/// directory, --split needs .npy, --vad needs .safetensors).
fn plan(args: &EncodeArgs) -> Result<Plan> {
    let many = args.audio.len() > 1 || args.audio.iter().any(|a| a.is_dir());
    let out_dir = inputs::output_dir(args.output.as_deref());
    let inputs = inputs::shard(inputs::expand(&args.audio, args.recursive)?, args.shard);
    if many || out_dir.is_some() || args.shard.is_some() {
        if args.output.is_some() && out_dir.is_none() {
            return Err(Error::Usage(
                "several inputs need an output directory: -o DIR/ (one output file per input)"
                    .into(),
            ));
        }
        if inputs.iter().any(|i| i.source == AudioSource::Stdin) {
            return Err(Error::Usage(
                "`-` (standard input) cannot be one of several inputs".into(),
            ));
        }
    }
    let target = match (&args.output, out_dir) {
        (Some(path), None) => Some(OutputTarget::from_arg(path)),
        _ => None,
    };
    if let Some(OutputTarget::File(path)) = &target {
        output_format(path)?;
    }
    if args.split {
        let npy_file = match &target {
            Some(OutputTarget::File(path)) => output_format(path)? == "npy",
            _ => out_dir.is_some() && args.format == crate::cli::FormatArg::Npy,
        };
        if !npy_file {
            return Err(Error::Usage(
                "--split writes one .npy file per window: give -o OUT.npy or -o DIR/ (npy)".into(),
            ));
        }
    }
    if args.vad.vad {
        check_vad_output(args, target.as_ref(), out_dir.is_some())?;
    }
    let outputs = match out_dir {
        Some(dir) => Some(inputs::output_paths(&inputs, dir, args.format.extension())?),
        None => None,
    };
    Ok(Plan {
        inputs,
        many,
        target,
        outputs,
    })
}

/// Decode one input, then per 30 s window: log-mel, encoder, and (for `.npy`) the window's
/// embeddings straight into the output file, so memory holds the audio and one window, not
/// all embeddings. `.safetensors` is written at the end: its header records the placement,
/// which is known only after the run.
fn encode_one(
    stream: &mut EncoderStream,
    context: &Context,
    source: &AudioSource,
    target: Option<&OutputTarget>,
    progress: &indicatif::ProgressBar,
) -> Result<Encoded> {
    let started = Instant::now();
    let audio = audio::load(source, &context.limits)?;
    let decode_ms = elapsed_ms(started);
    let speech = context
        .vad
        .as_ref()
        .map(|(vad, options)| speech::select(vad, options, &audio.samples));
    let selection = match &speech {
        Some(found) => found.selection.clone(),
        None => WindowSelection::all(audio.samples.len()),
    };
    let d = context.encoder.d_model();
    let shape: Vec<usize> = if context.trim {
        vec![selection.rows(true), d]
    } else {
        vec![selection.len(), ENCODER_FRAMES, d]
    };
    progress.set_length(selection.len() as u64);
    progress.set_position(0);
    let mut pass = WindowPass {
        stream,
        context,
        samples: &audio.samples,
        selection: &selection,
        progress,
        stats: StatisticsAccumulator::default(),
        mel_ms: 0.0,
        encoder_ms: 0.0,
        export_ms: 0.0,
        precision_check: None,
    };
    match target {
        Some(OutputTarget::File(path)) if context.split => write_split(&mut pass, path, d)?,
        Some(target @ OutputTarget::File(path)) if output_format(path)? == "safetensors" => {
            let kept = pass.collect()?;
            let started = Instant::now();
            let placement = placement_summary(pass.stream.ledger());
            let mut metadata = provenance(
                source,
                context.model.name(),
                context.model.weights_sha256()?,
                context.encoder.front_end().n_mels(),
                audio.duration_secs(),
                selection.len(),
                context.trim,
                &placement,
            )?;
            if let (Some(found), Some((_, options))) = (&speech, &context.vad) {
                metadata.extend(speech::metadata(found, options));
            }
            export::write_safetensors(target, "embeddings", &shape, &kept, metadata)?;
            pass.export_ms += elapsed_ms(started);
        }
        Some(target) => write_streamed(&mut pass, target, &shape)?,
        None => pass.run(&mut |_| Ok(()))?,
    }
    Ok(Encoded {
        source: audio.source.clone(),
        audio_s: audio.duration_secs(),
        windows: selection.len(),
        shape,
        stats: pass.stats.finish(),
        decode_ms,
        mel_ms: pass.mel_ms,
        encoder_ms: pass.encoder_ms,
        export_ms: pass.export_ms,
        precision_check: pass.precision_check,
        speech,
    })
}

/// One pass over an input's selected windows, with what it measures on the way.
struct WindowPass<'a> {
    stream: &'a mut EncoderStream,
    context: &'a Context,
    samples: &'a [f32],
    selection: &'a WindowSelection,
    progress: &'a indicatif::ProgressBar,
    stats: StatisticsAccumulator,
    mel_ms: f64,
    encoder_ms: f64,
    export_ms: f64,
    precision_check: Option<PrecisionCheck>,
}

impl WindowPass<'_> {
    /// Encode every selected window and hand its output rows to `sink`.
    fn run(&mut self, sink: &mut dyn FnMut(&[f32]) -> std::io::Result<()>) -> Result<()> {
        let front_end = self.context.encoder.front_end();
        let d = self.context.encoder.d_model();
        let mut mel = vec![0.0f32; front_end.window_len()];
        for window in self.selection.windows() {
            crate::tools::check_interrupted()?;
            let started = Instant::now();
            front_end.window(&self.samples[window.samples.clone()], &mut mel);
            self.mel_ms += elapsed_ms(started);
            let started = Instant::now();
            let embeddings = self.stream.encode_mel(&mel)?;
            let embeddings = embeddings.as_slice().expect("standard layout");
            self.encoder_ms += elapsed_ms(started);
            if let Some(reference) = self.context.reference.borrow_mut().as_mut() {
                let want = reference.encode_mel(&mel)?;
                let (max_abs, cosine) =
                    compare(want.as_slice().expect("standard layout"), embeddings);
                let check = self
                    .precision_check
                    .get_or_insert(PrecisionCheck { max_abs, cosine });
                check.max_abs = check.max_abs.max(max_abs);
                check.cosine = check.cosine.min(cosine);
            }
            let part = &embeddings[..window.rows(self.context.trim) * d];
            self.stats.add(part);
            let started = Instant::now();
            sink(part).map_err(|e| Error::Runtime(format!("writing the output: {e}")))?;
            self.export_ms += elapsed_ms(started);
            self.progress.inc(1);
        }
        Ok(())
    }

    /// Every selected window's rows, joined in memory (for outputs written at the end).
    fn collect(&mut self) -> Result<Vec<f32>> {
        let mut kept = Vec::new();
        self.run(&mut |part| {
            kept.extend_from_slice(part);
            Ok(())
        })?;
        Ok(kept)
    }
}

/// `--split`: one complete file per window, written as soon as the window is encoded. A failure
/// or interrupt removes this input's window files again, so that the first window's file
/// existing means the set is complete (what a resumed batch checks).
fn write_split(pass: &mut WindowPass, path: &Path, d: usize) -> Result<()> {
    let mut index = 0usize;
    let mut write_failure = None;
    let result = pass.run(&mut |part| {
        let file = split_path(path, index);
        index += 1;
        export::write_npy(&OutputTarget::File(file), &[part.len() / d, d], part).map_err(|e| {
            write_failure = Some(e);
            std::io::Error::other("writing a window failed")
        })
    });
    if let Err(e) = result {
        for i in 0..index {
            let _ = std::fs::remove_file(split_path(path, i));
        }
        return Err(write_failure.unwrap_or(e));
    }
    Ok(())
}

/// One `.npy` streamed window by window inside `write_atomically`: an encoder error aborts the
/// write (no file appears) and is returned as itself.
fn write_streamed(pass: &mut WindowPass, target: &OutputTarget, shape: &[usize]) -> Result<()> {
    let mut failure = None;
    let written = export::write_atomically(target, |out| {
        out.write_all(&export::npy_header(shape))?;
        pass.run(&mut |part| export::write_f32(out, part))
            .map_err(|e| {
                failure = Some(e);
                std::io::Error::other("encoding failed")
            })
    });
    if let Some(e) = failure {
        return Err(e);
    }
    written?;
    Ok(())
}

/// `--vad` records which time ranges the output holds: only a .safetensors file has room for
/// that, and one file per window (`--split`) would lose the record.
fn check_vad_output(args: &EncodeArgs, target: Option<&OutputTarget>, out_dir: bool) -> Result<()> {
    let npy = match target {
        Some(OutputTarget::File(path)) => output_format(path)? == "npy",
        Some(OutputTarget::Stdout) => true,
        None => out_dir && args.format == crate::cli::FormatArg::Npy,
    };
    if npy || args.split {
        return Err(Error::Usage(
            "--vad records the time ranges it encoded in the output's metadata: write .safetensors (-o OUT.safetensors, or --format safetensors with -o DIR/), without --split".into(),
        ));
    }
    Ok(())
}

/// Max abs difference and cosine of two equally long vectors (in f64).
fn compare(want: &[f32], got: &[f32]) -> (f64, f64) {
    let (mut max_abs, mut dot, mut ww, mut gg) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for (&w, &g) in want.iter().zip(got) {
        let (w, g) = (w as f64, g as f64);
        max_abs = max_abs.max((w - g).abs());
        dot += w * g;
        ww += w * w;
        gg += g * g;
    }
    (
        max_abs,
        dot / (ww.sqrt() * gg.sqrt()).max(f64::MIN_POSITIVE),
    )
}

/// `OUT.npy` -> `OUT.<index, 5 digits>.npy`.
pub(super) fn split_path(path: &Path, index: usize) -> std::path::PathBuf {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    path.with_file_name(format!("{stem}.{index:05}.npy"))
}

fn window_progress(global: &GlobalArgs) -> indicatif::ProgressBar {
    super::progress_bar(
        global,
        "encoding {bar:30} {pos}/{len} windows, {elapsed} (eta {eta})",
    )
}

/// "npy" or "safetensors" from the output file's extension.
fn output_format(path: &Path) -> Result<&'static str> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("npy") => Ok("npy"),
        Some("safetensors") => Ok("safetensors"),
        _ => Err(Error::Usage(format!(
            "{}: the output must end in .npy or .safetensors",
            path.display()
        ))),
    }
}

fn encoder_options(args: &EncodeArgs) -> EncoderOptions {
    crate::options::encoder_options(args.device, args.precision, args.require_npu)
        .cpu_ops(args.cpu_ops.iter().map(|&k| k.into()))
        .verify(args.verify)
        .layers(args.layers.map(|n| n.get()))
}

#[allow(clippy::too_many_arguments)]
fn provenance(
    source: &AudioSource,
    model_name: &str,
    model_sha256: String,
    n_mels: usize,
    duration_s: f64,
    windows: usize,
    trim: bool,
    placement: &str,
) -> Result<HashMap<String, String>> {
    let pairs = [
        (
            "producer",
            format!("npu-whisper {}", env!("CARGO_PKG_VERSION")),
        ),
        ("input", source.display_path().display().to_string()),
        ("duration_s", format!("{duration_s:.6}")),
        ("windows", windows.to_string()),
        ("trimmed", trim.to_string()),
        ("model", model_name.to_string()),
        ("model_sha256", model_sha256),
        (
            "mel",
            format!(
                "OpenAI log_mel_spectrogram: n_mels {n_mels}, n_fft {N_FFT}, hop {HOP_LENGTH}, {SAMPLE_RATE} Hz, 30 s windows"
            ),
        ),
        ("placement", placement.to_string()),
    ];
    Ok(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// Summary statistics of the embeddings.
#[derive(Debug, serde::Serialize)]
struct Statistics {
    mean: f64,
    std: f64,
    l2_norm: f64,
    first: Vec<f32>,
}

/// Statistics gathered window by window.
#[derive(Default)]
struct StatisticsAccumulator {
    n: usize,
    sum: f64,
    sum_sq: f64,
    first: Vec<f32>,
}

impl StatisticsAccumulator {
    fn add(&mut self, values: &[f32]) {
        self.n += values.len();
        self.sum += values.iter().map(|&v| v as f64).sum::<f64>();
        self.sum_sq += values.iter().map(|&v| (v as f64).powi(2)).sum::<f64>();
        let missing = 4usize.saturating_sub(self.first.len());
        self.first
            .extend(values.iter().take(missing).map(|v| (v * 1e4).round() / 1e4));
    }

    fn finish(self) -> Statistics {
        let n = self.n.max(1) as f64;
        let mean = self.sum / n;
        Statistics {
            mean,
            std: (self.sum_sq / n - mean * mean).max(0.0).sqrt(),
            l2_norm: self.sum_sq.sqrt(),
            first: self.first,
        }
    }
}
