//! `npu-whisper bench`: time the encoder on one 30 s window, per op kind, against the machine's
//! own measured GEMM peak, with a fingerprint of the machine.

use std::time::Instant;

use serde_json::json;

use super::SCHEMA_VERSION;
use crate::cli::{BenchArgs, GlobalArgs, PrecisionArg};
use crate::mel::WINDOW_SAMPLES;
use crate::{Encoder, EncoderOptions, Error, Model, OpKind, Result, placement_summary};

const WINDOW_SECONDS: f64 = 30.0;

pub fn run(args: &BenchArgs, global: &GlobalArgs) -> Result<()> {
    if args.iterations == 0 {
        return Err(Error::Usage("--iterations must be at least 1".into()));
    }
    let model = match &args.model {
        Some(m) => super::open_model(Some(m), true, global)?,
        None => Model::synthetic(args.size.as_deref().unwrap_or("base"))
            .map_err(|e| Error::Usage(format!("--size {e}")))?,
    };
    let encoder = Encoder::new(
        &model,
        &EncoderOptions::default()
            .device(args.device.into())
            .precision(args.precision.into())
            .layers(args.layers.map(|n| n.get())),
    )?;
    let mut stream = encoder.stream();
    // A deterministic speech-like window: harmonics under a slow envelope.
    let audio: Vec<f32> = (0..WINDOW_SAMPLES)
        .map(|i| {
            let t = i as f32 / 16_000.0;
            (0.5 + 0.5 * (6.0 * std::f32::consts::PI * t).sin())
                * (0.3 * (440.0 * std::f32::consts::TAU * t).sin()
                    + 0.1 * (1870.0 * std::f32::consts::TAU * t).sin())
        })
        .collect();
    let mel = encoder.front_end().windows(&audio);

    for _ in 0..args.warmup {
        stream.encode_mel(&mel)?;
    }
    stream.reset_counters();
    let mut times = Vec::with_capacity(args.iterations);
    for _ in 0..args.iterations {
        let started = Instant::now();
        stream.encode_mel(&mel)?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let min = sorted[0];
    let median = percentile(&sorted, 0.5);
    let p95 = percentile(&sorted, 0.95);
    let flops = encoder.flops_per_window();
    let gflops = flops / (median / 1e3) / 1e9;
    let peak = crate::tools::cpu_gemm_peak_gflops(args.precision.into());
    let ledger = stream.ledger();
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
    let projections = encoder.npu_projections();
    let fingerprint = crate::tools::machine_info();
    let x_realtime = WINDOW_SECONDS / (median / 1e3);
    if global.json {
        let doc = json!({
            "schema_version": SCHEMA_VERSION,
            "command": "bench",
            "model": model.name(),
            "layers": encoder.layers(),
            "device": ledger.first().map(|e| e.device.name()),
            "device_note": encoder.device_note(),
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
        model.name(),
        encoder.layers(),
        model.config().encoder_layers,
        model.config().d_model,
        model.config().num_mel_bins,
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
            "projected  {}: {} -- projected, not measured\n",
            p.device.name,
            p.text()
        ));
    }
    if let Some(note) = encoder.device_note() {
        text.push_str(&format!("device     {note}\n"));
    }
    text.push_str(&format!(
        "machine    {} | {} threads | {} | Linux {} | NPU: {} | XRT: {} | npu-whisper {} ({})\n",
        fingerprint.cpu,
        fingerprint.threads,
        fingerprint.isa.join(" "),
        fingerprint.kernel,
        fingerprint.npu.as_deref().unwrap_or("none"),
        fingerprint.xrt,
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
