//! The `npu-whisper` binary: parse arguments, set up logging and threads, run one command and
//! turn its outcome into an exit code. Everything else lives in the library.

use clap::Parser;
use npu_whisper::cli::Cli;
use npu_whisper::error::exit_code;

fn main() {
    let cli = Cli::parse();
    init_logging(cli.global.verbose, cli.global.quiet);
    npu_whisper::interrupt::install();
    if let Some(threads) = cli.global.threads
        && let Err(e) = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.get())
            .build_global()
    {
        eprintln!("npu-whisper: error: cannot start {threads} worker threads: {e}");
        std::process::exit(exit_code::RUNTIME);
    }
    match npu_whisper::cmd::run(&cli) {
        Ok(code) => std::process::exit(code),
        Err(error) => {
            eprintln!("npu-whisper: error: {error}");
            std::process::exit(error.exit_code());
        }
    }
}

fn init_logging(verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let level = match (quiet, verbose) {
        (true, _) => "error",
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
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
}
