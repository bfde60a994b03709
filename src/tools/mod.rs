//! Tooling beside the main API, public so that other front ends can offer what the
//! `npu-whisper` binary offers: the machine check (`doctor`), the model converters, random
//! models of every published size, the NPU kernels' validation, facts about this machine, the
//! Ctrl-C handling that stops long runs at a clean point, and the writers of `.npy` and
//! `.safetensors` files (`export`).

pub mod export;
mod machine;

pub use crate::hub::progress::human_bytes;
pub use machine::{MachineInfo, cpu_gemm_peak_gflops, machine_info};

use std::path::{Path, PathBuf};

use crate::doctor::Environment;
use crate::error::{Error, Result};
use crate::npu::device::probe::{Identity, InfoSource, RealDevice};
use crate::vad;

pub use crate::doctor::{Check as DoctorCheck, Report as DoctorReport, Status as CheckStatus};
pub use crate::model::ct2::{ConvertReport, OutputDtype as WeightDtype};

/// Test hook: a fixture tree used as the filesystem root, its `device.json` answering the ioctls.
const DOCTOR_ROOT_ENV: &str = "NPU_WHISPER_DOCTOR_ROOT";

/// Check everything the NPU path needs on this machine, in order (CPU, kernel, PCI device,
/// driver, firmware, device node, access, device info, contexts, locked memory, XRT, kernels,
/// models), each with what was found and the exact fix.
pub fn doctor() -> DoctorReport {
    let root = std::env::var_os(DOCTOR_ROOT_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"));
    let fixture = (root != Path::new("/"))
        .then(|| crate::doctor::fixture_device_from(&root))
        .flatten();
    let real = RealDevice;
    let device: &dyn InfoSource = match &fixture {
        Some(f) => f,
        None => &real,
    };
    crate::doctor::run(&Environment {
        root,
        identity: Identity::current(),
        device,
        xclbin_dirs: crate::npu::xclbin_search_dirs(),
        models: crate::hub::list(&crate::hub::Settings::from_env(true)),
        xrt: crate::npu::xrt_runtime(),
    })
}

/// Import a CTranslate2 Whisper model (`model.bin`, with `config.json` and `tokenizer.json`
/// beside it, as faster-whisper's models ship) into the Hugging Face layout under `out_dir`.
pub fn convert_ctranslate2(
    model_bin: &Path,
    out_dir: &Path,
    dtype: WeightDtype,
) -> Result<ConvertReport> {
    crate::model::ct2::convert(model_bin, out_dir, dtype)
}

/// What [`convert_silero_vad`] wrote.
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct VadConvertReport {
    /// The safetensors file written.
    pub output: PathBuf,
    /// Tensors in it.
    pub tensors: usize,
    /// float32 values in all.
    pub parameters: usize,
}

/// Silero VAD v6's ONNX file (as the `faster-whisper` wheel ships it) to the safetensors file
/// [`Vad::open`](crate::Vad::open) loads. `output` may be a directory (ending in `/` or
/// existing): the file is then written there under its standard name.
pub fn convert_silero_vad(onnx: &Path, output: &Path) -> Result<VadConvertReport> {
    let tensors = vad::weights::import_onnx_file(onnx)?;
    let output = if output.is_dir() || output.to_string_lossy().ends_with('/') {
        std::fs::create_dir_all(output).map_err(|source| Error::WriteOutput {
            path: output.to_path_buf(),
            source,
        })?;
        output.join(vad::weights::WEIGHTS_FILE)
    } else {
        output.to_path_buf()
    };
    vad::weights::write(&tensors, &output)?;
    Ok(VadConvertReport {
        output,
        tensors: tensors.len(),
        parameters: tensors.values().map(|(_, v)| v.len()).sum(),
    })
}

/// Make Ctrl-C and SIGTERM stop long runs at a clean point: encoding and transcription return
/// [`ErrorKind::Interrupted`](crate::ErrorKind) between windows, and a second signal ends the
/// process at once (exit 130). For programs that own their process, once, early in `main`.
pub fn install_signal_handlers() {
    crate::interrupt::install();
}

/// `Err` with [`ErrorKind::Interrupted`](crate::ErrorKind) once a signal has arrived (after
/// [`install_signal_handlers`]): for a caller's own loops between files.
pub fn check_interrupted() -> Result<()> {
    crate::interrupt::check()
}

/// A model [`write_random_model`] wrote.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RandomModel {
    /// Its dimensions (with the layer counts asked for).
    pub config: crate::ModelConfig,
    /// Bytes of the weights file.
    pub file_bytes: u64,
    /// Bytes of the encoder's tensors in it.
    pub encoder_bytes: u64,
}

