//! Silero VAD v6 in Rust against faster-whisper's onnxruntime run: speech probabilities,
//! speech ranges, and transcripts with `--vad`.

use npu_whisper::{FetchOptions, Vad, VadOptions};
use serde_json::Value;

use crate::common::sample;
use crate::fixtures::*;

/// The VAD as `--vad` loads it (fetched into the model cache by scripts/test).
fn vad() -> Vad {
    Vad::fetch(&FetchOptions::default().offline(true)).unwrap()
}

/// A recording's samples as the fixture script gave them to faster-whisper.
fn samples_of(clip: &str) -> Vec<f32> {
    let audio = npu_whisper::audio::load(
        &npu_whisper::audio::AudioSource::File(audio_of(clip)),
        &Default::default(),
    )
    .unwrap();
    audio.samples
}

#[test]
#[ignore = "needs the cached silero-vad model: run scripts/test"]
fn speech_probabilities_are_within_1e3_of_onnxruntime_and_ranges_equal_faster_whisper() {
    let vad = vad();
    let mut report = Vec::new();
    for (clip, reference) in manifest()["vad_probs"].as_object().unwrap() {
        let samples = samples_of(clip);
        let ours = vad.probabilities(&samples);
        let want: Vec<f64> = reference
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_f64().unwrap())
            .collect();
        assert_eq!(ours.len(), want.len(), "{clip}: chunks");
        let (mut worst, mut at) = (0.0f64, 0);
        for (i, (&a, &b)) in ours.iter().zip(&want).enumerate() {
            let d = (f64::from(a) - b).abs();
            if d > worst {
                (worst, at) = (d, i);
            }
        }
        report.push(format!(
            "{clip}: {} chunks, max |difference| {worst:.2e} at chunk {at}",
            ours.len()
        ));
        assert!(worst <= 1e-3, "{}", report.join("\n"));
        let ranges = vad.speech(&samples, &VadOptions::default());
        let ranges: Vec<(u64, u64)> = ranges
            .iter()
            .map(|r| (r.start as u64, r.end as u64))
            .collect();
        let want: Vec<(u64, u64)> = manifest()["vad_timestamps"][clip]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["start"].as_u64().unwrap(), r["end"].as_u64().unwrap()))
            .collect();
        assert_eq!(ranges, want, "{clip}: speech ranges");
    }
    eprintln!("{}", report.join("\n"));
}

/// Whether `(start, end)` reaches from one transcribed speech span into another, across the
/// silence VAD removed between them.
fn crosses_removed_silence((start, end): (f64, f64), spans: &[(f64, f64)]) -> bool {
    !spans
        .iter()
        .any(|&(from, to)| start >= from - 0.01 && end <= to + 0.01)
}

/// The part of a transcript up to (not including) segment `cut`.
fn first_segments(transcript: &serde_json::Value, cut: usize) -> serde_json::Value {
    let mut out = transcript.clone();
    let segments = out["segments"].as_array_mut().unwrap();
    segments.truncate(cut);
    out
}

#[test]
#[ignore = "needs the cached base and silero-vad models: run scripts/test"]
fn vad_transcripts_equal_faster_whisper_up_to_the_first_sampled_window() {
    let mut compared = Vec::new();
    for model in ["base", "tiny.en"] {
        let references = references("vad", model);
        let clips: Vec<&str> = references.keys().map(String::as_str).collect();
        let ours = transcribe_all(&clips, model, &["--precision", "f32", "--vad"]);
        for clip in clips {
            let (ours, reference) = (&ours[clip], &references[clip]);
            // A window decoded at temperature > 0 draws random samples: the references' draws
            // cannot be repeated, so comparison stops there.
            let segments = reference["segments"].as_array().unwrap();
            let cut = segments
                .iter()
                .position(|s| s["temperature"].as_f64().unwrap() > 0.0)
                .unwrap_or(segments.len());
            // The transcribed stretches are faster-whisper's speech ranges.
            let spans: Vec<(f64, f64)> = ours["speech"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| (s["start"].as_f64().unwrap(), s["end"].as_f64().unwrap()))
                .collect();
            // Equal to faster-whisper, segment for segment, but where faster-whisper moves a
            // segment's end (or start) across removed silence into the next (or previous)
            // speech range, a cue spanning the pause: ours keeps to the range its speech is in
            // (the same tokens; our deliberate departure, see `restore_speech_times`).
            let (mut ours_cut, mut reference_cut) =
                (first_segments(ours, cut), first_segments(reference, cut));
            let mut kept_to_speech = 0;
            for (a, b) in ours_cut["segments"]
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .zip(reference_cut["segments"].as_array_mut().unwrap())
            {
                let times = |s: &Value| (s["start"].as_f64().unwrap(), s["end"].as_f64().unwrap());
                if times(a) != times(b) && a["tokens"] == b["tokens"] {
                    let (ours_span, reference_span) = (times(a), times(b));
                    assert!(
                        crosses_removed_silence(reference_span, &spans)
                            && !crosses_removed_silence(ours_span, &spans),
                        "{model} {clip}: ours {ours_span:?}, faster-whisper {reference_span:?}"
                    );
                    a["start"] = b["start"].clone();
                    a["end"] = b["end"].clone();
                    kept_to_speech += 1;
                }
            }
            let why = crate::parity::departure(&ours_cut, &reference_cut);
            assert!(why.is_none(), "{model} {clip}: {}", why.unwrap());
            compared.push(format!(
                "{model} {clip}: {cut} of {} segments ({kept_to_speech} kept to their speech range where faster-whisper's crosses removed silence)",
                segments.len()
            ));
            let want: Vec<(f64, f64)> = manifest()["vad_timestamps"][clip]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    let at = |k: &str| r[k].as_f64().unwrap() / 16000.0;
                    (at("start"), at("end"))
                })
                .collect();
            assert_eq!(spans, want, "{model} {clip}");
        }
    }
    eprintln!("{}", compared.join("\n"));
}

