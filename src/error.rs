//! The one error type of the library. Each variant carries what a user needs to act on it;
//! `Error::kind` sorts them into the kinds a caller branches on, each with the exit code of the
//! `npu-whisper` binary (documented in its man page and the README).

use std::path::PathBuf;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Exit codes of the `npu-whisper` binary, documented in the man page.
pub mod exit_code {
    /// A runtime failure, including "not implemented yet".
    pub const RUNTIME: i32 = 1;
    /// Bad flags or arguments.
    pub const USAGE: i32 = 2;
    /// Bad input data: audio or model files that cannot be used.
    pub const INPUT_DATA: i32 = 3;
    /// The NPU was required but is unavailable (and `doctor`: only the CPU path is usable).
    pub const NPU_UNAVAILABLE: i32 = 4;
    /// Interrupted by Ctrl-C.
    pub const INTERRUPTED: i32 = 130;
}

#[derive(Debug, thiserror::Error)]
/// Every failure of the library, with what a user needs to act on it; [`Error::kind`] sorts them.
#[non_exhaustive]
pub enum Error {
    /// An audio input that cannot be decoded or is not usable speech audio.
    #[error("{}: {reason}", path.display())]
    Audio {
        /// The input.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A recording longer than the caller allows ([`AudioLimits`](crate::audio::AudioLimits)):
    /// refused from its header, or decoding stopped at the limit.
    #[error("{}: {}", path.display(), too_long(*seconds, *limit_s))]
    AudioTooLong {
        /// The input.
        path: PathBuf,
        /// Its length, when the header says (else decoding stopped at the limit).
        seconds: Option<f64>,
        /// The most allowed, in seconds.
        limit_s: f64,
    },

    /// A model file or directory that cannot be used.
    #[error("{}: {reason}", path.display())]
    Model {
        /// The model file or directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// An input file that cannot be opened or read.
    #[error("{}: cannot read: {source}", path.display())]
    ReadInput {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },

    /// An output file that cannot be written.
    #[error("{}: cannot write: {source}", path.display())]
    WriteOutput {
        /// The file.
        path: PathBuf,
        /// Why it could not be written.
        source: std::io::Error,
    },

    /// An option the library cannot take, as data: which one, its value, why. Callers word it
    /// their own way (the command line names its flag, the service its form field).
    #[error("{} `{value}`: {reason}", option.name())]
    InvalidOption {
        /// Which option.
        option: OptionName,
        /// The value given, as text.
        value: String,
        /// Why it cannot be taken.
        reason: String,
    },

    /// Two options that cannot be taken together: `option` set, and `other` at `other_value`.
    #[error("{} contradicts {} {other_value}", option.name(), other.name())]
    ConflictingOptions {
        /// The option that was set.
        option: OptionName,
        /// The option it contradicts.
        other: OptionName,
        /// That option's value, as text.
        other_value: String,
    },

    /// Arguments that parse but do not make sense together.
    #[error("{0}")]
    Usage(String),

    /// A subcommand or mode that a later release fills in.
    #[error("`{0}` is not implemented yet in this version of npu-whisper")]
    NotImplemented(&'static str),

    /// The NPU was required (`--device npu --require-npu`, or a fallback under `--require-npu`)
    /// and could not do the work.
    #[error("NPU required but unavailable: {0}")]
    NpuUnavailable(String),

    /// A server that cannot be reached, or that fails in a way retrying did not mend.
    #[error("cannot fetch from {endpoint}: {reason}")]
    Network {
        /// The server (or URL).
        endpoint: String,
        /// What happened.
        reason: String,
    },

    /// A download refused or unusable: not found, not authorised, wrong bytes, a model that
    /// is not cached while offline.
    #[error("{what}: {reason}")]
    Fetch {
        /// The model or file.
        what: String,
        /// Why it cannot be had.
        reason: String,
    },

    /// Any other failure at run time.
    #[error("{0}")]
    Runtime(String),

    /// Ctrl-C (SIGINT) or SIGTERM arrived; the work in progress was abandoned cleanly.
    #[error("interrupted")]
    Interrupted,

    /// The caller cancelled the work ([`CancelToken`](crate::CancelToken)); it stopped at its
    /// next check.
    #[error("cancelled")]
    Cancelled,
}

/// The option an [`Error::InvalidOption`] or [`Error::ConflictingOptions`] names: a field of
/// [`DecodingOptions`](crate::DecodingOptions) or of the encoder's and model's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OptionName {
    /// `language`: the spoken language's code.
    Language,
    /// `task`: transcribe or translate.
    Task,
    /// `beam_size`.
    BeamSize,
    /// `best_of`.
    BestOf,
    /// `patience`.
    Patience,
    /// `length_penalty`.
    LengthPenalty,
    /// `temperatures`.
    Temperature,
    /// `word_timestamps`.
    WordTimestamps,
    /// `initial_prompt`.
    InitialPrompt,
    /// `hotwords`.
    Hotwords,
    /// The encoder's device ([`Device`](crate::Device)).
    Device,
    /// Whether the NPU is required (no CPU fallback).
    RequireNpu,
    /// The encoder's precision ([`Precision`](crate::Precision)).
    Precision,
    /// How many encoder layers to load.
    EncoderLayers,
}

/// The earlier name of [`OptionName`], when it named decoding options only.
pub type DecodingOption = OptionName;

impl OptionName {
    /// The option's name, as the options' field names spell it.
    pub fn name(self) -> &'static str {
        match self {
            OptionName::Language => "language",
            OptionName::Task => "task",
            OptionName::BeamSize => "beam_size",
            OptionName::BestOf => "best_of",
            OptionName::Patience => "patience",
            OptionName::LengthPenalty => "length_penalty",
            OptionName::Temperature => "temperature",
            OptionName::WordTimestamps => "word_timestamps",
            OptionName::InitialPrompt => "initial_prompt",
            OptionName::Hotwords => "hotwords",
            OptionName::Device => "device",
            OptionName::RequireNpu => "require_npu",
            OptionName::Precision => "precision",
            OptionName::EncoderLayers => "encoder_layers",
        }
    }
}

fn too_long(seconds: Option<f64>, limit_s: f64) -> String {
    match seconds {
        Some(seconds) => {
            format!("the audio is {seconds:.1} s long; at most {limit_s} s is accepted")
        }
        None => format!(
            "the audio is longer than {limit_s} s, the most accepted (decoding stopped there)"
        ),
    }
}

/// What kind of failure an [`Error`] is: what a caller branches on, and what the `npu-whisper`
/// binary turns into its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Options or arguments that do not make sense together (exit 2).
    Usage,
    /// Input that cannot be used: audio, a model, a download (exit 3).
    InvalidInput,
    /// The NPU was required and could not do the work (exit 4).
    NpuUnavailable,
    /// Interrupted by Ctrl-C or SIGTERM, or cancelled by the caller (exit 130).
    Interrupted,
    /// Anything else at run time: I/O, the network, a device fault (exit 1).
    Runtime,
}

