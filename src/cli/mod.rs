//! The command-line interface: the single source for `--help`, the man page and completions.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod serve;
pub use serve::ServeArgs;

const AFTER_HELP: &str = "\
Environment:
  NPU_WHISPER_MODEL       the model when --model is absent (default: base)
  NPU_WHISPER_MODEL_DIR   npu-whisper's model directory (PyPI imports; default
                          ${XDG_CACHE_HOME:-~/.cache}/npu-whisper/models)
  HF_ENDPOINT             the Hugging Face Hub (default https://huggingface.co)
  HF_TOKEN                Hub token for private and gated models (also the file of
                          `huggingface-cli login`); sent to the Hub only, never shown
  HF_HUB_CACHE, HF_HOME   the Hugging Face cache (default ~/.cache/huggingface/hub)
  HF_HUB_OFFLINE=1        never download (as --offline)
  HF_HUB_ETAG_TIMEOUT, HF_HUB_DOWNLOAD_TIMEOUT
                          connect and per-read timeouts in seconds (default 10)
  PIP_INDEX_URL           the package index of the PyPI route (default https://pypi.org/simple)

Exit codes:
  0    success
  1    runtime failure (including features not implemented yet, a server that cannot
       be reached)
  2    usage error (bad flags or arguments)
  3    input data error (unreadable, corrupt or unsupported audio or model files; a
       model refused by its server: not found, needs a token, gated, wrong bytes; a
       model not cached while offline)
  4    NPU required but unavailable (doctor: only the CPU path is usable)
  130  interrupted";

/// Speech audio to Whisper encoder embeddings, on an AMD Ryzen AI NPU where present and on the
/// CPU everywhere else, with a ledger of where every operation ran and how long it took.
#[derive(Debug, Parser)]
#[command(
    name = "npu-whisper",
    version,
    long_version = env!("NPU_WHISPER_LONG_VERSION"),
    after_help = AFTER_HELP,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Flags accepted before or after the subcommand.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// More log output on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Print nothing but errors (and the product itself).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Worker threads for the CPU path [default: all available cores].
    #[arg(long, global = true, value_name = "N")]
    pub threads: Option<NonZeroUsize>,

    /// Print one JSON document (with a schema_version) instead of the human summary.
    #[arg(long, global = true)]
    pub json: bool,

    /// Never download: a model that is not cached is an error naming `model fetch` (as
    /// HF_HUB_OFFLINE=1).
    #[arg(long, global = true)]
    pub offline: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Encode audio to Whisper encoder embeddings (log-mel -> encoder), with per-op timings.
    Encode(EncodeArgs),
    /// Transcribe speech to text with segment timestamps (encoder on any device, decoder on the
    /// CPU); the transcript alone goes to stdout, timings to stderr.
    Transcribe(TranscribeArgs),
    /// Compute OpenAI-exact log-mel features of audio and write them as float32 .npy.
    Mel(MelArgs),
    /// Benchmark the encoder (runs with no model: base dimensions, synthetic weights).
    Bench(BenchArgs),
    /// Check the machine for the NPU path: device, driver, firmware, memlock, XRT, kernels.
    Doctor(DoctorArgs),
    /// Import a CTranslate2 (faster-whisper) Whisper model into the Hugging Face layout, or
    /// Silero VAD's ONNX file into safetensors.
    Convert(ConvertArgs),
    /// Fetch, list and remove cached models (Hugging Face Hub, or PyPI for base, tiny.en and
    /// silero-vad).
    Model(ModelArgs),
    /// Keep models loaded and answer HTTP (OpenAI-compatible transcriptions and translations,
    /// embeddings, /health, /metrics) and, with --wyoming-port, the Wyoming protocol.
    Serve(ServeArgs),
    /// Print a shell completion script: `npu-whisper completions bash > ~/.local/share/bash-completion/completions/npu-whisper`.
    Completions(CompletionsArgs),
    /// Run every NPU kernel against the simulator, bit for bit, one JSON document on stdout
    /// (used by scripts/npu-validate; exit 4 when there is no usable NPU).
    #[command(hide = true)]
    ValidateKernels(ValidateKernelsArgs),
    /// Encode one window with every op on the dataflow emulator and compare it with the
    /// simulator, bit for bit (used by scripts/emulate-npu).
    #[command(hide = true)]
    EmulateWindow(EmulateWindowArgs),
}

#[derive(Debug, Args)]
pub struct EmulateWindowArgs {
    /// Model size (catalogue name) whose dimensions the synthetic model has.
    #[arg(long, default_value = "base")]
    pub size: String,
    /// Encoder layers.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub layers: u64,
    /// The command that starts the emulator server (after `--`).
    #[arg(last = true, required = true)]
    pub emulator: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub struct ValidateKernelsArgs {
    /// Model sizes whose encoder shapes to check (catalogue names).
    #[arg(long, num_args = 1.., default_values = ["tiny", "base"])]
    pub sizes: Vec<String>,
    /// Validate the simulator against itself (a dry run of the path, no NPU needed).
    #[arg(long, conflicts_with = "native")]
    pub simulate: bool,
    /// Run the kernels compiled for this machine from this shared library
    /// (scripts/test-kernels-native builds it) instead of on the NPU.
    #[arg(long, value_name = "LIB")]
    pub native: Option<std::path::PathBuf>,
    /// Run the calls on the dataflow emulator this command starts (after `--`: a Python,
    /// xclbin/designs/emulate.py, --serve and its options) instead of on the NPU.
    #[arg(last = true)]
    pub emulator: Vec<std::ffi::OsString>,
    /// Input values: finite, or special (NaN, infinities, denormals, huge magnitudes mixed in).
    #[arg(long, value_enum, default_value_t = InputValuesArg::Finite)]
    pub inputs: InputValuesArg,
    /// Input sets per call (different seeds).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub sets: u64,
}

/// The inputs `validate-kernels` feeds the kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputValuesArg {
    Finite,
    Special,
}

#[derive(Debug, Args)]
pub struct ModelArgs {
    #[command(subcommand)]
    pub action: ModelAction,
}

#[derive(Debug, Subcommand)]
pub enum ModelAction {
    /// Download models into the cache (resumable, verified, safe to run twice at once).
    /// NAME is a short name (tiny, tiny.en, base, base.en, small, small.en, medium, medium.en,
    /// large-v1, large-v2, large-v3, large-v3-turbo or turbo, distil-small.en,
    /// distil-medium.en, distil-large-v2, distil-large-v3, distil-large-v3.5, silero-vad) or a
    /// Hub id org/name[@revision].
    Fetch(ModelFetchArgs),
    /// List cached models: name, source, revision, size on disk, dimensions, where.
    List,
    /// Remove cached models (a short name: its PyPI import and its Hub copy; org/name@REV:
    /// that revision only).
    Rm(ModelRmArgs),
}

#[derive(Debug, Args)]
pub struct ModelFetchArgs {
    /// Models to fetch.
    #[arg(value_name = "NAME", required = true, num_args = 1..)]
    pub names: Vec<String>,

    /// Where from: `auto` is the Hugging Face Hub (HF_ENDPOINT), or PyPI for the names that
    /// have a PyPI route when the Hub cannot be reached.
    #[arg(long, value_enum, default_value_t = SourceArg::Auto)]
    pub source: SourceArg,
}

#[derive(Debug, Args)]
pub struct ModelRmArgs {
    /// Models to remove.
    #[arg(value_name = "NAME", required = true, num_args = 1..)]
    pub names: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SourceArg {
    Auto,
    Hub,
    Pypi,
}

impl From<SourceArg> for crate::ModelSource {
    fn from(arg: SourceArg) -> Self {
        match arg {
            SourceArg::Auto => crate::ModelSource::Auto,
            SourceArg::Hub => crate::ModelSource::Hub,
            SourceArg::Pypi => crate::ModelSource::Pypi,
        }
    }
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct EncodeArgs {
    /// Audio files (WAV, MP3, FLAC, Ogg Vorbis) or directories of them; `-` reads standard
    /// input. Several inputs, or a directory, need `-o DIR/`.
    #[arg(value_name = "AUDIO", required = true, num_args = 1..)]
    pub audio: Vec<PathBuf>,

    /// Descend into subdirectories of directory inputs (their tree is mirrored under `-o DIR/`).
    #[arg(short, long)]
    pub recursive: bool,

    /// Replace outputs that already exist (otherwise inputs whose output exists are skipped).
    #[arg(long)]
    pub overwrite: bool,

    /// Encode only shard I of N (0-based) of the sorted inputs: input k is in shard k mod N.
    /// Lets N machines or jobs split a corpus with no coordination.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<(usize, usize)>,

    /// Output format when `-o` is a directory.
    #[arg(long, value_enum, default_value_t = FormatArg::Npy)]
    pub format: FormatArg,

    /// Model: a short name (base, large-v3, turbo, ...; fetched when not cached), a Hub id
    /// org/name[@revision], a directory (Hugging Face layout) or a .safetensors file
    /// [default: $NPU_WHISPER_MODEL, else base].
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,

    /// Where to run the encoder: `auto` uses the NPU when device, runtime and kernels are all
    /// usable and otherwise the CPU (saying why); `npu-sim` runs our NPU kernels' arithmetic
    /// in software.
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,

    /// Op kinds to keep on the CPU whatever the device, comma-separated: conv, matmul,
    /// attention, layernorm, gelu, add.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "LIST")]
    pub cpu_ops: Vec<OpKindArg>,

    /// Fail (exit 4) instead of using the CPU when the NPU is unavailable or an NPU op fails.
    #[arg(long)]
    pub require_npu: bool,

    /// Also run every NPU op on the CPU and report per-op max abs error and cosine; with
    /// `--precision bf16`, also run the f32 CPU encoder on the same log-mel and report the bf16
    /// output's max abs error and cosine against it.
    #[arg(long)]
    pub verify: bool,

    /// Arithmetic of the CPU path's GEMMs: f32, or bf16 operands with f32 accumulation (CPUs
    /// with AVX512_BF16 only; attention in bf16 too; about 1.7x faster here, cosine >= 0.9995 to
    /// f32).
    #[arg(long, value_enum, default_value_t = PrecisionArg::F32)]
    pub precision: PrecisionArg,

    /// Write the embeddings: `.npy` (float32) or `.safetensors` (float32, with provenance
    /// metadata); `-` writes .npy to standard output; a directory (existing, or ending in `/`)
    /// gets one `<input name>.npy` (or `.safetensors`, see `--format`) per input. Written
    /// window by window into a temporary file renamed into place when complete.
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,

    /// Run only the first N encoder layers (the final LayerNorm still applies).
    #[arg(long, value_name = "N")]
    pub layers: Option<NonZeroUsize>,

    /// Cut the padding: write `(frames, d_model)`, the windows joined in time and cut to the
    /// audio length (one frame per 20 ms), instead of `(windows, 1500, d_model)`.
    #[arg(long)]
    pub trim: bool,

    /// One `.npy` per 30 s window instead of one per input: `OUT.npy` becomes `OUT.00000.npy`,
    /// `OUT.00001.npy`, ... each `(1500, d_model)` (the last cut to the audio with `--trim`),
    /// each complete on disk as soon as its window is encoded.
    #[arg(long)]
    pub split: bool,

    /// Encode only the 30 s windows that hold speech (see Voice activity detection); the
    /// output records which time ranges it holds (.safetensors metadata `encoded_ranges`, and
    /// the report).
    #[command(flatten)]
    pub vad: VadArgs,

    #[command(flatten)]
    pub limits: AudioLimitArgs,
}

/// How long an input may be.
#[derive(Debug, Args)]
pub struct AudioLimitArgs {
    /// Refuse (exit 3) an input longer than S seconds: from its header where the format says
    /// its length, else as soon as decoding passes S, so no more than S seconds are ever
    /// decoded [default: no limit].
    #[arg(long, value_name = "S", value_parser = parse_seconds)]
    pub max_audio_s: Option<f64>,
}

impl AudioLimitArgs {
    pub fn limits(&self) -> crate::audio::AudioLimits {
        self.max_audio_s
            .map_or_else(Default::default, crate::audio::AudioLimits::max_seconds_of)
    }
}

fn parse_seconds(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 => Ok(s),
        _ => Err(format!(
            "must be a number of seconds above 0, got `{value}`"
        )),
    }
}

#[derive(Debug, Args)]
pub struct TranscribeArgs {
    /// Audio files (WAV, MP3, FLAC, Ogg Vorbis) or directories of them; `-` reads standard
    /// input. Several inputs, or a directory, need `-o DIR/`.
    #[arg(value_name = "AUDIO", required = true, num_args = 1..)]
    pub audio: Vec<PathBuf>,

    /// Model: a short name (fetched when not cached), a Hub id org/name[@revision], or a
    /// directory holding tokenizer.json and generation_config.json beside the weights
    /// [default: $NPU_WHISPER_MODEL, else base].
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,

    /// Where to run the encoder (the decoder always runs on the CPU); as for `encode`.
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,

    /// Fail (exit 4) instead of using the CPU when the NPU is unavailable or an NPU op fails.
    #[arg(long)]
    pub require_npu: bool,

    /// The encoder's arithmetic on the CPU: `auto` is bf16 on CPUs with AVX512_BF16 (with f16
    /// cross-attention K/V in the decoder; the same word error rate as f32 on every test set,
    /// about 1.4x faster on a 30 s clip) and f32 elsewhere; `f32` is the exact path (f32
    /// encoder and K/V); `bf16` as for `encode`.
    #[arg(long, value_enum, default_value_t = TranscribePrecisionArg::Auto)]
    pub precision: TranscribePrecisionArg,

    /// How each window's cross-attention keys and values are kept (every decoding step reads
    /// all of them): `auto` follows --precision (f32 K/V with f32, the exact path; f16
    /// otherwise: 11 significant bits, ~15% less time per token here, no test transcript
    /// changed).
    #[arg(long, value_enum, default_value_t = KvStorageArg::Auto)]
    pub kv_storage: KvStorageArg,

    /// Spoken language as a code (en, de, fr, ...); detected from the first 30 s when absent.
    #[arg(long, value_name = "CODE")]
    pub language: Option<String>,

    /// `transcribe` keeps the spoken language; `translate` writes English (multilingual models).
    #[arg(long, value_enum, default_value_t = TaskArg::Transcribe)]
    pub task: TaskArg,

    /// Transcript format on stdout (or in `-o`): plain text (one segment per line), SubRip,
    /// WebVTT, or JSON with segments, timings and placement.
    #[arg(short = 'f', long, value_enum, default_value_t = TranscriptFormat::Txt)]
    pub format: TranscriptFormat,

    /// Write the transcript to this file instead of stdout; a directory (existing, or ending
    /// in `/`) gets one `<input name>.<format>` per input.
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub decoding: DecodingArgs,

    #[command(flatten)]
    pub words: WordArgs,

    #[command(flatten)]
    pub vad: VadArgs,

    #[command(flatten)]
    pub limits: AudioLimitArgs,
}

/// Decoding options; defaults are faster-whisper `transcribe()`'s (except
/// `--condition-on-previous-text`, off by default).
#[derive(Debug, Args)]
#[command(next_help_heading = "Decoding")]
pub struct DecodingArgs {
    /// Beam search width at temperature 0 (1 decodes greedily).
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub beam_size: usize,

    /// Samples drawn at each temperature above 0; the likeliest is kept.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub best_of: usize,

    /// The beam search ends once beam-size x patience hypotheses have finished.
    #[arg(long, default_value_t = 1.0, value_name = "F")]
    pub patience: f32,

    /// Hypotheses rank by sum of log-probabilities / length^F (0: no normalisation).
    #[arg(long, default_value_t = 1.0, value_name = "F")]
    pub length_penalty: f32,

    /// Decode at temperature 0 only: no retries at higher temperatures when a decode repeats
    /// itself or is improbable.
    #[arg(long)]
    pub no_fallback: bool,

    /// A decode whose text compresses better than this (gzip ratio) is a repetition loop and
    /// is retried at the next temperature (`off` disables).
    #[arg(long, default_value = "2.4", value_name = "F", value_parser = parse_threshold)]
    pub compression_ratio_threshold: Threshold,

    /// A decode whose mean log-probability is below this is retried at the next temperature
    /// (`off` disables).
    #[arg(long, default_value = "-1.0", value_name = "F", value_parser = parse_threshold, allow_hyphen_values = true)]
    pub log_prob_threshold: Threshold,

    /// A window whose no-speech probability is above this, and whose decode is improbable, is
    /// skipped as silence (`off` disables).
    #[arg(long, default_value = "0.6", value_name = "F", value_parser = parse_threshold)]
    pub no_speech_threshold: Threshold,

    /// Prompt each window with the text decoded so far (faster-whisper's default). Off by
    /// default here, as in WhisperX: one bad window can then derail the next, and on this
    /// project's long test recording it made faster-whisper drop two windows.
    #[arg(long)]
    pub condition_on_previous_text: bool,

    /// With --condition-on-previous-text: forget the previous text after a window decoded
    /// above this temperature.
    #[arg(long, default_value_t = 0.5, value_name = "F")]
    pub prompt_reset_on_temperature: f32,

    /// Text before the first window: names, spellings and style the transcript should follow.
    #[arg(long, value_name = "TEXT")]
    pub initial_prompt: Option<String>,

    /// Words or phrases to prefer, put in every window's prompt.
    #[arg(long, value_name = "TEXT")]
    pub hotwords: Option<String>,

    /// Token ids never decoded, comma-separated; -1 stands for the model's non-speech symbols.
    #[arg(
        long,
        default_value = "-1",
        value_name = "IDS",
        value_delimiter = ',',
        allow_hyphen_values = true
    )]
    pub suppress_tokens: Vec<i64>,

    /// Decode text only, without timestamp tokens: one segment per 30 s window.
    #[arg(long)]
    pub without_timestamps: bool,

    /// A window's first timestamp is at most this many seconds.
    #[arg(long, default_value_t = 1.0, value_name = "S")]
    pub max_initial_timestamp: f64,
}

