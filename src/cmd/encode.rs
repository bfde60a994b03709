//! `npu-whisper encode`: audio -> log-mel -> Whisper encoder -> embeddings, with timings.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use serde_json::json;

use super::{SCHEMA_VERSION, elapsed_ms, print_summary};
use crate::audio::{self, AudioSource, SAMPLE_RATE};
use crate::cli::{DeviceArg, EncodeArgs, GlobalArgs};
use crate::encoder::OpKind;
use crate::error::{Error, Result};
use crate::exec::npu::{FAULT_ENV, Fault};
use crate::exec::{DeviceRequest, ExecOptions, Executor, LedgerEntry, placement_summary};
use crate::export::{self, OutputTarget};
use crate::mel::{self, HOP_LENGTH, LogMel, N_FFT};
use crate::model::config::ENCODER_FRAMES;
use crate::model::{self, Model};
use crate::npu::cost;

/// Audio samples per encoder frame (20 ms): conv2 halves the 10 ms mel frames.
const SAMPLES_PER_FRAME: usize = 2 * HOP_LENGTH;

pub fn run(args: &EncodeArgs, global: &GlobalArgs) -> Result<()> {
    let total = Instant::now();
    let source = AudioSource::from_arg(&args.audio);
    let target = args.output.as_deref().map(OutputTarget::from_arg);
    if let Some(OutputTarget::File(path)) = &target {
        output_format(path)?;
    }

    let started = Instant::now();
    let model_path = model::resolve(args.model.as_deref())?;
    let model = Model::load(&model_path, args.layers.map(|n| n.get()))?;
    let executor_started = Instant::now();
    let mut executor = Executor::new(&model, exec_options(args)?)?;
    // `auto` choosing the CPU is normal on most machines: the summary's `device` line says why.
    // An explicit `--device npu` that cannot be honoured deserves a warning as well.
    if let Some(note) = executor.device_note() {
        if args.device == DeviceArg::Npu {
            tracing::warn!("{note}");
        } else {
            tracing::info!("{note}");
        }
    }
    let config = model.config.clone();
    let (model_name, weights_path) = (model.name.clone(), model.weights_path.clone());
    drop(model); // the executor holds its own arrangement of the weights
    let load_ms = elapsed_ms(started);
    tracing::info!("weights arranged in {:.1} ms", elapsed_ms(executor_started));

    let started = Instant::now();
    let audio = audio::load(&source)?;
    let decode_ms = elapsed_ms(started);

    let started = Instant::now();
    let front_end = LogMel::new(config.num_mel_bins);
    let features = front_end.windows(&audio.samples);
    let mel_ms = elapsed_ms(started);
    let windows = mel::window_count(audio.samples.len());

    let started = Instant::now();
    let d = config.d_model;
    let mut embeddings = Vec::with_capacity(windows * ENCODER_FRAMES * d);
    for window in features.chunks_exact(front_end.window_len()) {
        embeddings.extend_from_slice(executor.encode_window(window)?);
    }
    let encoder_ms = elapsed_ms(started);

    let shape: Vec<usize> = if args.trim {
        let frames = audio.samples.len().div_ceil(SAMPLES_PER_FRAME).max(1);
        embeddings.truncate(frames * d);
        vec![frames, d]
    } else {
        vec![windows, ENCODER_FRAMES, d]
    };

    let ledger = executor.ledger();
    let calls_per_window = executor.calls().len();
    let placement = match calls_per_window {
        0 => placement_summary(ledger),
        n => format!("{} ({n} NPU calls per window)", placement_summary(ledger)),
    };
    let projections: Vec<_> = if calls_per_window > 0 {
        [&cost::NPU1, &cost::NPU4]
            .into_iter()
            .map(|d| cost::project(executor.calls(), d))
            .collect()
    } else {
        Vec::new()
    };
    let started = Instant::now();
    if let Some(target) = &target {
        match target {
            OutputTarget::File(path) if output_format(path)? == "safetensors" => {
                let metadata = provenance(
                    &source,
                    &model_name,
                    &weights_path,
                    config.num_mel_bins,
                    audio.duration_secs(),
                    windows,
                    args.trim,
                    &placement,
                )?;
                export::write_safetensors(target, "embeddings", &shape, &embeddings, metadata)?
            }
            _ => export::write_npy(target, &shape, &embeddings)?,
        }
    }
    let export_ms = elapsed_ms(started);
    let total_ms = elapsed_ms(total);

    let stats = Statistics::of(&embeddings);
    let audio_s = audio.duration_secs();
    let compute_s = (mel_ms + encoder_ms) / 1e3;
    let x_realtime = audio_s / compute_s;
    let rtf = compute_s / audio_s;
    let encoder_flops: f64 = ledger.iter().map(|e| e.flops * e.runs as f64).sum();

    let report = if global.json {
        let doc = json!({
            "schema_version": SCHEMA_VERSION,
            "command": "encode",
            "input": source.display_path(),
            "source": audio.source,
            "duration_s": audio_s,
            "windows": windows,
            "model": {"name": model_name, "path": weights_path, "config": config},
            "layers": executor.plan().layers,
            "shape": shape,
            "statistics": stats,
            "timings_ms": {
                "load": load_ms, "decode": decode_ms, "mel": mel_ms, "encoder": encoder_ms,
                "export": export_ms, "total": total_ms,
            },
            "encoder_ms_per_window": encoder_ms / windows as f64,
            "encoder_gflops_per_s": encoder_flops / (encoder_ms / 1e3) / 1e9,
            "x_realtime": x_realtime,
            "rtf": rtf,
            "device_note": executor.device_note(),
            "placement": placement,
            "npu_calls_per_window": calls_per_window,
            "projected_npu": projections,
            "ledger": ledger,
            "output": target.as_ref().map(|t| t.display_path()),
        });
        format!("{doc:#}\n")
    } else if global.quiet {
        String::new()
    } else {
        let mut text = format!(
            "input      {} ({}, {} Hz, {} ch)\n\
             duration   {audio_s:.2} s, {windows} window(s) of 30 s\n\
             model      {model_name} ({}, {} layers run of {}, d_model {d}, {} mels)\n\
             embeddings {shape:?} float32\n\
             stats      mean {:.5}  std {:.5}  L2 norm {:.3}  first {:?}\n\
             time       load {load_ms:.0} ms, decode {decode_ms:.1} ms, mel {mel_ms:.1} ms, encoder {encoder_ms:.0} ms ({:.0} ms/window, {:.1} GFLOP/s), export {export_ms:.1} ms, total {total_ms:.0} ms\n\
             speed      {x_realtime:.1}x realtime (audio s / mel+encoder s); RTF {rtf:.4} (mel+encoder s / audio s)\n\
             placement  {placement}\n",
            source.display_path().display(),
            audio.source.codec,
            audio.source.sample_rate,
            audio.source.channels,
            config.size_name(),
            executor.plan().layers,
            config.encoder_layers,
            config.num_mel_bins,
            stats.mean,
            stats.std,
            stats.l2_norm,
            stats.first,
            encoder_ms / windows as f64,
            encoder_flops / (encoder_ms / 1e3) / 1e9,
        );
        if let Some(note) = executor.device_note() {
            text.push_str(&format!("device     {note}\n"));
        }
        for p in &projections {
            text.push_str(&format!(
                "projected  {}: {:.1} ms per window ({} calls, {:.1} ms of it dispatch) -- projected, not measured\n",
                p.device.name, p.ms, p.calls, p.dispatch_ms
            ));
        }
        if !projections.is_empty() {
            text.push_str(&format!(
                "           assumptions: {}; {}\n",
                cost::NPU1.source,
                cost::NPU4.source
            ));
        }
        if let Some(t) = &target {
            text.push_str(&format!("output     {}\n", t.display_path().display()));
        }
        if global.verbose > 0 || args.verify {
            text.push_str(&kind_table(ledger, encoder_ms));
            text.push_str(&op_table(ledger));
        }
        text
    };
    print_summary(target == Some(OutputTarget::Stdout), &report);
    Ok(())
}