/// Stretches of a recording with no speech, of at least `min_s` seconds: (start, end).
fn gaps(recording: &str, min_s: f64) -> Vec<(f64, f64)> {
    let mut at = 0.0;
    let mut out = Vec::new();
    for part in manifest()["recordings"][recording]["parts"]
        .as_array()
        .unwrap()
    {
        let seconds = match part["clip"].as_str() {
            Some(clip) => {
                let samples = clip_samples(clip).len();
                samples as f64 / 16000.0
            }
            None => part["silence_s"]
                .as_f64()
                .or(part["noise_s"].as_f64())
                .unwrap(),
        };
        if part["clip"].is_null() && seconds >= min_s {
            out.push((at, at + seconds));
        }
        at += seconds;
    }
    out
}

/// Words of `transcript` (segments, where it has no word times) that lie inside one of
/// `gaps`, a second kept clear at each edge where the VAD's padding and the speech's own tail
/// may reach. With word times a segment's bounds are its first and last word, which may sit
/// on both sides of a removed gap: the words say where text is.
fn text_inside(transcript: &serde_json::Value, gaps: &[(f64, f64)]) -> Vec<String> {
    let mut found = Vec::new();
    for s in transcript["segments"].as_array().unwrap() {
        let span = |v: &serde_json::Value, text: &str| {
            (
                v["start"].as_f64().unwrap(),
                v["end"].as_f64().unwrap(),
                v[text].to_string(),
            )
        };
        let spans: Vec<_> = match s["words"].as_array() {
            Some(words) => words.iter().map(|w| span(w, "word")).collect(),
            None => vec![span(s, "text")],
        };
        for (start, end, text) in spans {
            for &(g0, g1) in gaps {
                if start < g1 - 1.0 && end > g0 + 1.0 {
                    found.push(format!(
                        "{text} at {start:.2}-{end:.2} in the gap {g0:.1}-{g1:.1}"
                    ));
                }
            }
        }
    }
    found
}

#[test]
#[ignore = "needs the cached base and silero-vad models: run scripts/test"]
fn with_vad_no_text_lands_in_long_silence_or_noise() {
    // Without VAD, base writes "You" into long's 40 s of silence (so the check can fail).
    let long_gaps = gaps("long", 5.0);
    let plain = transcribe_with("long", "base", &["--word-timestamps"], false);
    let invented = text_inside(&plain, &long_gaps);
    assert!(
        !invented.is_empty(),
        "base without --vad wrote nothing in long's silence"
    );
    eprintln!("without --vad: {}", invented.join("; "));
    for model in ["base", "tiny.en"] {
        for clip in ["long", "noisy_gaps", "twice_gap"] {
            let gaps = gaps(clip, 5.0);
            assert!(!gaps.is_empty(), "{clip}");
            let ours = transcribe_with(clip, model, &["--vad", "--word-timestamps"], false);
            let inside = text_inside(&ours, &gaps);
            assert!(
                inside.is_empty(),
                "{model} {clip} --vad: {}",
                inside.join("; ")
            );
            let script = script_of(clip);
            let (errors, words) = word_errors(script, text_of(&ours));
            eprintln!(
                "{model} {clip} --vad: no text in {} gap(s); {errors}/{words} word errors",
                gaps.len()
            );
        }
    }
}

