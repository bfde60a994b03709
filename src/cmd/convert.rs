//! `npu-whisper convert`: CTranslate2 model.bin -> Hugging Face hub layout; Silero VAD's ONNX
//! file -> safetensors.

use std::time::Instant;

use super::{SCHEMA_VERSION, elapsed_ms};
use crate::Result;
use crate::cli::{ConvertArgs, DtypeArg, GlobalArgs};
use crate::tools::WeightDtype;

pub fn run(args: &ConvertArgs, global: &GlobalArgs) -> Result<()> {
    if args.model_bin.extension().is_some_and(|e| e == "onnx") {
        return convert_vad(args, global);
    }
    let started = Instant::now();
    let dtype = match args.dtype {
        DtypeArg::F16 => WeightDtype::F16,
        DtypeArg::F32 => WeightDtype::F32,
    };
    let spinner = super::progress_bar(global, "{spinner} converting {msg} ({elapsed})");
    spinner.set_message(args.model_bin.display().to_string());
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let report = crate::tools::convert_ctranslate2(&args.model_bin, &args.output, dtype);
    spinner.finish_and_clear();
    let report = report?;
    let ms = elapsed_ms(started);
    if global.json {
        let doc = serde_json::json!({
            "schema_version": SCHEMA_VERSION,
            "command": "convert",
            "input": args.model_bin,
            "report": report,
            "ms": ms,
        });
        println!("{doc:#}");
    } else if !global.quiet {
        println!(
            "converted {} -> {}\n  {} tensors, {} encoder + {} decoder layers, d_model {}, {} mels, vocab {}, {} ({:.1} MB) in {:.0} ms",
            args.model_bin.display(),
            report.output.display(),
            report.tensors,
            report.encoder_layers,
            report.decoder_layers,
            report.d_model,
            report.n_mels,
            report.vocab_size,
            report.dtype,
            report.bytes as f64 / 1e6,
            ms
        );
    }
    Ok(())
}

/// Silero VAD v6's ONNX file -> a float32 safetensors file `--vad-model` (and `--vad`'s cache)
/// loads.
fn convert_vad(args: &ConvertArgs, global: &GlobalArgs) -> Result<()> {
    let started = Instant::now();
    let input = &args.model_bin;
    let report = crate::tools::convert_silero_vad(input, &args.output)?;
    let ms = elapsed_ms(started);
    if global.json {
        let doc = serde_json::json!({
            "schema_version": SCHEMA_VERSION,
            "command": "convert",
            "input": input,
            "output": report.output,
            "tensors": report.tensors,
            "parameters": report.parameters,
            "ms": ms,
        });
        println!("{doc:#}");
    } else if !global.quiet {
        println!(
            "converted {} -> {}\n  Silero VAD v6: {} tensors, {} float32 values in {ms:.0} ms",
            input.display(),
            report.output.display(),
            report.tensors,
            report.parameters
        );
    }
    Ok(())
}
