//! One module per subcommand: parse nothing, call the library, print. `run` dispatches.

mod bench;
mod convert;
mod doctor;
mod encode;
mod inputs;
mod mel;
mod model;
pub(crate) mod transcribe;

use crate::Result;
use crate::cli::{Cli, Command};
pub(crate) use crate::options::{log_device_note, open_model, vad_of};

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
            use npu_whisper::tools::{KernelTarget, KernelValues};
            let target = match (&args.native, args.simulate) {
                _ if !args.emulator.is_empty() => KernelTarget::Emulator(args.emulator.clone()),
                (Some(lib), _) => KernelTarget::Native(lib.clone()),
                (None, true) => KernelTarget::Simulator,
                (None, false) => KernelTarget::Npu,
            };
            let values = match args.inputs {
                crate::cli::InputValuesArg::Finite => KernelValues::Finite,
                crate::cli::InputValuesArg::Special => KernelValues::Special,
            };
            let report =
                npu_whisper::tools::validate_npu_kernels(&args.sizes, &target, values, args.sets)?;
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
        Command::EmulateWindow(args) => {
            let check = npu_whisper::tools::check_window_on_emulator(
                &args.size,
                args.layers as usize,
                &args.emulator,
            )?;
            println!(
                "{}",
                serde_json::to_string_pretty(&check)
                    .map_err(|e| crate::Error::Runtime(e.to_string()))?
            );
            Ok(if check.first_difference.is_none() {
                0
            } else {
                1
            })
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