#[test]
#[ignore = "needs the cached silero-vad model: run scripts/test"]
fn first_use_imports_the_onnx_file_and_convert_writes_the_same_weights() {
    // A cache holding silero-vad as the PyPI route leaves it: the ONNX file, no safetensors.
    let cache = tempfile::tempdir().unwrap();
    let fetched = npu_whisper::ModelCache::from_env(true)
        .dir()
        .join("silero-vad");
    let dir = cache.path().join("silero-vad");
    std::fs::create_dir(&dir).unwrap();
    for f in [".complete", "source.json", "LICENSE", "silero_vad_v6.onnx"] {
        std::fs::copy(fetched.join(f), dir.join(f)).unwrap();
    }
    let jfk = npu_whisper::audio::load(
        &npu_whisper::audio::AudioSource::File(sample("jfk.wav")),
        &Default::default(),
    )
    .unwrap()
    .samples;
    let output = assert_cmd::Command::cargo_bin("npu-whisper")
        .unwrap()
        .env("NPU_WHISPER_MODEL_DIR", cache.path())
        .args([
            "--offline",
            "transcribe",
            "--vad",
            "--beam-size",
            "1",
            "-f",
            "json",
        ])
        .arg(sample("jfk.wav"))
        .args(["--model", &model_dir("tiny.en")])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let imported = dir.join("silero_vad_v6.safetensors");
    assert!(
        imported.is_file(),
        "--vad did not keep the imported weights"
    );
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        doc["speech"].as_array().unwrap().len(),
        1,
        "{}",
        doc["speech"]
    );
    // `convert` writes the same file byte for byte.
    let converted = cache.path().join("converted.safetensors");
    let output = assert_cmd::Command::cargo_bin("npu-whisper")
        .unwrap()
        .arg("convert")
        .arg(dir.join("silero_vad_v6.onnx"))
        .arg("-o")
        .arg(&converted)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        std::fs::read(&converted).unwrap(),
        std::fs::read(&imported).unwrap()
    );
    // And the safetensors weights compute what the ONNX file's do.
    let from_onnx = Vad::open(&dir.join("silero_vad_v6.onnx")).unwrap();
    let from_safetensors = Vad::open(&converted).unwrap();
    assert_eq!(
        from_onnx.probabilities(&jfk),
        from_safetensors.probabilities(&jfk)
    );
}

/// A safetensors file's header and its float32 tensor `name`.
fn read_safetensors(path: &std::path::Path, name: &str) -> (serde_json::Value, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let [a, b] = [0, 1].map(|i| header[name]["data_offsets"][i].as_u64().unwrap() as usize);
    let data = bytes[8 + n + a..8 + n + b]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    (header, data)
}

#[test]
#[ignore = "needs the cached tiny.en and silero-vad models: run scripts/test"]
fn encode_with_vad_encodes_only_the_windows_with_speech_and_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let long = audio_of("long");
    let encode = |args: &[&str], out: &std::path::Path| {
        assert_cmd::Command::cargo_bin("npu-whisper")
            .unwrap()
            .args(["--threads", "2", "encode", "--model", &model_dir("tiny.en")])
            .arg(&long)
            .arg("-o")
            .arg(out)
            .args(args)
            .output()
            .unwrap()
    };
    let (all, speech) = (
        dir.path().join("all.safetensors"),
        dir.path().join("speech.safetensors"),
    );
    assert!(encode(&[], &all).status.success());
    let output = encode(&["--vad"], &speech);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let (header_all, all) = read_safetensors(&all, "embeddings");
    let (header, kept) = read_safetensors(&speech, "embeddings");
    // long: speech 0-24.7 s and 64.7-103.9 s; the silent second window (30-60 s) is skipped.
    let meta = &header["__metadata__"];
    assert_eq!(meta["encoded_windows"], "[0,2,3]");
    assert_eq!(
        meta["encoded_ranges"],
        "[[0.0,30.0],[60.0,90.0],[90.0,103.9413125]]"
    );
    assert_eq!(meta["windows"], "3");
    assert!(
        meta["speech_ranges"]
            .as_str()
            .unwrap()
            .starts_with("[[0.0,12.56],")
    );
    assert_eq!(header_all["embeddings"]["shape"][0], 4);
    assert_eq!(header["embeddings"]["shape"][0], 3);
    // Each kept window is the same window of the full encode, bit for bit.
    let window = all.len() / 4;
    for (i, w) in [0, 2, 3].into_iter().enumerate() {
        assert!(
            kept[i * window..(i + 1) * window] == all[w * window..(w + 1) * window],
            "window {w}"
        );
    }
    // An .npy file has no room for the record: refused before any work.
    let output = encode(&["--vad"], &dir.path().join("speech.npy"));
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains(".safetensors"));
}