/// Word timestamps and the subtitle layout they allow (as OpenAI's command line).
#[derive(Debug, Args)]
#[command(next_help_heading = "Words and subtitles")]
pub struct WordArgs {
    /// Time every word (from the cross-attention of the model's alignment heads, as OpenAI
    /// and faster-whisper do): `-f json` gives each segment a `words` list, and segment bounds
    /// follow their words.
    #[arg(long)]
    pub word_timestamps: bool,

    /// With --word-timestamps: these marks join the following word.
    #[arg(long, default_value = "\"'“¿([{-", value_name = "CHARS")]
    pub prepend_punctuations: String,

    /// With --word-timestamps: these marks join the preceding word.
    #[arg(long, default_value = "\"'.。,，!！?？:：”)]}、", value_name = "CHARS")]
    pub append_punctuations: String,

    /// srt/vtt with --word-timestamps: characters per line before a line break.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_line_width: Option<u32>,

    /// srt/vtt with --word-timestamps and --max-line-width: lines per cue (cues then no
    /// longer follow segments).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_line_count: Option<u32>,

    /// srt/vtt with --word-timestamps, without --max-line-width: words per line.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_words_per_line: Option<u32>,

    /// srt/vtt with --word-timestamps: one cue per word, the word underlined (karaoke style).
    #[arg(long)]
    pub highlight_words: bool,
}

