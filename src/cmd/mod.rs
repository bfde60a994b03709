//! One module per subcommand: parse nothing, call the library, print. `run` dispatches.

mod bench;
mod convert;
mod doctor;
mod encode;
mod inputs;
mod mel;
mod model;
pub(crate) mod progress;
pub(crate) mod transcribe;

use crate::Result;
use crate::cli::{Cli, Command};

/// Environment variable naming the model (used when `--model` is absent).
pub const MODEL_ENV: &str = "NPU_WHISPER_MODEL";
/// The model used when nothing else is named.
pub const DEFAULT_MODEL: &str = "base";

/// JSON documents printed by `--json` carry this version; it changes when fields change meaning.
pub const SCHEMA_VERSION: u32 = 1;

/// Run the parsed command line; the process exit code on success (doctor reports "only the
/// CPU path is usable" as 4 without it being an error).
pub fn run(cli: &Cli) -> Result<i32> {
    match &cli.command {
        Command::Mel(args) => mel::run(args, &cli.global).map(|()| 0),
        Command::Encode(args) => encode::run(args, &cli.global),
        Command::Transcribe(args) => transcribe::run(args, &cli.global),
        Command::Convert(args) => convert::run(args, &cli.global).map(|()| 0),
        Command::Model(args) => model::run(args, &cli.global).map(|()| 0),
        Command::Bench(args) => bench::run(args, &cli.global).map(|()| 0),
        Command::Doctor(_) => doctor::run(&cli.global),
        Command::Serve(args) => crate::serve::run(args, &cli.global),
        Command::ValidateKernels(args) => {
            let report = npu_whisper::tools::validate_npu_kernels(&args.sizes, args.simulate)?;
            let failed = report
                .calls
                .iter()
                .filter(|c| c.error.is_some() || c.first_mismatch.is_some())
                .count()
                + report.together_failed;
            println!(
                "{}",
                serde_json::to_string_pretty(&report)
                    .map_err(|e| crate::Error::Runtime(e.to_string()))?
            );
            Ok(if failed == 0 { 0 } else { 1 })
        }
        Command::Completions(args) => {
            use std::io::Write;
            std::io::stdout()
                .write_all(&crate::cli::completion_script(args.shell))
                .map_err(|e| crate::Error::Runtime(format!("writing to stdout: {e}")))?;
            Ok(0)
        }
    }
}

/// Log why the requested device is not in use. `auto` choosing the CPU is normal on most
/// machines (the summary's `device` line says why); an explicit `--device npu` that cannot be
/// honoured deserves a warning as well.
pub(crate) fn log_device_note(note: Option<&str>, device: crate::cli::DeviceArg) {
    if let Some(note) = note {
        if device == crate::cli::DeviceArg::Npu {
            tracing::warn!("{note}");
        } else {
            tracing::info!("{note}");
        }
    }
}

/// The model for a command (`--model`, `$NPU_WHISPER_MODEL` or `base`), opened; fetched with
/// progress on stderr when it is not cached (not with `--offline`). `encoder_only`: a model
/// without a tokenizer will do.
pub(crate) fn open_model(
    arg: Option<&str>,
    encoder_only: bool,
    global: &crate::cli::GlobalArgs,
) -> Result<crate::Model> {
    let name = match arg {
        Some(a) => a.to_string(),
        None => match std::env::var(MODEL_ENV) {
            Ok(v) if !v.is_empty() => v,
            _ => DEFAULT_MODEL.to_string(),
        },
    };
    let options = crate::FetchOptions::default()
        .offline(global.offline)
        .encoder_only(encoder_only)
        .progress(progress::stderr_progress(global.quiet));
    crate::Model::fetch(&name, &options)
}

/// The VAD and its options when `--vad` is given (the weights fetched on first use).
pub(crate) fn vad_of(
    args: &crate::cli::VadArgs,
    global: &crate::cli::GlobalArgs,
) -> Result<Option<(crate::Vad, crate::VadOptions)>> {
    if !args.vad {
        return Ok(None);
    }
    let vad = match &args.vad_model {
        Some(path) => crate::Vad::open(path)?,
        None => crate::Vad::fetch(
            &crate::FetchOptions::default()
                .offline(global.offline)
                .progress(progress::stderr_progress(global.quiet)),
        )?,
    };
    let options = crate::VadOptions {
        threshold: args.vad_threshold,
        neg_threshold: args.vad_neg_threshold,
        min_speech_duration_ms: args.vad_min_speech_duration_ms,
        max_speech_duration_s: args.vad_max_speech_duration_s,
        min_silence_duration_ms: args.vad_min_silence_duration_ms,
        speech_pad_ms: args.vad_speech_pad_ms,
    };
    Ok(Some((vad, options)))
}

/// Milliseconds since `start`, for summaries.
pub(crate) fn elapsed_ms(start: std::time::Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}

/// Print a summary on stdout, or on stderr when stdout carries the product itself (`-o -`).
/// A closed pipe on the summary is not worth failing a run whose product is written.
pub(crate) fn print_summary(product_on_stdout: bool, text: &str) {
    use std::io::Write;
    let _ = if product_on_stdout {
        std::io::stderr().write_all(text.as_bytes())
    } else {
        std::io::stdout().write_all(text.as_bytes())
    };
}

/// A progress bar on stderr when it is a terminal (and neither `-q` nor `--json`); hidden
/// otherwise, so pipes and logs never see control characters.
pub(crate) fn progress_bar(
    global: &crate::cli::GlobalArgs,
    template: &str,
) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if global.quiet || global.json || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}
