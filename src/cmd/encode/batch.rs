//! `encode` with many inputs: one output per input, skip/overwrite, failures reported and
//! passed over, one line per input and a total.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Value, json};

use super::{Context, encode_one};
use crate::cli::{EncodeArgs, GlobalArgs};
use crate::cmd::{SCHEMA_VERSION, elapsed_ms, inputs, print_summary};
use crate::tools::export::OutputTarget;
use crate::{EncoderStream, placement_summary};
use crate::{Error, Result};

/// Encode every input into its output (or none), continuing past bad inputs; one line per
/// input and a total. The exit code is that of the first failure (3 for unusable audio), 0 when
/// all succeeded or were skipped.
pub(super) fn batch(
    args: &EncodeArgs,
    global: &GlobalArgs,
    stream: &mut EncoderStream,
    context: &Context,
    inputs: &[inputs::Input],
    outputs: &[Option<PathBuf>],
    total: Instant,
) -> Result<i32> {
    let files = crate::cmd::progress_bar(
        global,
        "{bar:30} {pos}/{len} files, {elapsed} (eta {eta}) {msg}",
    );
    files.set_length(inputs.len() as u64);
    let mut tally = Tally::default();
    for (input, output) in inputs.iter().zip(outputs) {
        crate::tools::check_interrupted()?;
        files.set_message(input.source.display_path().display().to_string());
        let entry = encode_input(
            args,
            stream,
            context,
            input,
            output.as_deref(),
            &files,
            &mut tally,
        )?;
        record(&files, &mut tally.lines, entry);
        files.inc(1);
    }
    files.finish_and_clear();
    let report = if global.json {
        tally.json(stream, context, elapsed_ms(total) / 1e3)
    } else if global.quiet {
        String::new()
    } else {
        tally.text(stream, context, files.is_hidden(), elapsed_ms(total) / 1e3)
    };
    print_summary(false, &report);
    Ok(tally.exit)
}

/// What a batch has done so far.
#[derive(Default)]
struct Tally {
    encoded: usize,
    skipped: usize,
    failed: usize,
    audio_s: f64,
    compute_s: f64,
    /// The first failure's exit code (0 while none failed).
    exit: i32,
    /// One entry per input, for the summary.
    lines: Vec<Value>,
}

/// Encode one input into `output` (or skip it: `output` exists and no --overwrite), counting it
/// in `tally`; its entry for the summary. Only an interrupt or an unwritable output directory
/// ends the batch.
fn encode_input(
    args: &EncodeArgs,
    stream: &mut EncoderStream,
    context: &Context,
    input: &inputs::Input,
    output: Option<&Path>,
    files: &indicatif::ProgressBar,
    tally: &mut Tally,
) -> Result<Value> {
    let name = input.source.display_path();
    // With --split, the first window's file stands for the set (written last-to-disappear:
    // a failed input's window files are removed).
    let exists = |path: &Path| {
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
        tally.skipped += 1;
        return Ok(
            json!({"input": name, "output": path, "status": "skipped", "reason": "output exists"}),
        );
    }
    if let Some(parent) = output.and_then(Path::parent) {
        std::fs::create_dir_all(parent).map_err(|source| Error::WriteOutput {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    let target = output.map(|path| OutputTarget::File(path.to_path_buf()));
    let hidden = indicatif::ProgressBar::hidden();
    match encode_one(stream, context, &input.source, target.as_ref(), &hidden) {
        Ok(done) => {
            tally.encoded += 1;
            tally.audio_s += done.audio_s;
            let compute = (done.mel_ms + done.encoder_ms) / 1e3;
            tally.compute_s += compute;
            Ok(json!({
                "input": name, "output": output, "status": "ok", "duration_s": done.audio_s,
                "windows": done.windows, "shape": done.shape,
                "timings_ms": {"decode": done.decode_ms, "mel": done.mel_ms, "encoder": done.encoder_ms, "export": done.export_ms},
                "x_realtime": done.audio_s / compute,
                "encoded_ranges": done.speech.as_ref().map(|s| &s.encoded_ranges),
            }))
        }
        Err(Error::Interrupted) => Err(Error::Interrupted),
        Err(e) => {
            tally.failed += 1;
            if tally.exit == 0 {
                tally.exit = e.exit_code();
            }
            // Named on stderr as it happens, and again in the summary.
            files.suspend(|| eprintln!("npu-whisper: error: {}", crate::cli::describe(&e)));
            Ok(json!({"input": name, "output": output, "status": "failed", "error": e.to_string()}))
        }
    }
}

impl Tally {
    fn x_realtime(&self) -> f64 {
        self.audio_s / self.compute_s.max(1e-9)
    }

    fn json(&self, stream: &EncoderStream, context: &Context, wall_s: f64) -> String {
        let doc = json!({
            "schema_version": SCHEMA_VERSION,
            "command": "encode",
            "files": self.lines,
            "encoded": self.encoded, "skipped": self.skipped, "failed": self.failed,
            "audio_s": self.audio_s, "compute_s": self.compute_s, "wall_s": wall_s,
            "x_realtime": self.x_realtime(),
            "placement": placement_summary(stream.ledger()),
            "device_note": context.encoder.device_note(),
        });
        format!("{doc:#}\n")
    }

    /// The lines (unless a progress bar printed them as they happened) and the total.
    fn text(&self, stream: &EncoderStream, context: &Context, lines: bool, wall_s: f64) -> String {
        let mut text = String::new();
        if lines {
            for l in &self.lines {
                text.push_str(&line_text(l));
            }
        }
        text.push_str(&format!(
            "total      {} encoded, {} skipped, {} failed; {:.1} s of audio, {:.1} s of mel+encoder ({:.1}x realtime), {wall_s:.1} s wall\n\
             placement  {}\n",
            self.encoded,
            self.skipped,
            self.failed,
            self.audio_s,
            self.compute_s,
            self.x_realtime(),
            placement_summary(stream.ledger()),
        ));
        if let Some(note) = context.encoder.device_note() {
            text.push_str(&format!("device     {note}\n"));
        }
        text
    }
}

/// Keep a batch entry for the summary, and print its line above a visible progress bar now.
fn record(files: &indicatif::ProgressBar, lines: &mut Vec<Value>, entry: Value) {
    if !files.is_hidden() {
        files.println(line_text(&entry).trim_end());
    }
    lines.push(entry);
}

/// The human line of one batch entry.
fn line_text(entry: &Value) -> String {
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