/// Voice activity detection (faster-whisper's `vad_filter` and `VadOptions`, same defaults).
#[derive(Debug, Args)]
#[command(next_help_heading = "Voice activity detection")]
pub struct VadArgs {
    /// Find speech with Silero VAD v6 first (fetched on first use as `silero-vad`) and work on
    /// speech only; times stay those of the recording. Whisper's words on silence and noise
    /// ("you", "Thank you.") go away.
    #[arg(long)]
    pub vad: bool,

    /// With --vad: a 32 ms chunk whose speech probability is at least this is speech.
    #[arg(long, default_value_t = 0.5, value_name = "P", value_parser = parse_probability)]
    pub vad_threshold: f32,

    /// With --vad: below this probability always silence; between it and --vad-threshold,
    /// speech only if the chunk before was [default: --vad-threshold - 0.15, at least 0.01].
    #[arg(long, value_name = "P", value_parser = parse_probability)]
    pub vad_neg_threshold: Option<f32>,

    /// With --vad: speech shorter than this is dropped.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub vad_min_speech_duration_ms: u32,

    /// With --vad: longer speech is split (at a pause of more than 98 ms where there is one).
    #[arg(long, default_value = "inf", value_name = "S", value_parser = parse_positive_seconds)]
    pub vad_max_speech_duration_s: f64,