/// Write a model directory of a published size (`tiny` ... `large-v3-turbo`, `distil-*`) with
/// random weights and the real shapes and vocabulary, for tests and benchmarks of programs
/// built on this crate: it opens, encodes and transcribes like the real model. Its decoder is
/// built to detect the vocabulary's last language (`yue` for large-v3's vocabulary, `su`
/// otherwise, `en` for English-only) and end each window at once.
///
/// `encoder_layers` and `decoder_layers` may be fewer than the published model's (a one-layer
/// large-v3 is 300 MB instead of 3 GB); `seed` picks the weights. The tokenizer and generation
/// config are derived from the cached `base` (multilingual) or `tiny.en` (English-only), which
/// must have been fetched (`npu-whisper model fetch base tiny.en`);
/// [`write_random_model_with_vocabulary`] takes them from another directory.
pub fn write_random_model(
    dir: &Path,
    size: &str,
    encoder_layers: Option<usize>,
    decoder_layers: Option<usize>,
    seed: u64,
) -> Result<RandomModel> {
    let (_, config) = crate::api::model::published_size(size)?;
    let template = crate::model::cache_dir().join(if config.vocab_size == 51864 {
        "tiny.en"
    } else {
        "base"
    });
    if !template.join("tokenizer.json").is_file() {
        return Err(Error::fetch(
            template.display().to_string(),
            "a random model borrows its vocabulary from the cached base or tiny.en: fetch them with `npu-whisper model fetch base tiny.en`",
        ));
    }
    write_random_model_with_vocabulary(dir, size, encoder_layers, decoder_layers, seed, &template)
}

/// [`write_random_model`] with the vocabulary taken from `vocabulary`: a directory holding a
/// model of the same family's `tokenizer.json` (or `tokenizer.json.gz`) and
/// `generation_config.json` (multilingual for every size but the `.en` ones; large-v3's
/// vocabulary is derived from the multilingual one).
pub fn write_random_model_with_vocabulary(
    dir: &Path,
    size: &str,
    encoder_layers: Option<usize>,
    decoder_layers: Option<usize>,
    seed: u64,
    vocabulary: &Path,
) -> Result<RandomModel> {
    let (_, mut config) = crate::api::model::published_size(size)?;
    config.encoder_layers = encoder_layers.unwrap_or(config.encoder_layers);
    config.decoder_layers = decoder_layers.unwrap_or(config.decoder_layers);
    let written = crate::model::random::write(dir, &config, vocabulary, seed)?;
    Ok(RandomModel {
        config,
        file_bytes: written.file_bytes,
        encoder_bytes: written.encoder_bytes,
    })
}

/// One kernel at one shape, on the device against the simulator.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KernelCheck {
    /// The manifest's kernel name.
    pub kernel: String,
    /// The shape key (`m1536_k512_n1536`, ...), as in the instruction-stream file name.
    pub shape: String,
    /// Output elements compared bit for bit.
    pub elements: usize,
    /// Of those, the elements that are NaN on both sides (a NaN's sign and payload are not
    /// compared).
    pub nan: usize,
    /// Wall time of the single run (host syncs included).
    pub measured_ms: Option<f64>,
    /// The cost model's range for this call on NPU1 and on NPU4-6 (projected, not measured).
    pub projected_ms: Vec<(String, crate::api::NpuCostBound)>,
    /// The first differing element: buffer, index, device value, simulator value, how many
    /// differ; `None` when every element is bit-identical.
    pub first_mismatch: Option<String>,
    /// The run's error, if it failed.
    pub error: Option<String>,
}