impl ErrorKind {
    /// The `npu-whisper` binary's exit code for this kind (documented in its man page).
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Usage => exit_code::USAGE,
            ErrorKind::InvalidInput => exit_code::INPUT_DATA,
            ErrorKind::NpuUnavailable => exit_code::NPU_UNAVAILABLE,
            ErrorKind::Interrupted => exit_code::INTERRUPTED,
            ErrorKind::Runtime => exit_code::RUNTIME,
        }
    }
}

impl Error {
    /// What kind of failure this is.
    ///
    /// ```
    /// use npu_whisper::{ErrorKind, Model};
    /// let error = Model::open("/no/such/model").unwrap_err();
    /// assert_eq!(error.kind(), ErrorKind::InvalidInput);
    /// assert_eq!(error.kind().exit_code(), 3);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Audio { .. }
            | Error::AudioTooLong { .. }
            | Error::Model { .. }
            | Error::ReadInput { .. }
            | Error::Fetch { .. } => ErrorKind::InvalidInput,
            Error::Usage(_) | Error::InvalidOption { .. } | Error::ConflictingOptions { .. } => {
                ErrorKind::Usage
            }
            Error::NpuUnavailable(_) => ErrorKind::NpuUnavailable,
            Error::Interrupted | Error::Cancelled => ErrorKind::Interrupted,
            Error::WriteOutput { .. }
            | Error::NotImplemented(_)
            | Error::Network { .. }
            | Error::Runtime(_) => ErrorKind::Runtime,
        }
    }

    /// An [`Error::Audio`].
    pub fn audio(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Audio {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// An [`Error::Fetch`].
    pub fn fetch(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Fetch {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// An [`Error::InvalidOption`].
    pub fn option(
        option: OptionName,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        Error::InvalidOption {
            option,
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// An [`Error::Model`].
    pub fn model(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Model {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        self.kind().exit_code()
    }
}
