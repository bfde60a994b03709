//! The summary of a single-input `encode`: human text, or JSON with the full ledger.

use serde_json::json;

use super::{Context, Encoded};
use crate::audio::AudioSource;
use crate::cli::{EncodeArgs, GlobalArgs};
use crate::cmd::{SCHEMA_VERSION, print_summary};
use crate::tools::export::OutputTarget;
use crate::{EncoderStream, LedgerEntry, NpuProjection, OpKind, placement_summary};

/// Everything a single-input run's report is made from.
pub(super) struct SingleRun<'a> {
    pub args: &'a EncodeArgs,
    pub global: &'a GlobalArgs,
    pub stream: &'a EncoderStream,
    pub context: &'a Context,
    pub source: &'a AudioSource,
    pub target: Option<&'a OutputTarget>,
    pub done: &'a Encoded,
    pub load_ms: f64,
    pub total_ms: f64,
}

/// The figures derived from a run that both forms of the report show.
struct Figures {
    placement: String,
    calls_per_window: usize,
    projections: Vec<NpuProjection>,
    x_realtime: f64,
    rtf: f64,
    ms_per_window: f64,
    gflops_per_s: f64,
}

impl Figures {
    fn of(run: &SingleRun) -> Figures {
        let (done, encoder) = (run.done, &run.context.encoder);
        let ledger = run.stream.ledger();
        let calls_per_window = encoder.npu_calls_per_window();
        let (placement, projections) = match calls_per_window {
            0 => (placement_summary(ledger), Vec::new()),
            n => (
                format!("{} ({n} NPU calls per window)", placement_summary(ledger)),
                encoder.npu_projections(),
            ),
        };
        let compute_s = (done.mel_ms + done.encoder_ms) / 1e3;
        let encoder_flops: f64 = ledger.iter().map(|e| e.flops * e.runs as f64).sum();
        Figures {
            placement,
            calls_per_window,
            projections,
            x_realtime: done.audio_s / compute_s,
            rtf: compute_s / done.audio_s,
            ms_per_window: done.encoder_ms / done.windows.max(1) as f64,
            gflops_per_s: encoder_flops / (done.encoder_ms / 1e3) / 1e9,
        }
    }
}

/// The detailed report of a single-input run.
pub(super) fn report_single(run: &SingleRun) {
    let figures = Figures::of(run);
    let report = if run.global.json {
        json_report(run, &figures)
    } else if run.global.quiet {
        String::new()
    } else {
        text_report(run, &figures)
    };
    print_summary(run.target == Some(&OutputTarget::Stdout), &report);
}

fn json_report(run: &SingleRun, figures: &Figures) -> String {
    let (done, context) = (run.done, run.context);
    let doc = json!({
        "schema_version": SCHEMA_VERSION,
        "command": "encode",
        "input": run.source.display_path(),
        "source": done.source,
        "duration_s": done.audio_s,
        "windows": done.windows,
        "model": {
            "name": context.model.name(),
            "path": context.model.weights_path(),
            "config": context.model.config(),
        },
        "layers": context.encoder.layers(),
        "shape": done.shape,
        "statistics": done.stats,
        "timings_ms": {
            "load": run.load_ms, "decode": done.decode_ms, "mel": done.mel_ms,
            "encoder": done.encoder_ms, "export": done.export_ms, "total": run.total_ms,
        },
        "encoder_ms_per_window": figures.ms_per_window,
        "encoder_gflops_per_s": figures.gflops_per_s,
        "x_realtime": figures.x_realtime,
        "rtf": figures.rtf,
        "device_note": context.encoder.device_note(),
        "placement": figures.placement,
        "npu_calls_per_window": figures.calls_per_window,
        "projected_npu": figures.projections,
        "precision_check": done.precision_check,
        "vad": done.speech,
        "ledger": run.stream.ledger(),
        "output": run.target.map(|t| t.display_path()),
    });
    format!("{doc:#}\n")
}

