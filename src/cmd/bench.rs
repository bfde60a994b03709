//! `npu-whisper bench`: time the encoder on one 30 s window, per op kind, against the machine's
//! own measured GEMM peak, with a fingerprint of the machine.

use std::time::Instant;

use serde_json::json;

use super::SCHEMA_VERSION;
use crate::cli::{BenchArgs, DeviceArg, GlobalArgs, PrecisionArg};
use crate::encoder::OpKind;
use crate::error::{Error, Result};
use crate::exec::{DeviceRequest, ExecOptions, Executor, placement_summary};
use crate::mel::{LogMel, WINDOW_SAMPLES};
use crate::model::Model;
use crate::npu::cost;

const WINDOW_SECONDS: f64 = 30.0;

pub fn run(args: &BenchArgs, global: &GlobalArgs) -> Result<()> {
    if args.iterations == 0 {
        return Err(Error::Usage("--iterations must be at least 1".into()));
    }
    let layers = args.layers.map(|n| n.get());
    let model = match &args.model {
        Some(m) => {
            let resolved = super::resolve_model(Some(m), crate::hub::Needs::Encoder, global)?;
            let mut model = Model::load(&resolved.path, layers)?;
            model.name = resolved.name;
            model
        }
        None => {
            let size = args.size.as_deref().unwrap_or("base");
            let entry = crate::hub::catalogue::lookup(size)
                .filter(|e| e.dims.is_some())
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "--size {size}: not a Whisper size (one of {})",
                        crate::hub::catalogue::whisper_names().join(", ")
                    ))
                })?;
            let config = entry.dims.map(|d| d.config()).expect("filtered on dims");
            let n = layers.unwrap_or(config.encoder_layers);
            if n > config.encoder_layers {
                return Err(Error::Usage(format!(
                    "--layers {n}: {} has only {} encoder layers",
                    entry.name, config.encoder_layers
                )));
            }
            let mut model = Model::synthetic(&config, n);
            model.name = format!("synthetic-{}", entry.name);
            model
        }
    };
    let device = match args.device {
        DeviceArg::Auto => DeviceRequest::Auto,
        DeviceArg::Cpu => DeviceRequest::Cpu,
        DeviceArg::Npu => DeviceRequest::Npu,
        DeviceArg::NpuSim => DeviceRequest::NpuSim,
    };
    let mut executor = Executor::new(
        &model,
        ExecOptions {
            device,
            precision: args.precision.into(),
            ..ExecOptions::default()
        },
    )?;
    // A deterministic speech-like window: harmonics under a slow envelope.
    let audio: Vec<f32> = (0..WINDOW_SAMPLES)
        .map(|i| {
            let t = i as f32 / 16_000.0;
            (0.5 + 0.5 * (6.0 * std::f32::consts::PI * t).sin())
                * (0.3 * (440.0 * std::f32::consts::TAU * t).sin()
                    + 0.1 * (1870.0 * std::f32::consts::TAU * t).sin())
        })
        .collect();
    let mel = LogMel::new(model.config.num_mel_bins).windows(&audio);

    for _ in 0..args.warmup {
        executor.encode_window(&mel)?;
    }
    executor.reset_counters();
    let mut times = Vec::with_capacity(args.iterations);
    for _ in 0..args.iterations {
        let started = Instant::now();
        executor.encode_window(&mel)?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let min = sorted[0];
    let median = percentile(&sorted, 0.5);
    let p95 = percentile(&sorted, 0.95);
    let flops = executor.plan().flops();
    let gflops = flops / (median / 1e3) / 1e9;
    let peak = gemm_peak_gflops(args.precision == PrecisionArg::Bf16);
    let ledger = executor.ledger();
    let iterations = args.iterations as f64;
    let kinds: Vec<_> = OpKind::ALL
        .iter()
        .filter_map(|&kind| {
            let rows: Vec<_> = ledger.iter().filter(|e| e.op == kind).collect();
            if rows.is_empty() {
                return None;
            }
            let ms = rows.iter().map(|e| e.ms).sum::<f64>() / iterations;
            let kind_flops = rows.iter().map(|e| e.flops).sum::<f64>();
            // Ops folded into another op's GEMM epilogue have no time (or rate) of their own.
            let fused = rows.iter().all(|e| e.fused_into.is_some());
            Some(json!({
                "op": kind.name(),
                "ops": rows.len(),
                "ms": ms,
                "share": ms / median,
                "fused": fused,
                "gflops_per_s": (!fused).then(|| kind_flops / (ms / 1e3) / 1e9),
            }))
        })
        .collect();
    // The NPU time of this model's window is projected whatever the device: from the calls this
    // run made on the NPU, or (on the CPU) from the plan with every op on the NPU.
    let all_on_npu;
    let calls = if executor.calls().is_empty() {
        let plan = executor.plan();
        all_on_npu = crate::npu::calls::plan_calls(plan, &vec![true; plan.ops.len()]);
        &all_on_npu
    } else {
        executor.calls()
    };
    let projections: Vec<_> = [&cost::NPU1, &cost::NPU4]
        .into_iter()
        .map(|d| cost::project(calls, d))
        .collect();
    let fingerprint = fingerprint();
    let x_realtime = WINDOW_SECONDS / (median / 1e3);
    if global.json {
        let doc = json!({
            "schema_version": SCHEMA_VERSION,
            "command": "bench",
            "model": model.name,
            "layers": executor.plan().layers,
            "device": executor.ledger().first().map(|e| e.device.name()),
            "device_note": executor.device_note(),
            "placement": placement_summary(ledger),
            "precision": match args.precision { PrecisionArg::F32 => "f32", PrecisionArg::Bf16 => "bf16" },
            "iterations": args.iterations,
            "warmup": args.warmup,
            "encoder_ms": {"min": min, "median": median, "p95": p95, "all": times},
            "gflop_per_window": flops / 1e9,
            "achieved_gflops_per_s": gflops,
            "gemm_peak_gflops_per_s": peak,
            "fraction_of_gemm_peak": gflops / peak,
            "x_realtime": x_realtime,
            "rtf": 1.0 / x_realtime,
            "op_kinds": kinds,
            "projected_npu": projections,
            "machine": fingerprint,
        });
        println!("{doc:#}");
        return Ok(());
    }
    let mut text = format!(
        "model      {} ({} of {} layers, d_model {}, {} mels), one 30 s window, {} iterations after {} warm-up, {:?} GEMMs\n\
         placement  {}\n\
         encoder    min {min:.1} ms, median {median:.1} ms, p95 {p95:.1} ms\n\
         speed      {x_realtime:.1}x realtime (audio s / encoder s); RTF {:.4} (encoder s / audio s)\n\
         compute    {:.1} GFLOP per window, {gflops:.1} GFLOP/s = {:.0}% of this machine's {} GEMM peak ({peak:.0} GFLOP/s, measured now)\n\
         op kind     ops       ms  share  GFLOP/s\n",
        model.name,
        executor.plan().layers,
        model.config.encoder_layers,
        model.config.d_model,
        model.config.num_mel_bins,
        args.iterations,
        args.warmup,
        args.precision,
        placement_summary(ledger),
        1.0 / x_realtime,
        flops / 1e9,
        100.0 * gflops / peak,
        match args.precision {
            PrecisionArg::F32 => "f32",
            PrecisionArg::Bf16 => "bf16",
        },
    );
    for k in &kinds {
        text.push_str(&format!(
            "{:<11} {:>3} {:>8.1} {:>5.1}% {:>8}\n",
            k["op"].as_str().unwrap_or(""),
            k["ops"],
            k["ms"].as_f64().unwrap_or(0.0),
            100.0 * k["share"].as_f64().unwrap_or(0.0),
            k["gflops_per_s"]
                .as_f64()
                .map_or("fused".to_string(), |rate| format!("{rate:.1}"))
        ));
    }
    for p in &projections {
        text.push_str(&format!(
            "projected  {}: {:.1} ms per window ({} calls) -- projected, not measured\n",
            p.device.name, p.ms, p.calls
        ));
    }
    if let Some(note) = executor.device_note() {
        text.push_str(&format!("device     {note}\n"));
    }
    text.push_str(&format!(
        "machine    {} | {} threads | {} | Linux {} | NPU: {} | XRT: {} | npu-whisper {} ({})\n",
        fingerprint["cpu"].as_str().unwrap_or("?"),
        fingerprint["threads"],
        fingerprint["isa"]
            .as_array()
            .map(|a| a
                .iter()
                .filter_map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(" "))
            .unwrap_or_default(),
        fingerprint["kernel"].as_str().unwrap_or("?"),
        fingerprint["npu"].as_str().unwrap_or("none"),
        fingerprint["xrt"].as_str().unwrap_or("?"),
        env!("CARGO_PKG_VERSION"),
        env!("NPU_WHISPER_GIT_REV"),
    ));
    if !global.quiet {
        print!("{text}");
    }
    Ok(())
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The GEMM rate this machine reaches right now with our kernel of the run's precision (f32,
/// or bf16 operands), on the shape of an fc1 (1500 x 512 x 2048), best of a few runs: the
/// yardstick for the encoder's GFLOP/s.
fn gemm_peak_gflops(bf16: bool) -> f64 {
    let (m, k, n) = (1500, 512, 2048);
    let a = vec![0.5f32; m * k];
    let w = vec![0.25f32; n * k];
    let bias = vec![0.0f32; n];
    let mut out = vec![0.0f32; m * n];
    let packed = bf16.then(|| crate::kernels::bf16::PackedWeight::new(&w, n, k));
    let mut best = f64::MAX;
    // Eight runs (~0.1 s): with four, one stall on this shared machine once halved the figure.
    for _ in 0..8 {
        let started = Instant::now();
        match &packed {
            Some(packed) => crate::kernels::bf16::matmul_bias_par(&mut out, &a, packed, &bias, m),
            None => crate::kernels::gemm::matmul_bias_par(&mut out, &a, &w, &bias, m, k, n),
        }
        best = best.min(started.elapsed().as_secs_f64());
    }
    2.0 * (m * k * n) as f64 / best / 1e9
}

fn fingerprint() -> serde_json::Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    #[cfg(target_arch = "x86_64")]
    let isa: Vec<&str> = [
        ("avx2", std::arch::is_x86_feature_detected!("avx2")),
        ("fma", std::arch::is_x86_feature_detected!("fma")),
        ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
        (
            "avx512bf16",
            std::arch::is_x86_feature_detected!("avx512bf16"),
        ),
        (
            "avx512vnni",
            std::arch::is_x86_feature_detected!("avx512vnni"),
        ),
    ]
    .into_iter()
    .filter_map(|(n, has)| has.then_some(n))
    .collect();
    #[cfg(not(target_arch = "x86_64"))]
    let isa: Vec<&str> = Vec::new();
    let npu = crate::npu::device::probe::scan_pci(std::path::Path::new("/"))
        .first()
        .map(|n| format!("{} at {}", n.generation, n.address));
    json!({
        "cpu": cpu,
        "threads": rayon::current_num_threads(),
        "isa": isa,
        "avx512_kernels": crate::cpu_features::has_avx512(),
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string()).unwrap_or_default(),
        "npu": npu,
        "xrt": crate::npu::xrt_runtime().unwrap_or_else(|e| format!("unavailable ({e})")),
        "npu_whisper": env!("CARGO_PKG_VERSION"),
        "git_revision": env!("NPU_WHISPER_GIT_REV"),
    })
}