/// "npy" or "safetensors" from the output file's extension.
fn output_format(path: &Path) -> Result<&'static str> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("npy") => Ok("npy"),
        Some("safetensors") => Ok("safetensors"),
        _ => Err(Error::Usage(format!(
            "{}: the output must end in .npy or .safetensors",
            path.display()
        ))),
    }
}

fn exec_options(args: &EncodeArgs) -> Result<ExecOptions> {
    let fault = match std::env::var(FAULT_ENV) {
        Ok(spec) if !spec.is_empty() => Some(Fault::parse(&spec).map_err(Error::Usage)?),
        _ => None,
    };
    Ok(ExecOptions {
        precision: args.precision.into(),
        device: match args.device {
            DeviceArg::Auto => DeviceRequest::Auto,
            DeviceArg::Cpu => DeviceRequest::Cpu,
            DeviceArg::Npu => DeviceRequest::Npu,
            DeviceArg::NpuSim => DeviceRequest::NpuSim,
        },
        cpu_ops: args.cpu_ops.iter().map(|&k| k.into()).collect(),
        require_npu: args.require_npu,
        verify: args.verify,
        fault,
    })
}

/// Every op: layer, name, device, kernel, calls, bytes, time, fallback and verify figures.
fn op_table(ledger: &[LedgerEntry]) -> String {
    let mut text = String::from(
        "layer op          kind       device  kernel              calls      bytes       ms  verify (max abs, cosine)  fallback\n",
    );
    for e in ledger {
        let kernel = match (e.kernel, e.fused_into) {
            (_, Some(into)) => format!("(in {into})"),
            (Some(k), None) => k.to_string(),
            (None, None) => "-".to_string(),
        };
        let verify = e
            .verify
            .map(|v| format!("{:.2e}, {:.6}", v.max_abs, v.cosine))
            .unwrap_or_else(|| "-".into());
        text.push_str(&format!(
            "{:>5} {:<11} {:<10} {:<7} {:<19} {:>5} {:>10} {:>8.1}  {:<24}  {}\n",
            e.layer.map_or("-".to_string(), |l| l.to_string()),
            e.name,
            e.op.name(),
            e.device.name(),
            kernel,
            e.calls,
            e.bytes,
            e.ms,
            verify,
            e.fallback.as_deref().unwrap_or("-")
        ));
    }
    text
}