fn text_report(run: &SingleRun, figures: &Figures) -> String {
    let (done, context) = (run.done, run.context);
    let config = context.model.config();
    let (stats, windows) = (&done.stats, done.windows);
    let mut text = format!(
        "input      {} ({}, {} Hz, {} ch)\n\
         duration   {:.2} s, {windows} window(s) of 30 s encoded\n\
         model      {} ({}, {} layers run of {}, d_model {}, {} mels)\n\
         embeddings {:?} float32\n\
         stats      mean {:.5}  std {:.5}  L2 norm {:.3}  first {:?}\n\
         time       load {:.0} ms, decode {:.1} ms, mel {:.1} ms, encoder {:.0} ms ({:.0} ms/window, {:.1} GFLOP/s), export {:.1} ms, total {:.0} ms\n\
         speed      {:.1}x realtime (audio s / mel+encoder s); RTF {:.4} (mel+encoder s / audio s)\n\
         placement  {}\n",
        run.source.display_path().display(),
        done.source.codec,
        done.source.sample_rate,
        done.source.channels,
        done.audio_s,
        context.model.name(),
        config.size_name(),
        context.encoder.layers(),
        config.encoder_layers,
        config.d_model,
        config.num_mel_bins,
        done.shape,
        stats.mean,
        stats.std,
        stats.l2_norm,
        stats.first,
        run.load_ms,
        done.decode_ms,
        done.mel_ms,
        done.encoder_ms,
        figures.ms_per_window,
        figures.gflops_per_s,
        done.export_ms,
        run.total_ms,
        figures.x_realtime,
        figures.rtf,
        figures.placement,
    );
    text.push_str(&notes(run, figures));
    text.push_str(&output_line(run));
    if run.global.verbose > 0 || run.args.verify {
        text.push_str(&kind_table(run.stream.ledger(), done.encoder_ms));
        text.push_str(&op_table(run.stream.ledger()));
    }
    text
}

/// The lines only some runs have: VAD, device note, precision check, NPU projections.
fn notes(run: &SingleRun, figures: &Figures) -> String {
    let mut text = String::new();
    if let Some(speech) = &run.done.speech {
        let ranges: Vec<String> = speech
            .encoded_ranges
            .iter()
            .map(|[a, b]| format!("{a:.1}-{b:.1} s"))
            .collect();
        text.push_str(&format!(
            "vad        {} stretch(es) of speech (silero-vad v6, {:.0} ms); encoded {} ({} window(s) of 30 s)\n",
            speech.speech.len(),
            speech.vad_ms,
            if ranges.is_empty() { "nothing".to_string() } else { ranges.join(", ") },
            run.done.windows,
        ));
    }
    if let Some(note) = run.context.encoder.device_note() {
        text.push_str(&format!("device     {note}\n"));
    }
    if let Some(check) = run.done.precision_check {
        text.push_str(&format!(
            "verify     bf16 vs f32 CPU on the same log-mel: max abs {:.3e}, cosine {:.7} (worst window)\n",
            check.max_abs, check.cosine
        ));
    }
    for p in &figures.projections {
        text.push_str(&format!(
            "projected  {}: {} -- projected, not measured\n",
            p.device.name,
            p.text()
        ));
    }
    if let [first, second, ..] = &figures.projections[..] {
        text.push_str(&format!(
            "           assumptions: {}; {}\n",
            first.device.source, second.device.source
        ));
    }
    text
}

fn output_line(run: &SingleRun) -> String {
    let windows = run.done.windows;
    match run.target {
        Some(OutputTarget::File(path)) if run.args.split => format!(
            "output     {} ... {} ({windows} files, one per window)\n",
            super::split_path(path, 0).display(),
            super::split_path(path, windows.saturating_sub(1)).display()
        ),
        Some(t) => format!("output     {}\n", t.display_path().display()),
        None => "output     none written (measured only): give -o OUT.npy, OUT.safetensors or - to keep the embeddings\n".to_string(),
    }
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
        // Ops folded into another op's GEMM have no time of their own.
        let rate = if rows.iter().all(|e| e.fused_into.is_some()) {
            "fused".to_string()
        } else {
            format!("{:.1}", flops / (ms / 1e3) / 1e9)
        };
        text.push_str(&format!(
            "{:<11} {:<7} {:>3} {:>6} {:>7.1} {:>5.1}% {:>8}\n",
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
            rate
        ));
    }
    text
}
