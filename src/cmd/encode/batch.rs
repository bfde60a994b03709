//! `encode` with many inputs: one output per input, skip/overwrite, failures reported and
//! passed over, one line per input and a total.

use std::time::Instant;

use serde_json::json;

use super::{Context, encode_one};
use crate::cli::{EncodeArgs, GlobalArgs};
use crate::cmd::{SCHEMA_VERSION, elapsed_ms, inputs, print_summary};
use crate::tools::export::OutputTarget;
use crate::{EncoderStream, placement_summary};
use crate::{Error, Result};

/// Encode every input into its output (or none), continuing past bad inputs; one line per
/// input and a total. The exit code is that of the first failure (3 for unusable audio), 0 when
/// all succeeded or were skipped.
#[allow(clippy::too_many_arguments)]
pub(super) fn batch(
    args: &EncodeArgs,
    global: &GlobalArgs,
    stream: &mut EncoderStream,
    context: &Context,
    inputs: &[inputs::Input],
    outputs: &[Option<std::path::PathBuf>],
    total: Instant,
) -> Result<i32> {
    let files = crate::cmd::progress_bar(
        global,
        "{bar:30} {pos}/{len} files, {elapsed} (eta {eta}) {msg}",
    );
    files.set_length(inputs.len() as u64);
    let (mut encoded, mut skipped, mut failed) = (0usize, 0usize, 0usize);
    let (mut audio_s, mut compute_s) = (0.0f64, 0.0f64);
    let mut exit = 0;
    let mut lines = Vec::new();
    let hidden = indicatif::ProgressBar::hidden();
    for (input, output) in inputs.iter().zip(outputs) {
        crate::tools::check_interrupted()?;
        let name = input.source.display_path();
        files.set_message(name.display().to_string());
        // With --split, the first window's file stands for the set (written last-to-disappear:
        // a failed input's window files are removed).
        let exists = |path: &std::path::Path| {
            if args.split {
                super::split_path(path, 0).exists()
            } else {
                path.exists()
            }
        };
        if let Some(path) = output
            && exists(path)
            && !args.overwrite
        {
            skipped += 1;
            record(
                &files,
                &mut lines,
                json!({"input": name, "output": path, "status": "skipped", "reason": "output exists"}),
            );
            files.inc(1);
            continue;
        }
        if let Some(parent) = output.as_ref().and_then(|p| p.parent()) {
            std::fs::create_dir_all(parent).map_err(|source| Error::WriteOutput {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let target = output.clone().map(OutputTarget::File);
        match encode_one(stream, context, &input.source, target.as_ref(), &hidden) {
            Ok(done) => {
                encoded += 1;
                audio_s += done.audio_s;
                let compute = (done.mel_ms + done.encoder_ms) / 1e3;
                compute_s += compute;
                record(
                    &files,
                    &mut lines,
                    json!({
                        "input": name, "output": output, "status": "ok", "duration_s": done.audio_s,
                        "windows": done.windows, "shape": done.shape,
                        "timings_ms": {"decode": done.decode_ms, "mel": done.mel_ms, "encoder": done.encoder_ms, "export": done.export_ms},
                        "x_realtime": done.audio_s / compute,
                        "encoded_ranges": done.speech.as_ref().map(|s| &s.encoded_ranges),
                    }),
                );
            }
            Err(Error::Interrupted) => return Err(Error::Interrupted),
            Err(e) => {
                failed += 1;
                if exit == 0 {
                    exit = e.exit_code();
                }
                // Named on stderr as it happens, and again in the summary.
                files.suspend(|| eprintln!("npu-whisper: error: {}", crate::cli::describe(&e)));
                record(
                    &files,
                    &mut lines,
                    json!({"input": name, "output": output, "status": "failed", "error": e.to_string()}),
                );
            }
        }
        files.inc(1);
    }
    files.finish_and_clear();
    let wall_s = elapsed_ms(total) / 1e3;
    let report = if global.json {
        let doc = json!({
            "schema_version": SCHEMA_VERSION,
            "command": "encode",
            "files": lines,
            "encoded": encoded, "skipped": skipped, "failed": failed,
            "audio_s": audio_s, "compute_s": compute_s, "wall_s": wall_s,
            "x_realtime": audio_s / compute_s.max(1e-9),
            "placement": placement_summary(stream.ledger()),
            "device_note": context.encoder.device_note(),
        });
        format!("{doc:#}\n")
    } else if global.quiet {
        String::new()
    } else {
        // On a terminal the lines were printed above the progress bar as they happened.
        let mut text = String::new();
        if files.is_hidden() {
            for l in &lines {
                text.push_str(&line_text(l));
            }
        }
        text.push_str(&format!(
            "total      {encoded} encoded, {skipped} skipped, {failed} failed; {audio_s:.1} s of audio, {compute_s:.1} s of mel+encoder ({:.1}x realtime), {wall_s:.1} s wall\n\
             placement  {}\n",
            audio_s / compute_s.max(1e-9),
            placement_summary(stream.ledger()),
        ));
        if let Some(note) = context.encoder.device_note() {
            text.push_str(&format!("device     {note}\n"));
        }
        text
    };
    print_summary(false, &report);
    Ok(exit)
}

/// Keep a batch entry for the summary, and print its line above a visible progress bar now.
fn record(
    files: &indicatif::ProgressBar,
    lines: &mut Vec<serde_json::Value>,
    entry: serde_json::Value,
) {
    if !files.is_hidden() {
        files.println(line_text(&entry).trim_end());
    }
    lines.push(entry);
}

/// The human line of one batch entry.
fn line_text(entry: &serde_json::Value) -> String {
    let input = entry["input"].as_str().unwrap_or("?");
    let output = entry["output"]
        .as_str()
        .map(|o| format!(" -> {o}"))
        .unwrap_or_default();
    match entry["status"].as_str() {
        Some("ok") => format!(
            "ok    {input}{output}  {:.1} s, {} window(s), encoder {:.0} ms, {:.1}x realtime\n",
            entry["duration_s"].as_f64().unwrap_or(0.0),
            entry["windows"],
            entry["timings_ms"]["encoder"].as_f64().unwrap_or(0.0),
            entry["x_realtime"].as_f64().unwrap_or(0.0),
        ),
        Some("skipped") => {
            format!("skip  {input}{output} exists (--overwrite replaces it)\n")
        }
        // The error names the input itself.
        _ => format!("FAIL  {}\n", entry["error"].as_str().unwrap_or(input)),
    }
}