/// Time, share and GFLOP/s per op kind.
fn kind_table(ledger: &[LedgerEntry], encoder_ms: f64) -> String {
    let mut text = String::from("op kind     device  ops  calls      ms  share  GFLOP/s\n");
    for kind in OpKind::ALL {
        let rows: Vec<_> = ledger.iter().filter(|e| e.op == kind).collect();
        if rows.is_empty() {
            continue;
        }
        let ms: f64 = rows.iter().map(|e| e.ms).sum();
        let calls: u64 = rows.iter().map(|e| e.calls).sum();
        let flops: f64 = rows.iter().map(|e| e.flops * e.runs as f64).sum();
        text.push_str(&format!(
            "{:<11} {:<7} {:>3} {:>6} {:>7.1} {:>5.1}% {:>8.1}\n",
            kind.name(),
            if rows.iter().all(|e| e.device == rows[0].device) {
                rows[0].device.name()
            } else {
                "mixed"
            },
            rows.len(),
            calls,
            ms,
            100.0 * ms / encoder_ms,
            flops / (ms / 1e3) / 1e9
        ));
    }
    text
}

#[allow(clippy::too_many_arguments)]
fn provenance(
    source: &AudioSource,
    model_name: &str,
    weights_path: &Path,
    n_mels: usize,
    duration_s: f64,
    windows: usize,
    trim: bool,
    placement: &str,
) -> Result<HashMap<String, String>> {
    let sha256 = model::sha256_file(weights_path)?;
    let pairs = [
        (
            "producer",
            format!("npu-whisper {}", env!("CARGO_PKG_VERSION")),
        ),
        ("input", source.display_path().display().to_string()),
        ("duration_s", format!("{duration_s:.6}")),
        ("windows", windows.to_string()),
        ("trimmed", trim.to_string()),
        ("model", model_name.to_string()),
        ("model_sha256", sha256),
        (
            "mel",
            format!(
                "OpenAI log_mel_spectrogram: n_mels {n_mels}, n_fft {N_FFT}, hop {HOP_LENGTH}, {SAMPLE_RATE} Hz, 30 s windows"
            ),
        ),
        ("placement", placement.to_string()),
    ];
    Ok(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// Summary statistics of the embeddings.
#[derive(Debug, serde::Serialize)]
struct Statistics {
    mean: f64,
    std: f64,
    l2_norm: f64,
    first: Vec<f32>,
}

impl Statistics {
    fn of(values: &[f32]) -> Self {
        let n = values.len().max(1) as f64;
        let sum: f64 = values.iter().map(|&v| v as f64).sum();
        let sum_sq: f64 = values.iter().map(|&v| (v as f64).powi(2)).sum();
        let mean = sum / n;
        Statistics {
            mean,
            std: (sum_sq / n - mean * mean).max(0.0).sqrt(),
            l2_norm: sum_sq.sqrt(),
            first: values
                .iter()
                .take(4)
                .map(|v| (v * 1e4).round() / 1e4)
                .collect(),
        }
    }
}
