//! The summary of a single-input `encode`: human text, or JSON with the full ledger.

use serde_json::json;

use super::{Context, Encoded};
use crate::audio::AudioSource;
use crate::cli::{EncodeArgs, GlobalArgs};
use crate::cmd::{SCHEMA_VERSION, print_summary};
use crate::tools::export::OutputTarget;
use crate::{EncoderStream, LedgerEntry, OpKind, placement_summary};

/// The detailed report of a single-input run.
#[allow(clippy::too_many_arguments)]
pub(super) fn report_single(
    args: &EncodeArgs,
    global: &GlobalArgs,
    stream: &EncoderStream,
    context: &Context,
    source: &AudioSource,
    target: Option<&OutputTarget>,
    done: &Encoded,
    load_ms: f64,
    total_ms: f64,
) {
    let config = context.model.config();
    let d = config.d_model;
    let (windows, shape, stats) = (done.windows, &done.shape, &done.stats);
    let (decode_ms, mel_ms, encoder_ms, export_ms) =
        (done.decode_ms, done.mel_ms, done.encoder_ms, done.export_ms);
    let model_name = context.model.name();
    let ledger = stream.ledger();
    let calls_per_window = context.encoder.npu_calls_per_window();
    let placement = match calls_per_window {
        0 => placement_summary(ledger),
        n => format!("{} ({n} NPU calls per window)", placement_summary(ledger)),
    };
    let projections = match calls_per_window {
        0 => Vec::new(),
        _ => context.encoder.npu_projections(),
    };
    let audio_s = done.audio_s;
    let compute_s = (mel_ms + encoder_ms) / 1e3;
    let x_realtime = audio_s / compute_s;
    let rtf = compute_s / audio_s;
    let encoder_flops: f64 = ledger.iter().map(|e| e.flops * e.runs as f64).sum();

    let report = if global.json {
        let doc = json!({
            "schema_version": SCHEMA_VERSION,
            "command": "encode",
            "input": source.display_path(),
            "source": done.source,
            "duration_s": audio_s,
            "windows": windows,
            "model": {"name": model_name, "path": context.model.weights_path(), "config": config},
            "layers": context.encoder.layers(),
            "shape": shape,
            "statistics": stats,
            "timings_ms": {
                "load": load_ms, "decode": decode_ms, "mel": mel_ms, "encoder": encoder_ms,
                "export": export_ms, "total": total_ms,
            },
            "encoder_ms_per_window": encoder_ms / windows.max(1) as f64,
            "encoder_gflops_per_s": encoder_flops / (encoder_ms / 1e3) / 1e9,
            "x_realtime": x_realtime,
            "rtf": rtf,
            "device_note": context.encoder.device_note(),
            "placement": placement,
            "npu_calls_per_window": calls_per_window,
            "projected_npu": projections,
            "precision_check": done.precision_check,
            "vad": done.speech,
            "ledger": ledger,
            "output": target.map(|t| t.display_path()),
        });
        format!("{doc:#}\n")
    } else if global.quiet {
        String::new()
    } else {
        let mut text = format!(
            "input      {} ({}, {} Hz, {} ch)\n\
             duration   {audio_s:.2} s, {windows} window(s) of 30 s encoded\n\
             model      {model_name} ({}, {} layers run of {}, d_model {d}, {} mels)\n\
             embeddings {shape:?} float32\n\
             stats      mean {:.5}  std {:.5}  L2 norm {:.3}  first {:?}\n\
             time       load {load_ms:.0} ms, decode {decode_ms:.1} ms, mel {mel_ms:.1} ms, encoder {encoder_ms:.0} ms ({:.0} ms/window, {:.1} GFLOP/s), export {export_ms:.1} ms, total {total_ms:.0} ms\n\
             speed      {x_realtime:.1}x realtime (audio s / mel+encoder s); RTF {rtf:.4} (mel+encoder s / audio s)\n\
             placement  {placement}\n",
            source.display_path().display(),
            done.source.codec,
            done.source.sample_rate,
            done.source.channels,
            config.size_name(),
            context.encoder.layers(),
            config.encoder_layers,
            config.num_mel_bins,
            stats.mean,
            stats.std,
            stats.l2_norm,
            stats.first,
            encoder_ms / windows.max(1) as f64,
            encoder_flops / (encoder_ms / 1e3) / 1e9,
        );
        if let Some(speech) = &done.speech {
            let ranges: Vec<String> = speech
                .encoded_ranges
                .iter()
                .map(|[a, b]| format!("{a:.1}-{b:.1} s"))
                .collect();
            text.push_str(&format!(
                "vad        {} stretch(es) of speech (silero-vad v6, {:.0} ms); encoded {} ({windows} window(s) of 30 s)\n",
                speech.speech.len(),
                speech.vad_ms,
                if ranges.is_empty() { "nothing".to_string() } else { ranges.join(", ") },
            ));
        }
        if let Some(note) = context.encoder.device_note() {
            text.push_str(&format!("device     {note}\n"));
        }
        if let Some(check) = done.precision_check {
            text.push_str(&format!(
                "verify     bf16 vs f32 CPU on the same log-mel: max abs {:.3e}, cosine {:.7} (worst window)\n",
                check.max_abs, check.cosine
            ));
        }
        for p in &projections {
            text.push_str(&format!(
                "projected  {}: {} -- projected, not measured\n",
                p.device.name,
                p.text()
            ));
        }
        if !projections.is_empty() {
            text.push_str(&format!(
                "           assumptions: {}; {}\n",
                projections[0].device.source, projections[1].device.source
            ));
        }
        match target {
            Some(OutputTarget::File(path)) if args.split => text.push_str(&format!(
                "output     {} ... {} ({windows} files, one per window)\n",
                super::split_path(path, 0).display(),
                super::split_path(path, windows - 1).display()
            )),
            Some(t) => text.push_str(&format!("output     {}\n", t.display_path().display())),
            None => text.push_str(
                "output     none written (measured only): give -o OUT.npy, OUT.safetensors or - to keep the embeddings\n",
            ),
        }
        if global.verbose > 0 || args.verify {
            text.push_str(&kind_table(ledger, encoder_ms));
            text.push_str(&op_table(ledger));
        }
        text
    };
    print_summary(target == Some(&OutputTarget::Stdout), &report);
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
