//! The `npu-whisper` binary: parse arguments, set up logging and threads, run one command and
//! turn its outcome into an exit code. The commands (`cmd`) are clients of the library's public
//! API; what they add is the command line (`cli`), file formats and printing.

mod cli;
mod cmd;
#[cfg(test)]
mod man_page_tests;
mod options;
mod progress;
mod serve;

use clap::Parser;
use cli::Cli;
// The library's public API, at this crate's root so that `crate::Model` in `cli` and `cmd`
// reads as it would inside the library.
#[allow(unused_imports)]
use npu_whisper::*;

fn main() {
    let cli = Cli::parse();
    let serving = matches!(cli.command, cli::Command::Serve(_));
    init_logging(cli.global.verbose, cli.global.quiet, serving);
    // The service handles SIGTERM and Ctrl-C itself (it drains instead of stopping work).
    if !serving {
        npu_whisper::tools::install_signal_handlers();
    }
    if let Some(threads) = cli.global.threads
        && let Err(e) = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.get())
            .build_global()
    {
        eprintln!("npu-whisper: error: cannot start {threads} worker threads: {e}");
        std::process::exit(ErrorKind::Runtime.exit_code());
    }
    match cmd::run(&cli) {
        Ok(code) => std::process::exit(code),
        Err(error) => {
            eprintln!("npu-whisper: error: {}", cli::describe(&error));
            std::process::exit(error.kind().exit_code());
        }
    }
}

/// Logs on stderr: warnings by default; a service logs each request (info) with its time.
fn init_logging(verbose: u8, quiet: bool, serving: bool) {
    use tracing_subscriber::EnvFilter;
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) if serving => "info",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    // symphonia logs its own view of decode failures that we already report in one line; its
    // messages show only at -vvv or through RUST_LOG.
    let directives = if verbose >= 3 {
        level.to_string()
    } else {
        format!(
            "{level},symphonia_core=off,symphonia_bundle_mp3=off,symphonia_bundle_flac=off,symphonia_format_ogg=off,symphonia_codec_vorbis=off,symphonia_format_riff=off"
        )
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(directives));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_target(false);
    if serving {
        logs.init();
    } else {
        logs.without_time().init();
    }
}