    /// With --vad: silence this long ends a stretch of speech.
    #[arg(long, default_value_t = 2000, value_name = "MS")]
    pub vad_min_silence_duration_ms: u32,

    /// With --vad: padding kept on each side of a stretch of speech.
    #[arg(long, default_value_t = 400, value_name = "MS")]
    pub vad_speech_pad_ms: u32,

    /// With --vad: the VAD weights (a .safetensors file `convert` wrote, or the .onnx file)
    /// instead of the cached silero-vad.
    #[arg(long, value_name = "FILE")]
    pub vad_model: Option<PathBuf>,
}

fn parse_probability(text: &str) -> Result<f32, String> {
    text.trim()
        .parse::<f32>()
        .ok()
        .filter(|p| (0.0..=1.0).contains(p))
        .ok_or_else(|| format!("`{text}` is not a probability between 0 and 1"))
}

fn parse_positive_seconds(text: &str) -> Result<f64, String> {
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0 && !s.is_nan())
        .ok_or_else(|| format!("`{text}` is not a number of seconds above 0 (or `inf`)"))
}

/// A fallback threshold, or `off`.
pub type Threshold = Option<f64>;

fn parse_threshold(text: &str) -> Result<Threshold, String> {
    match text.trim() {
        "off" | "none" => Ok(None),
        t => t
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(Some)
            .ok_or_else(|| format!("`{text}` is not a number (or `off`)")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TaskArg {
    Transcribe,
    Translate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TranscriptFormat {
    Txt,
    Srt,
    Vtt,
    Json,
}

impl TranscriptFormat {
    pub fn extension(self) -> &'static str {
        match self {
            TranscriptFormat::Txt => "txt",
            TranscriptFormat::Srt => "srt",
            TranscriptFormat::Vtt => "vtt",
            TranscriptFormat::Json => "json",
        }
    }
}

/// Devices the encoder can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeviceArg {
    Auto,
    Cpu,
    Npu,
    NpuSim,
}

/// The op kinds of the encoder plan (`--cpu-ops`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OpKindArg {
    /// conv1/conv2 (as im2col GEMMs)
    Conv,
    /// QKV, out-projection, fc1, fc2
    Matmul,
    /// scaled dot-product attention, all heads
    Attention,
    Layernorm,
    Gelu,
    /// residual and positional adds
    Add,
}

impl From<OpKindArg> for crate::OpKind {
    fn from(arg: OpKindArg) -> Self {
        use crate::OpKind;
        match arg {
            OpKindArg::Conv => OpKind::Conv,
            OpKindArg::Matmul => OpKind::Matmul,
            OpKindArg::Attention => OpKind::Attention,
            OpKindArg::Layernorm => OpKind::LayerNorm,
            OpKindArg::Gelu => OpKind::Gelu,
            OpKindArg::Add => OpKind::Add,
        }
    }
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// A CTranslate2 Whisper `model.bin` (binary format 6), with `config.json` and
    /// `tokenizer.json` beside it, as faster-whisper models ship; or `silero_vad_v6.onnx`
    /// from the faster-whisper wheel (its weights become a float32 safetensors file).
    #[arg(value_name = "MODEL.bin|VAD.onnx")]
    pub model_bin: PathBuf,

    /// Output directory (Hugging Face hub layout: config.json, generation_config.json,
    /// tokenizer.json, model.safetensors); for the VAD, a `.safetensors` file (or a directory
    /// to hold silero_vad_v6.safetensors).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,

    /// Precision of the written weights.
    #[arg(long, value_enum, default_value_t = DtypeArg::F16)]
    pub dtype: DtypeArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PrecisionArg {
    F32,
    Bf16,
}

/// `transcribe --kv-storage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KvStorageArg {
    Auto,
    F32,
    F16,
}

/// `transcribe --precision`: the text, not the embeddings, is the product, so bf16 is the
/// default where the CPU computes it natively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TranscribePrecisionArg {
    Auto,
    F32,
    Bf16,
}