/// Every kernel of the given model sizes' encoders on an NPU device, against the simulator.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KernelValidation {
    /// `npu` (the real NPU through XRT) or `npu-sim` (the simulator against itself: a dry run).
    pub device: String,
    /// Each distinct call, run alone.
    pub calls: Vec<KernelCheck>,
    /// All of them again as one submission: how it went (a runlist, or single runs and why).
    pub together: serde_json::Value,
    /// Wall time of that submission, against the sum of the single runs.
    pub together_ms: f64,
    /// Calls whose outputs differed, or that failed, in the submission.
    pub together_failed: usize,
    /// The dataflow emulator's figures, when it was the device.
    pub emulator: Option<EmulatorStats>,
}

/// Where `validate_npu_kernels` runs the kernels it compares with the simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelTarget {
    /// The real NPU through XRT (fails with [`Error::NpuUnavailable`] naming what is missing).
    Npu,
    /// The simulator against itself: a dry run of the whole path.
    Simulator,
    /// `xclbin/kernels/nw_kernels.cc` compiled for this machine (scripts/test-kernels-native
    /// builds the library at this path).
    Native(PathBuf),
    /// The IRON designs executed at dataflow level: the command that starts
    /// `xclbin/designs/emulate.py --serve` (scripts/emulate-npu gives it).
    Emulator(Vec<std::ffi::OsString>),
}

pub use crate::npu::emulated::EmulatorStats;

pub use crate::npu::validate::Values as KernelValues;

/// A device to validate on, and the emulator again when it is one (to read its figures after).
type KernelDevice = (
    Box<dyn crate::npu::dispatch::NpuDevice>,
    Option<std::sync::Arc<crate::npu::emulated::Emulator>>,
);

/// The device of `target`.
fn open_kernel_device(target: &KernelTarget) -> Result<KernelDevice> {
    Ok(match target {
        KernelTarget::Simulator => (Box::new(crate::npu::sim::Simulator), None),
        KernelTarget::Npu => (
            crate::npu::open_device().map_err(Error::NpuUnavailable)?,
            None,
        ),
        KernelTarget::Native(path) => (
            Box::new(crate::npu::native::NativeKernels::load(path).map_err(Error::NpuUnavailable)?),
            None,
        ),
        KernelTarget::Emulator(command) => {
            let emulator = std::sync::Arc::new(
                crate::npu::emulated::Emulator::start(command).map_err(Error::NpuUnavailable)?,
            );
            (Box::new(emulator.clone()), Some(emulator))
        }
    })
}

/// Validate every kernel the encoders of `sizes` (catalogue names: tiny, base, ...) use on
/// `target`, against the simulator, on `sets` input sets of the kind `values`.
pub fn validate_npu_kernels(
    sizes: &[String],
    target: &KernelTarget,
    values: KernelValues,
    sets: u64,
) -> Result<KernelValidation> {
    let (boxed, emulator) = open_kernel_device(target)?;
    let device = boxed.as_ref();
    let mut calls = Vec::new();
    for size in sizes {
        let mut config = crate::hub::catalogue::lookup(size)
            .and_then(|e| e.dims)
            .ok_or_else(|| Error::Usage(format!("unknown model size `{size}`")))?
            .config();
        config.encoder_layers = 1;
        calls.extend(crate::npu::validate::calls_for(&config));
    }
    let distinct: Vec<_> = crate::npu::validate::distinct(&calls)
        .into_iter()
        .cloned()
        .collect();
    let checks: Vec<KernelCheck> = distinct
        .iter()
        .map(|call| crate::npu::validate::validate_call_sets(call, device, values, sets))
        .zip(&distinct)
        .map(|(r, call)| KernelCheck {
            kernel: r.kernel.name().to_string(),
            shape: r.shape,
            elements: r.elements,
            nan: r.nan,
            measured_ms: r.ms,
            projected_ms: [&crate::npu::cost::NPU1, &crate::npu::cost::NPU4]
                .into_iter()
                .map(|d| {
                    let one = std::slice::from_ref(call);
                    (d.name.to_string(), crate::npu::cost::project(one, d).ms)
                })
                .collect(),
            first_mismatch: r.first_mismatch.map(|m| {
                format!(
                    "{}[{}]: device {} simulator {} ({} differ)",
                    m.buffer, m.index, m.device, m.simulator, m.mismatched
                )
            }),
            error: r.error,
        })
        .collect();
    // On a device with runlists, all calls again as one submission; the software devices run
    // calls one at a time, so that would repeat the single runs.
    let (submission, together_ms, reports) = match target {
        KernelTarget::Npu | KernelTarget::Simulator => {
            crate::npu::validate::submit_together(&distinct, device)
        }
        _ => (
            Err("not repeated: this device runs calls one at a time".to_string()),
            0.0,
            Vec::new(),
        ),
    };
    Ok(KernelValidation {
        device: match target {
            KernelTarget::Npu => "npu",
            KernelTarget::Simulator => "npu-sim",
            KernelTarget::Native(_) => "native",
            KernelTarget::Emulator(_) => "emulator",
        }
        .to_string(),
        calls: checks,
        together: match submission {
            Ok(s) => serde_json::to_value(s).unwrap_or_default(),
            Err(e) => serde_json::json!({ "error": e }),
        },
        together_ms,
        together_failed: reports.iter().filter(|r| !r.passed()).count(),
        emulator: emulator.map(|e| e.stats()),
    })
}