#[test]
#[ignore = "needs the cached tiny.en and silero-vad models: run scripts/test"]
fn a_recording_without_speech_gives_no_segments_and_succeeds() {
    let silence = crate::common::fixture("audio/silence_1s.wav");
    // English-only models know their language; a multilingual one detects it on what VAD left
    // (nothing: a window of padding), as faster-whisper 1.2.1 does: on this machine its base
    // (CTranslate2 float32, `vad_filter=True`) says "en" with probability 0.557 for silence.
    for (model, language) in [
        ("tiny.en", serde_json::json!("en")),
        ("base", serde_json::json!("en")),
    ] {
        let doc = transcribe_file(&silence, model, &["--vad"], false);
        assert_eq!(doc["segments"], serde_json::json!([]), "{model}");
        assert_eq!(doc["speech"], serde_json::json!([]), "{model}");
        assert_eq!(doc["windows"], 0, "{model}");
        assert_eq!(doc["language"], language, "{model}");
    }
}

/// Each clip of a recording that follows a pause of at least `min_s` seconds: where the pause
/// began, where the clip's speech really starts (its first sample above 1% of full scale: the
/// clips are espeak-ng's, with digital silence around the speech), and its first scripted word.
fn onsets_after_pauses(recording: &str, min_s: f64) -> Vec<(f64, f64, String)> {
    let mut at = 0.0;
    let mut pause: Option<(f64, f64)> = None;
    let mut out = Vec::new();
    for part in manifest()["recordings"][recording]["parts"]
        .as_array()
        .unwrap()
    {
        match part["clip"].as_str() {
            Some(clip) => {
                let samples = clip_samples(clip);
                if let Some((start, seconds)) = pause.take().filter(|&(_, s)| s >= min_s) {
                    let first = samples.iter().position(|s| s.unsigned_abs() > 327).unwrap();
                    let word = script_of(clip).split_whitespace().next().unwrap();
                    out.push((start, at + first as f64 / 16000.0, word.to_lowercase()));
                    let _ = seconds;
                }
                at += samples.len() as f64 / 16000.0;
            }
            None => {
                let seconds = part["silence_s"]
                    .as_f64()
                    .or(part["noise_s"].as_f64())
                    .unwrap();
                pause = Some((at, seconds));
                at += seconds;
            }
        }
    }
    out
}

#[test]
#[ignore = "needs the cached base and silero-vad models: run scripts/test"]
fn after_a_pause_the_first_word_starts_at_its_onset_and_no_cue_spans_the_pause() {
    // VAD removes the pauses; a word Whisper aligns across the join (its start drawn into the
    // silence before it) belongs to the speech range that holds it, not to the one before the
    // pause (faster-whisper 1.2.1 puts it there, 40 s early here, and its segment's cue spans
    // the pause). Base: within 0.3 s of the onset; tiny.en, whose alignment is coarser even
    // without VAD: within 0.5 s.
    let onsets = onsets_after_pauses("long", 2.0);
    assert_eq!(onsets.len(), 3, "{onsets:?}");
    let long_pauses = gaps("long", 5.0);
    let mut report = Vec::new();
    for (model, within) in [("base", 0.3), ("tiny.en", 0.5)] {
        let ours = transcribe_with("long", model, &["--vad", "--word-timestamps"], false);
        let words: Vec<(String, f64, f64)> = ours["segments"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["words"].as_array().unwrap().iter())
            .map(|w| {
                let text = w["word"].as_str().unwrap();
                let text: String = text.chars().filter(|c| c.is_alphanumeric()).collect();
                (
                    text.to_lowercase(),
                    w["start"].as_f64().unwrap(),
                    w["end"].as_f64().unwrap(),
                )
            })
            .collect();
        for (pause_start, onset, first) in &onsets {
            let (_, start, end) = words
                .iter()
                .find(|(text, start, _)| text == first && *start >= pause_start - 0.5)
                .unwrap_or_else(|| panic!("{model}: no `{first}` after {pause_start:.2}"));
            report.push(format!(
                "{model}: `{first}` at {start:.2}-{end:.2}, speech begins {onset:.2}"
            ));
            assert!(
                (start - onset).abs() <= within,
                "{model}: `{first}` starts at {start:.2}, its speech at {onset:.2}"
            );
        }
        for args in [&["--vad", "--word-timestamps"][..], &["--vad"]] {
            let transcript = if args.len() == 2 {
                ours.clone()
            } else {
                transcribe_with("long", model, args, false)
            };
            for s in transcript["segments"].as_array().unwrap() {
                let (start, end) = (s["start"].as_f64().unwrap(), s["end"].as_f64().unwrap());
                for &(g0, g1) in &long_pauses {
                    assert!(
                        !(start < g0 && end > g1),
                        "{model} {args:?}: a cue {start:.2}-{end:.2} spans the pause {g0:.1}-{g1:.1}"
                    );
                }
            }
        }
    }
    eprintln!("{}", report.join("\n"));
}
