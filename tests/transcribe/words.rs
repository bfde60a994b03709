//! Word timestamps (`--word-timestamps`) against faster-whisper's `word_timestamps=True` with
//! beam 5 on the same weights: the same words, their start and end within 0.1 s mean absolute
//! difference, their probabilities, and the subtitle layouts built from them.

use serde_json::Value;

use crate::fixtures::*;

/// Every word of a transcript: (segment temperature, word, start, end, probability).
fn words_of(transcript: &Value) -> Vec<(f64, String, f64, f64, f64)> {
    let mut out = Vec::new();
    for segment in transcript["segments"].as_array().unwrap() {
        let temperature = segment["temperature"].as_f64().unwrap();
        for w in segment["words"].as_array().expect("a words list") {
            out.push((
                temperature,
                w["word"].as_str().unwrap().to_string(),
                w["start"].as_f64().unwrap(),
                w["end"].as_f64().unwrap(),
                w["probability"].as_f64().unwrap(),
            ));
        }
    }
    out
}

#[test]
#[ignore = "needs the cached base model: run scripts/test"]
fn word_times_are_within_a_tenth_of_a_second_of_faster_whisper() {
    let mut report = Vec::new();
    let (mut sum, mut count, mut max, mut max_p) = (0.0f64, 0usize, 0.0f64, 0.0f64);
    for model in ["base", "tiny.en"] {
        let refs = references("words", model);
        let clips: Vec<&str> = refs.keys().map(String::as_str).collect();
        let ours = transcribe_all(&clips, model, &["--precision", "f32", "--word-timestamps"]);
        for clip in clips {
            let (a, b) = (words_of(&ours[clip]), words_of(&refs[clip]));
            let texts = |w: &[(f64, String, f64, f64, f64)]| -> Vec<String> {
                w.iter().map(|x| x.1.clone()).collect()
            };
            if texts(&a) != texts(&b) {
                // Only where a window was re-read (our departure) or sampled may words differ.
                let reread = ours[clip]["windows_reread"].as_u64().unwrap() > 0;
                let sampled = b.iter().any(|w| w.0 > 0.0);
                assert!(
                    reread || sampled,
                    "{model} {clip}: words differ\nours {:?}\nfaster-whisper {:?}",
                    texts(&a),
                    texts(&b)
                );
                report.push(format!(
                    "{model} {clip}: words differ (re-read or sampled window)"
                ));
                continue;
            }
            // Segment bounds follow their words, as faster-whisper moves them.
            let bounds = |t: &Value| -> Vec<(f64, f64)> {
                t["segments"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| (s["start"].as_f64().unwrap(), s["end"].as_f64().unwrap()))
                    .collect()
            };
            let (ours_bounds, ref_bounds) = (bounds(&ours[clip]), bounds(&refs[clip]));
            assert_eq!(ours_bounds.len(), ref_bounds.len(), "{model} {clip}");
            for (x, y) in ours_bounds.iter().zip(&ref_bounds) {
                assert!(
                    (x.0 - y.0).abs() <= 0.02 && (x.1 - y.1).abs() <= 0.02,
                    "{model} {clip}: segment {x:?}, faster-whisper {y:?}"
                );
            }
            let (mut clip_sum, mut clip_max) = (0.0f64, 0.0f64);
            for (x, y) in a.iter().zip(&b) {
                let (ds, de) = ((x.2 - y.2).abs(), (x.3 - y.3).abs());
                clip_sum += ds + de;
                clip_max = clip_max.max(ds).max(de);
                max_p = max_p.max((x.4 - y.4).abs());
            }
            sum += clip_sum;
            count += 2 * a.len();
            max = max.max(clip_max);
            report.push(format!(
                "{model} {clip}: {} words, mean |d| {:.4} s, max {:.2} s",
                a.len(),
                clip_sum / (2 * a.len()).max(1) as f64,
                clip_max
            ));
        }
    }
    let mad = sum / count as f64;
    eprintln!(
        "word start/end over {count} times: mean absolute difference {mad:.4} s, max {max:.2} s; \
         probability max difference {max_p:.5}\n{}",
        report.join("\n")
    );
    assert!(count > 500, "too few words compared: {count}");
    assert!(
        mad <= 0.1,
        "mean absolute difference {mad:.3} s\n{}",
        report.join("\n")
    );
    assert!(max_p <= 0.01, "probabilities differ by up to {max_p}");
}

/// `transcribe jfk.wav` with `args` on tiny.en: (exit code, stdout, stderr).
fn run_jfk(args: &[&str]) -> (i32, String, String) {
    let output = assert_cmd::Command::cargo_bin("npu-whisper")
        .unwrap()
        .args(["--threads", "2", "transcribe"])
        .arg(audio_of("jfk"))
        .args(["--model", &model_dir("tiny.en")])
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
#[ignore = "needs the cached tiny.en model: run scripts/test"]
fn subtitles_split_lines_and_highlight_words_from_word_times() {
    let (code, srt, stderr) = run_jfk(&[
        "-f",
        "srt",
        "--word-timestamps",
        "--max-line-width",
        "20",
        "--max-line-count",
        "2",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let cues: Vec<&str> = srt.trim_end().split("\n\n").collect();
    // About 105 characters in cues of at most 2 x 20.
    assert!(cues.len() >= 3, "{srt}");
    let mut text = String::new();
    for cue in &cues {
        let lines: Vec<&str> = cue.lines().collect();
        // Number, times, then at most two lines of at most 20 characters.
        assert!((3..=4).contains(&lines.len()), "{cue}");
        assert!(lines[1].contains(" --> "), "{cue}");
        for line in &lines[2..] {
            assert!(line.chars().count() <= 20, "{line:?} in\n{srt}");
            text.push_str(line);
            text.push(' ');
        }
    }
    assert_eq!(
        words(&text),
        words(manifest()["jfk_script"].as_str().unwrap())
    );

    let (code, vtt, stderr) = run_jfk(&["-f", "vtt", "--word-timestamps", "--highlight-words"]);
    assert_eq!(code, 0, "{stderr}");
    let underlined = vtt.matches("<u>").count();
    assert_eq!(underlined, 22, "one cue per word:\n{vtt}");
    assert!(vtt.contains(" my <u>fellow</u> Americans"), "{vtt}");

    // The layout options need word times.
    let (code, stdout, stderr) = run_jfk(&["-f", "srt", "--max-line-width", "20"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("--word-timestamps") && stdout.is_empty(),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