/// One encoder window run with every op on the dataflow emulator, against the simulator.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WindowCheck {
    /// Catalogue size and encoder layers (synthetic weights of that size).
    pub size: String,
    /// Encoder layers of the synthetic model.
    pub layers: usize,
    /// Device calls of the window (every one went through the emulator).
    pub calls: usize,
    /// Encoder output elements compared.
    pub elements: usize,
    /// None when the emulated window's output is bit-identical to the simulator's; otherwise
    /// the first differing element and how many differ.
    pub first_difference: Option<String>,
    /// The emulator's figures for the window.
    pub emulator: EmulatorStats,
    /// Wall time of the emulated window, seconds.
    pub emulated_seconds: f64,
    /// Wall time of the simulated window (model arranged and window encoded), seconds.
    pub simulated_seconds: f64,
}

/// Encode one window of a synthetic model of `size` with `layers` encoder layers, every op on
/// the dataflow emulator started by `command`, and compare its output with the simulator's,
/// bit for bit. The log-mel input is deterministic, in the range of real log-mel features.
pub fn check_window_on_emulator(
    size: &str,
    layers: usize,
    command: &[std::ffi::OsString],
) -> Result<WindowCheck> {
    use crate::exec::{CompiledEncoder, Device, ExecOptions};
    let config = crate::hub::catalogue::lookup(size)
        .and_then(|e| e.dims)
        .ok_or_else(|| Error::Usage(format!("unknown model size `{size}`")))?
        .config();
    let model = crate::model::EncoderModel::synthetic(&config, layers);
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mel: Vec<f32> = (0..config.num_mel_bins * 3000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        })
        .collect();
    let options = ExecOptions {
        device: Device::NpuSim,
        ..ExecOptions::default()
    };
    let started = std::time::Instant::now();
    let simulated = CompiledEncoder::new(&model, options.clone())?;
    let mut sim_state = simulated.state();
    let want = simulated.encode_window(&mut sim_state, &mel)?.to_vec();
    let simulated_seconds = started.elapsed().as_secs_f64();
    let emulator = std::sync::Arc::new(
        crate::npu::emulated::Emulator::start(command).map_err(Error::NpuUnavailable)?,
    );
    let emulated = CompiledEncoder::with_device(&model, options, Box::new(emulator.clone()))?;
    let started = std::time::Instant::now();
    let mut emu_state = emulated.state();
    let got = emulated.encode_window(&mut emu_state, &mel)?.to_vec();
    let emulated_seconds = started.elapsed().as_secs_f64();
    // A call the emulator failed falls back to the CPU (the executor's rule): say which.
    let fallback = emu_state.ledger().iter().find_map(|e| {
        e.fallback
            .as_ref()
            .map(|why| format!("{} fell back to the CPU: {why}", e.name))
    });
    let differs: Vec<usize> = (0..want.len())
        .filter(|&i| got[i].to_bits() != want[i].to_bits())
        .collect();
    Ok(WindowCheck {
        size: size.to_string(),
        layers,
        calls: emulated.calls().len(),
        elements: want.len(),
        first_difference: fallback.or_else(|| {
            differs.first().map(|&i| {
                format!(
                    "element {i} (frame {}, column {}): emulated {:e} simulator {:e}; {} differ",
                    i / config.d_model,
                    i % config.d_model,
                    got[i],
                    want[i],
                    differs.len()
                )
            })
        }),
        emulator: emulator.stats(),
        emulated_seconds,
        simulated_seconds,
    })
}
