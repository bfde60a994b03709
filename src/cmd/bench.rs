//! `npu-whisper bench`: time the encoder on one 30 s window, per op kind, against the machine's
//! own measured GEMM peak, with a fingerprint of the machine.

use std::time::Instant;

use serde_json::json;

use super::SCHEMA_VERSION;
use crate::cli::{BenchArgs, GlobalArgs, PrecisionArg};
use crate::mel::WINDOW_SAMPLES;
use crate::tools::MachineInfo;
use crate::{
    Encoder, EncoderOptions, EncoderStream, Error, LedgerEntry, Model, NpuProjection, OpKind,
    Result, placement_summary,
};

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
    let times = time_windows(&encoder, &mut stream, args)?;
    let bench = Measured::new(&encoder, stream.ledger(), times, args);
    if global.json {
        println!("{:#}", bench.json(&model, &encoder, stream.ledger(), args));
    } else if !global.quiet {
        print!("{}", bench.text(&model, &encoder, stream.ledger(), args));
    }
    Ok(())
}

/// A deterministic speech-like window: harmonics under a slow envelope.
fn bench_window() -> Vec<f32> {
    (0..WINDOW_SAMPLES)
        .map(|i| {
            let t = i as f32 / 16_000.0;
            (0.5 + 0.5 * (6.0 * std::f32::consts::PI * t).sin())
                * (0.3 * (440.0 * std::f32::consts::TAU * t).sin()
                    + 0.1 * (1870.0 * std::f32::consts::TAU * t).sin())
        })
        .collect()
}

/// The warm-up runs, then each timed run's milliseconds; the ledger counts the timed runs only.
fn time_windows(
    encoder: &Encoder,
    stream: &mut EncoderStream,
    args: &BenchArgs,
) -> Result<Vec<f64>> {
    let mel = encoder.front_end().windows(&bench_window());
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
    Ok(times)
}

/// What a benchmark run measured, and what it is compared with.
struct Measured {
    times: Vec<f64>,
    min: f64,
    median: f64,
    p95: f64,
    flops: f64,
    gflops: f64,
    peak: f64,
    x_realtime: f64,
    /// Per op kind: ops, ms per window, share, fused, GFLOP/s.
    kinds: Vec<serde_json::Value>,
    /// The NPU time of this model's window, projected whatever the device: from the calls this
    /// run made on the NPU, or (on the CPU) from the plan with every op on the NPU.
    projections: Vec<NpuProjection>,
    machine: MachineInfo,
}

impl Measured {
    fn new(encoder: &Encoder, ledger: &[LedgerEntry], times: Vec<f64>, args: &BenchArgs) -> Self {
        let mut sorted = times.clone();
        sorted.sort_by(f64::total_cmp);
        let median = percentile(&sorted, 0.5);
        let flops = encoder.flops_per_window();
        let gflops = flops / (median / 1e3) / 1e9;
        Measured {
            min: sorted[0],
            median,
            p95: percentile(&sorted, 0.95),
            flops,
            gflops,
            peak: crate::tools::cpu_gemm_peak_gflops(args.precision.into()),
            x_realtime: WINDOW_SECONDS / (median / 1e3),
            kinds: op_kinds(ledger, args.iterations as f64, median),
            projections: encoder.npu_projections(),
            machine: crate::tools::machine_info(),
            times,
        }
    }

    fn json(
        &self,
        model: &Model,
        encoder: &Encoder,
        ledger: &[LedgerEntry],
        args: &BenchArgs,
    ) -> serde_json::Value {
        json!({
            "schema_version": SCHEMA_VERSION,
            "command": "bench",
            "model": model.name(),
            "layers": encoder.layers(),
            "device": ledger.first().map(|e| e.device.name()),
            "device_note": encoder.device_note(),
            "placement": placement_summary(ledger),
            "precision": precision_name(args.precision),
            "iterations": args.iterations,
            "warmup": args.warmup,
            "encoder_ms": {"min": self.min, "median": self.median, "p95": self.p95, "all": self.times},
            "gflop_per_window": self.flops / 1e9,
            "achieved_gflops_per_s": self.gflops,
            "gemm_peak_gflops_per_s": self.peak,
            "fraction_of_gemm_peak": self.gflops / self.peak,
            "x_realtime": self.x_realtime,
            "rtf": 1.0 / self.x_realtime,
            "op_kinds": self.kinds,
            "projected_npu": self.projections,
            "machine": self.machine,
        })
    }

    fn text(
        &self,
        model: &Model,
        encoder: &Encoder,
        ledger: &[LedgerEntry],
        args: &BenchArgs,
    ) -> String {
        let Measured {
            min,
            median,
            p95,
            gflops,
            peak,
            x_realtime,
            ..
        } = *self;
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
            self.flops / 1e9,
            100.0 * gflops / peak,
            precision_name(args.precision),
        );
        for k in &self.kinds {
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
        for p in &self.projections {
            text.push_str(&format!(
                "projected  {}: {} -- projected, not measured\n",
                p.device.name,
                p.text()
            ));
        }
        if let Some(note) = encoder.device_note() {
            text.push_str(&format!("device     {note}\n"));
        }
        let m = &self.machine;
        text.push_str(&format!(
            "machine    {} | {} threads | {} | Linux {} | NPU: {} | XRT: {} | npu-whisper {} ({})\n",
            m.cpu,
            m.threads,
            m.isa.join(" "),
            m.kernel,
            m.npu.as_deref().unwrap_or("none"),
            m.xrt,
            env!("CARGO_PKG_VERSION"),
            env!("NPU_WHISPER_GIT_REV"),
        ));
        text
    }
}

/// Time and rate per op kind over the timed runs (ops folded into another op's GEMM epilogue
/// have no time or rate of their own).
fn op_kinds(ledger: &[LedgerEntry], iterations: f64, median: f64) -> Vec<serde_json::Value> {
    OpKind::ALL
        .iter()
        .filter_map(|&kind| {
            let rows: Vec<_> = ledger.iter().filter(|e| e.op == kind).collect();
            if rows.is_empty() {
                return None;
            }
            let ms = rows.iter().map(|e| e.ms).sum::<f64>() / iterations;
            let kind_flops = rows.iter().map(|e| e.flops).sum::<f64>();
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
        .collect()
}

fn precision_name(precision: PrecisionArg) -> &'static str {
    match precision {
        PrecisionArg::F32 => "f32",
        PrecisionArg::Bf16 => "bf16",
    }
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
