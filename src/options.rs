//! What the command line's flags mean to the library: the model to open, the VAD, the decoding
//! options, the device note. Shared by the subcommands (`cmd`) and the service (`serve`), so
//! neither imports the other.

use npu_whisper::{DecodingOptions, EncoderOptions, KvStorage, Precision, Result};

use crate::cli::{DecodingArgs, DeviceArg, KvStorageArg};
use crate::progress;

/// Environment variable naming the model (used when `--model` is absent).
pub const MODEL_ENV: &str = "NPU_WHISPER_MODEL";
/// The model used when nothing else is named.
pub const DEFAULT_MODEL: &str = "base";

/// Log why the requested device is not in use. `auto` choosing the CPU is normal on most
/// machines (the summary's `device` line says why); an explicit `--device npu` that cannot be
/// honoured deserves a warning as well.
pub fn log_device_note(note: Option<&str>, device: crate::cli::DeviceArg) {
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
pub fn open_model(
    arg: Option<&str>,
    encoder_only: bool,
    global: &crate::cli::GlobalArgs,
) -> Result<npu_whisper::Model> {
    let name = match arg {
        Some(a) => a.to_string(),
        None => match std::env::var(MODEL_ENV) {
            Ok(v) if !v.is_empty() => v,
            _ => DEFAULT_MODEL.to_string(),
        },
    };
    let options = npu_whisper::FetchOptions::default()
        .offline(global.offline)
        .encoder_only(encoder_only)
        .progress(progress::stderr_progress(global.quiet));
    npu_whisper::Model::fetch(&name, &options)
}

/// The VAD and its options when `--vad` is given (the weights fetched on first use).
pub fn vad_of(
    args: &crate::cli::VadArgs,
    global: &crate::cli::GlobalArgs,
) -> Result<Option<(npu_whisper::Vad, npu_whisper::VadOptions)>> {
    if !args.vad {
        return Ok(None);
    }
    let vad = match &args.vad_model {
        Some(path) => npu_whisper::Vad::open(path)?,
        None => npu_whisper::Vad::fetch(
            &npu_whisper::FetchOptions::default()
                .offline(global.offline)
                .progress(progress::stderr_progress(global.quiet)),
        )?,
    };
    let options = npu_whisper::VadOptions {
        threshold: args.vad_threshold,
        neg_threshold: args.vad_neg_threshold,
        min_speech_duration_ms: args.vad_min_speech_duration_ms,
        max_speech_duration_s: args.vad_max_speech_duration_s,
        min_silence_duration_ms: args.vad_min_silence_duration_ms,
        speech_pad_ms: args.vad_speech_pad_ms,
    };
    Ok(Some((vad, options)))
}

/// `--kv-storage` (`auto`: decided by the library from the precision).
pub fn kv_storage_of(arg: KvStorageArg) -> Option<KvStorage> {
    match arg {
        KvStorageArg::Auto => None,
        KvStorageArg::F32 => Some(KvStorage::F32),
        KvStorageArg::F16 => Some(KvStorage::F16),
    }
}

/// The decoding flags `transcribe` and `serve` share, over faster-whisper's defaults.
pub fn decoding_of(d: &DecodingArgs) -> DecodingOptions {
    let mut o = DecodingOptions::default();
    o.beam_size = d.beam_size;
    o.best_of = d.best_of;
    o.patience = d.patience;
    o.length_penalty = d.length_penalty;
    if d.no_fallback {
        o.temperatures = vec![0.0];
    }
    o.compression_ratio_threshold = d.compression_ratio_threshold;
    o.logprob_threshold = d.log_prob_threshold;
    o.no_speech_threshold = d.no_speech_threshold;
    o.condition_on_previous_text = d.condition_on_previous_text;
    o.prompt_reset_on_temperature = d.prompt_reset_on_temperature;
    o.initial_prompt = d.initial_prompt.clone();
    o.hotwords = d.hotwords.clone();
    o.suppress_tokens = d.suppress_tokens.clone();
    o.without_timestamps = d.without_timestamps;
    o.max_initial_timestamp = d.max_initial_timestamp;
    o
}

/// The encoder options `--device`, `--precision` and `--require-npu` ask for.
pub fn encoder_options(
    device: DeviceArg,
    precision: impl Into<Precision>,
    require_npu: bool,
) -> EncoderOptions {
    EncoderOptions::default()
        .device(device.into())
        .precision(precision.into())
        .require_npu(require_npu)
}
