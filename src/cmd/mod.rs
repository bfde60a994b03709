//! One module per subcommand: parse nothing, call the library, print. `run` dispatches.

mod mel;

use crate::cli::{Cli, Command};
use crate::error::{Error, Result};

/// JSON documents printed by `--json` carry this version; it changes when fields change meaning.
pub const SCHEMA_VERSION: u32 = 1;

/// Run the parsed command line.
pub fn run(cli: &Cli) -> Result<()> {
    match &cli.command {
        Command::Mel(args) => mel::run(args, &cli.global),
        Command::Encode(_) => Err(Error::NotImplemented("npu-whisper encode")),
        Command::Bench(_) => Err(Error::NotImplemented("npu-whisper bench")),
        Command::Doctor(_) => Err(Error::NotImplemented("npu-whisper doctor")),
    }
}

/// Milliseconds since `start`, for summaries.
pub(crate) fn elapsed_ms(start: std::time::Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}