impl From<TranscribePrecisionArg> for crate::Precision {
    fn from(arg: TranscribePrecisionArg) -> Self {
        match arg {
            TranscribePrecisionArg::Auto => crate::Precision::Auto,
            TranscribePrecisionArg::F32 => crate::Precision::F32,
            TranscribePrecisionArg::Bf16 => crate::Precision::Bf16,
        }
    }
}

impl From<DeviceArg> for crate::Device {
    fn from(arg: DeviceArg) -> Self {
        use crate::Device;
        match arg {
            DeviceArg::Auto => Device::Auto,
            DeviceArg::Cpu => Device::Cpu,
            DeviceArg::Npu => Device::Npu,
            DeviceArg::NpuSim => Device::NpuSim,
        }
    }
}

impl From<PrecisionArg> for crate::Precision {
    fn from(arg: PrecisionArg) -> Self {
        match arg {
            PrecisionArg::F32 => crate::Precision::F32,
            PrecisionArg::Bf16 => crate::Precision::Bf16,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DtypeArg {
    F16,
    F32,
}

#[derive(Debug, Args)]
pub struct MelArgs {
    /// Audio file (WAV, MP3, FLAC, Ogg Vorbis); `-` reads standard input.
    #[arg(value_name = "AUDIO")]
    pub audio: PathBuf,

    /// Output .npy file of shape (windows, n_mels, 3000); `-` writes it to standard output.
    #[arg(short, long, value_name = "OUT.npy")]
    pub output: PathBuf,

    /// Mel bins: 80 (tiny ... large-v2) or 128 (large-v3).
    #[arg(long, default_value_t = 80, value_parser = parse_n_mels)]
    pub n_mels: usize,

    #[command(flatten)]
    pub limits: AudioLimitArgs,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Model to benchmark (as `encode --model`; fetched when not cached) [default: none:
    /// synthetic weights of `--size`'s dimensions, so bench runs with nothing fetched].
    #[arg(long, value_name = "MODEL", conflicts_with = "size")]
    pub model: Option<String>,

    /// Dimensions of the synthetic model: any catalogue size (tiny ... large-v3,
    /// large-v3-turbo, distil-large-v3, ...) [default: base].
    #[arg(long, value_name = "SIZE")]
    pub size: Option<String>,

    /// Encoder layers to run (default: all of the model).
    #[arg(long, value_name = "N")]
    pub layers: Option<NonZeroUsize>,

    /// Where to run the encoder (see `encode --device`).
    #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
    pub device: DeviceArg,

    /// Arithmetic of the CPU path's GEMMs (see `encode --precision`).
    #[arg(long, value_enum, default_value_t = PrecisionArg::F32)]
    pub precision: PrecisionArg,

    /// Timed runs of one 30 s window.
    #[arg(long, default_value_t = 5, value_name = "K")]
    pub iterations: usize,

    /// Untimed runs first.
    #[arg(long, default_value_t = 1, value_name = "W")]
    pub warmup: usize,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {}

fn parse_n_mels(value: &str) -> Result<usize, String> {
    match value.parse::<usize>() {
        Ok(n) if crate::mel::SUPPORTED_N_MELS.contains(&n) => Ok(n),
        _ => Err(format!("must be 80 or 128, got `{value}`")),
    }
}

/// Output file format for directory outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    Npy,
    Safetensors,
}

impl FormatArg {
    pub fn extension(self) -> &'static str {
        match self {
            FormatArg::Npy => "npy",
            FormatArg::Safetensors => "safetensors",
        }
    }
}

/// `I/N` with I < N.
fn parse_shard(text: &str) -> Result<(usize, usize), String> {
    let (i, n) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}` is not I/N (e.g. 0/4)"))?;
    let i: usize = i
        .trim()
        .parse()
        .map_err(|_| format!("`{i}` is not a number"))?;
    let n: usize = n
        .trim()
        .parse()
        .map_err(|_| format!("`{n}` is not a number"))?;
    if n == 0 || i >= n {
        return Err(format!("shard {i}/{n}: need 0 <= I < N"));
    }
    Ok((i, n))
}

/// The clap command, for the man page and completions.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// The completion script for `shell` (`npu-whisper completions SHELL`, and the committed
/// copies under `completions/` that the Debian package installs).
pub fn completion_script(shell: clap_complete::Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command(), "npu-whisper", &mut out);
    out
}

/// The man page: the top-level page clap_mangen renders (synopsis, global options, the list
/// of subcommands, exit codes), then one section per subcommand (nested ones as
/// `model fetch`) with its description and its options under their help headings as
/// subsections, so every flag of every subcommand is in `man npu-whisper`.
#[cfg(test)]
pub fn man_page() -> Vec<u8> {
    let mut out = Vec::new();
    // The bare version: the page is committed, and the git revision changes with every commit.
    let top = command().long_version(None::<&str>);
    clap_mangen::Man::new(top.clone())
        .render(&mut out)
        .expect("writing to memory");
    // clap_mangen names a page per subcommand (npu-whisper-encode(1)); this one page holds them
    // all, each in its own section below, so point there instead.
    let mut text = String::from_utf8(out).expect("roff is text");
    for sub in top.get_subcommands() {
        let name = sub.get_name().replace('-', "\\-");
        let section = if sub.get_name() == "help" {
            String::new()
        } else {
            format!(" (section {} below)", sub.get_name().to_uppercase())
        };
        text = text.replace(
            &format!("npu\\-whisper\\-{name}(1)"),
            &format!("\\fBnpu\\-whisper {name}\\fR{section}"),
        );
    }
    let mut out = text.into_bytes();
    let mut pending: Vec<(String, clap::Command)> = top
        .get_subcommands()
        .map(|s| (s.get_name().to_string(), s.clone()))
        .collect();
    while !pending.is_empty() {
        let (path, sub) = pending.remove(0);
        out.extend_from_slice(format!(".SH \"{}\"\n", path.to_uppercase()).as_bytes());
        if let Some(about) = sub.get_long_about().or(sub.get_about()) {
            let text = about
                .to_string()
                .replace('\\', "\\\\")
                .replace("\n.", "\n\\&.");
            out.extend_from_slice(format!("{text}\n").as_bytes());
        }
        let mut options = Vec::new();
        clap_mangen::Man::new(sub.clone())
            .render_options_section(&mut options)
            .expect("writing to memory");
        // The subcommand's option headings become subsections of its section.
        let options = String::from_utf8(options).expect("roff is text");
        for line in options.lines() {
            let line = line
                .strip_prefix(".SH ")
                .map_or(line.to_string(), |h| format!(".SS {h}"));
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
        let nested: Vec<(String, clap::Command)> = sub
            .get_subcommands()
            .map(|s| (format!("{path} {}", s.get_name()), s.clone()))
            .collect();
        for (k, n) in nested.into_iter().enumerate() {
            pending.insert(k, n);
        }
    }
    out
}

/// An error as the command line words it: an option the library refused is named by its flag.
pub fn describe(error: &crate::Error) -> String {
    match error {
        crate::Error::InvalidOption {
            option,
            value,
            reason,
        } => match flag_of(*option) {
            Some(flag) => format!("{flag} {value}: {reason}"),
            None => error.to_string(),
        },
        crate::Error::ConflictingOptions {
            option,
            other,
            other_value,
        } => match (flag_of(*option), flag_of(*other)) {
            (Some(flag), Some(other_flag)) => {
                format!("{flag} contradicts {other_flag} {other_value}")
            }
            _ => error.to_string(),
        },
        _ => error.to_string(),
    }
}

/// The flag that sets a decoding option (none: set only through other flags).
fn flag_of(option: crate::OptionName) -> Option<&'static str> {
    use crate::OptionName as O;
    Some(match option {
        O::Language => "--language",
        O::Task => "--task",
        O::BeamSize => "--beam-size",
        O::BestOf => "--best-of",
        O::Patience => "--patience",
        O::LengthPenalty => "--length-penalty",
        O::WordTimestamps => "--word-timestamps",
        O::InitialPrompt => "--initial-prompt",
        O::Hotwords => "--hotwords",
        O::Device => "--device",
        O::RequireNpu => "--require-npu",
        O::Precision => "--precision",
        O::EncoderLayers => "--layers",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn global_flags_are_accepted_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "npu-whisper",
            "mel",
            "a.wav",
            "-o",
            "b.npy",
            "--json",
            "-vv",
        ])
        .unwrap();
        assert!(cli.global.json);
        assert_eq!(cli.global.verbose, 2);
        let cli = Cli::try_parse_from(["npu-whisper", "--threads", "2", "doctor"]).unwrap();
        assert_eq!(cli.global.threads.map(|n| n.get()), Some(2));
    }

    #[test]
    fn n_mels_accepts_only_published_sizes() {
        assert!(
            Cli::try_parse_from(["npu-whisper", "mel", "a", "-o", "b", "--n-mels", "64"]).is_err()
        );
        assert!(
            Cli::try_parse_from(["npu-whisper", "mel", "a", "-o", "b", "--n-mels", "128"]).is_ok()
        );
    }
}
