//! `npu-whisper mel`: audio -> OpenAI-exact log-mel, written as float32 .npy.

use std::time::Instant;

use serde_json::json;

use super::{SCHEMA_VERSION, elapsed_ms, print_summary};
use crate::Result;
use crate::audio::{self, AudioSource};
use crate::cli::{GlobalArgs, MelArgs};
use crate::mel::{self, LogMel};
use crate::tools::export::{self, OutputTarget};

pub fn run(args: &MelArgs, global: &GlobalArgs) -> Result<()> {
    let total = Instant::now();
    let source = AudioSource::from_arg(&args.audio);
    let target = OutputTarget::from_arg(&args.output);

    let started = Instant::now();
    let audio = audio::load(&source, &args.limits.limits())?;
    let load_ms = elapsed_ms(started);

    let started = Instant::now();
    let front_end = LogMel::new(args.n_mels);
    let features = front_end.windows(&audio.samples);
    let mel_ms = elapsed_ms(started);
    let windows = mel::window_count(audio.samples.len());
    let shape = [windows, args.n_mels, mel::WINDOW_FRAMES];

    let started = Instant::now();
    export::write_npy(&target, &shape, &features)?;
    let write_ms = elapsed_ms(started);

    let (min, max, mean) = statistics(&features);
    let total_ms = elapsed_ms(total);
    let report = if global.json {
        let doc = json!({
            "schema_version": SCHEMA_VERSION,
            "command": "mel",
            "input": source.display_path(),
            "source": audio.source,
            "duration_s": audio.duration_secs(),
            "samples_16k": audio.samples.len(),
            "windows": windows,
            "n_mels": args.n_mels,
            "shape": shape,
            "min": min, "max": max, "mean": mean,
            "output": target.display_path(),
            "timings_ms": {"load": load_ms, "mel": mel_ms, "write": write_ms, "total": total_ms},
        });
        format!("{doc:#}\n")
    } else if global.quiet {
        String::new()
    } else {
        let src = &audio.source;
        format!(
            "input     {} ({}, {}, {} Hz, {} ch)\n\
             duration  {:.2} s ({} samples at 16 kHz)\n\
             windows   {windows} x {} mels x {} frames\n\
             values    min {min:.4}  max {max:.4}  mean {mean:.4}\n\
             output    {} (float32 {shape:?})\n\
             time      load {load_ms:.1} ms, mel {mel_ms:.1} ms, write {write_ms:.1} ms, total {total_ms:.1} ms\n",
            source.display_path().display(),
            src.container,
            src.codec,
            src.sample_rate,
            src.channels,
            audio.duration_secs(),
            audio.samples.len(),
            args.n_mels,
            mel::WINDOW_FRAMES,
            target.display_path().display(),
        )
    };
    print_summary(target == OutputTarget::Stdout, &report);
    Ok(())
}

fn statistics(values: &[f32]) -> (f32, f32, f64) {
    let (mut min, mut max, mut sum) = (f32::INFINITY, f32::NEG_INFINITY, 0.0f64);
    for &v in values {
        min = min.min(v);
        max = max.max(v);
        sum += v as f64;
    }
    (min, max, sum / values.len().max(1) as f64)
}
