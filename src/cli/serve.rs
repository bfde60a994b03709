//! `npu-whisper serve`'s flags: where it listens, which models it keeps loaded, how much it
//! admits, and the decoding defaults (those of `transcribe`, so one file gives one text).

use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::Args;

use super::{DecodingArgs, DeviceArg, KvStorageArg, TranscribePrecisionArg, VadArgs};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; the default answers this machine only (put a reverse proxy or
    /// 0.0.0.0 with --api-key-file in front of anything wider).
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDR")]
    pub host: String,

    /// HTTP port (OpenAI-compatible API, embeddings, /health, /metrics); 0 picks a free port
    /// (printed on stderr).
    #[arg(long, default_value_t = 8000, value_name = "PORT")]
    pub port: u16,

    /// Model to keep loaded; repeat for several (requests name one in `model`; the first
    /// also answers OpenAI's `whisper-1`) [default: $NPU_WHISPER_MODEL, else base].
    #[arg(long, value_name = "MODEL")]
    pub model: Vec<String>,

    /// Where to run the encoder; as for `encode`.
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,

    /// Refuse to start (exit 4) instead of using the CPU when the NPU is unavailable.
    #[arg(long)]
    pub require_npu: bool,

    /// The encoder's arithmetic; as for `transcribe`.
    #[arg(long, value_enum, default_value_t = TranscribePrecisionArg::Auto)]
    pub precision: TranscribePrecisionArg,

    /// Cross-attention key/value storage; as for `transcribe`.
    #[arg(long, value_enum, default_value_t = KvStorageArg::Auto)]
    pub kv_storage: KvStorageArg,

    /// A file holding the API key clients must send as `Authorization: Bearer KEY`
    /// (surrounding whitespace ignored); /health and /metrics need none. Without it, no key
    /// is asked for.
    #[arg(long, value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,

    /// Requests transcribed or encoded at once; each uses the whole CPU pool for its matrix
    /// products, so 1 (the default) keeps every request fastest. More can help on many cores
    /// (measure with `cargo bench --bench serve_load`, docs/service.md).
    #[arg(long, value_name = "N")]
    pub max_concurrency: Option<NonZeroUsize>,

    /// Requests waiting for a turn beyond those running; more are refused with 429 and
    /// Retry-After. A request takes its place only once its upload has arrived whole.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub queue: usize,

    /// Open connections (HTTP and Wyoming together); a connection over it is answered 503 (a
    /// Wyoming `error` event) and closed. Each may hold one upload in memory while it arrives,
    /// so this times --max-upload-mb bounds what uploads in progress can cost; the default
    /// leaves room for a full queue plus as many uploads arriving.
    #[arg(long, default_value_t = 128, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// Largest upload in MB (decimal, as OpenAI's 25 MB limit); larger bodies get 413 as soon
    /// as the limit is crossed, without reading the rest.
    #[arg(long, default_value_t = 25, value_name = "MB")]
    pub max_upload_mb: u64,

    /// Longest recording in seconds, after decoding; longer ones get 400.
    #[arg(long, default_value_t = 7200.0, value_name = "S")]
    pub max_audio_s: f64,

    /// Seconds a client may take to send its request headers, and to send its whole upload
    /// (408 past it: a 25 MB upload needs about 7 Mbit/s at the default); a Wyoming client may
    /// be silent no longer than this, and its audio may fall behind real time by no more.
    #[arg(long, default_value_t = 30, value_name = "S")]
    pub client_timeout_s: u64,

    /// Also serve the Wyoming protocol (Home Assistant's speech-to-text) on this TCP port, on
    /// the same address. Wyoming has no authentication: with --api-key-file on an address
    /// beyond loopback it needs --wyoming-unauthenticated.
    #[arg(long, value_name = "PORT")]
    pub wyoming_port: Option<u16>,

    /// Serve Wyoming beyond loopback although --api-key-file protects the HTTP API (anyone who
    /// reaches the Wyoming port can transcribe without the key).
    #[arg(long, requires = "wyoming_port")]
    pub wyoming_unauthenticated: bool,

    /// On SIGTERM or Ctrl-C: seconds to finish the requests already accepted (new ones get
    /// 503); those still running then are cancelled and the service exits 1.
    #[arg(long, default_value_t = 60, value_name = "S")]
    pub grace_s: u64,

    #[command(flatten)]
    pub decoding: DecodingArgs,

    #[command(flatten)]
    pub vad: VadArgs,
}
