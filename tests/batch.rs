//! Many inputs, long inputs and interruptions, as a user drives them: a directory with a corrupt
//! file, skipping and overwriting, shards, streamed multi-window output equal to single runs,
//! Ctrl-C, and shell completions.

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use common::{fixture, parse_npy};

fn npu_whisper() -> Command {
    Command::cargo_bin("npu-whisper").unwrap()
}

fn tiny_model() -> PathBuf {
    fixture("models/tiny-random-hf")
}

/// `npu-whisper encode --model <tiny> INPUT -o OUTPUT`, expected to succeed.
fn encode_ok(input: &Path, output: &Path, extra: &[&str]) {
    npu_whisper()
        .arg("encode")
        .args(extra)
        .arg("--model")
        .arg(tiny_model())
        .arg(input)
        .arg("-o")
        .arg(output)
        .assert()
        .success();
}

/// A 16 kHz mono 16-bit WAV of `seconds` of a tone whose pitch depends on `seed`.
fn tone(path: &Path, seconds: f32, seed: u32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let f = 200.0 + 37.0 * seed as f32;
    for i in 0..(seconds * 16_000.0) as usize {
        let x = (i as f32 * f * std::f32::consts::TAU / 16_000.0).sin() * 8_000.0;
        w.write_sample(x as i16).unwrap();
    }
    w.finalize().unwrap();
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_directory_of_100_files_with_one_corrupt_encodes_the_rest_and_names_the_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    for i in 0..99 {
        tone(&input.join(format!("clip{i:03}.wav")), 0.5, i);
    }
    std::fs::write(input.join("clip050x.wav"), b"RIFF\x10\x00\x00\x00WAVEjunk").unwrap();
    let out = dir.path().join("out");
    let run = npu_whisper()
        .args(["encode", "--model"])
        .arg(tiny_model())
        .arg(&input)
        .arg("-o")
        .arg(format!("{}/", out.display()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(stderr.contains("clip050x.wav"), "{stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "one line for the one bad file: {stderr}"
    );
    assert!(
        stdout.contains("99 encoded, 0 skipped, 1 failed"),
        "{stdout}"
    );
    let written = files_in(&out);
    assert_eq!(written.len(), 99, "{written:?}");
    assert!(written.iter().all(|n| n.ends_with(".npy")));
    let (shape, _) = parse_npy(&std::fs::read(out.join("clip007.npy")).unwrap());
    assert_eq!(shape, [1, 1500, 128]);

    // Again: the outputs exist and are skipped; the bad file is tried (and fails) again.
    let again = npu_whisper()
        .args(["encode", "--model"])
        .arg(tiny_model())
        .arg(&input)
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert_eq!(again.status.code(), Some(3));
    assert!(
        stdout.contains("0 encoded, 99 skipped, 1 failed"),
        "{stdout}"
    );
}

#[test]
fn overwrite_shards_and_output_names() {
    let dir = tempfile::tempdir().unwrap();
    let inputs: Vec<PathBuf> = (0..5)
        .map(|i| {
            let p = dir.path().join(format!("t{i}.wav"));
            tone(&p, 0.3, i);
            p
        })
        .collect();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    // Shards 0/2 and 1/2 split the inputs with nothing shared and nothing left out.
    let mut seen = Vec::new();
    for shard in ["0/2", "1/2"] {
        let part = dir.path().join(shard.replace('/', "of"));
        npu_whisper()
            .args(["encode", "--model"])
            .arg(tiny_model())
            .args(&inputs)
            .args(["--shard", shard, "-o"])
            .arg(format!("{}/", part.display()))
            .assert()
            .success();
        seen.extend(files_in(&part));
    }
    seen.sort();
    assert_eq!(seen, ["t0.npy", "t1.npy", "t2.npy", "t3.npy", "t4.npy"]);
    // An existing output is skipped unless --overwrite.
    std::fs::write(out.join("t0.npy"), b"stale").unwrap();
    npu_whisper()
        .args(["encode", "--model"])
        .arg(tiny_model())
        .args(&inputs[..2])
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    assert_eq!(std::fs::read(out.join("t0.npy")).unwrap(), b"stale");
    npu_whisper()
        .args([
            "encode",
            "--overwrite",
            "--format",
            "safetensors",
            "--model",
        ])
        .arg(tiny_model())
        .args(&inputs[..2])
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    assert!(out.join("t0.safetensors").exists());
    // Several inputs into one file, and a bad shard, are usage errors.
    for bad in [
        vec![
            "-o".to_string(),
            dir.path().join("x.npy").display().to_string(),
        ],
        vec!["--shard".to_string(), "2/2".to_string()],
    ] {
        npu_whisper()
            .args(["encode", "--model"])
            .arg(tiny_model())
            .args(&inputs[..2])
            .args(&bad)
            .assert()
            .code(2);
    }
}

/// A 95 s input: four windows streamed into the file one by one give the same array as the
/// windows encoded one at a time.
#[test]
fn multi_window_output_is_streamed_and_matches_single_windows() {
    let dir = tempfile::tempdir().unwrap();
    let long = dir.path().join("long.wav");
    tone(&long, 95.0, 3);
    let out = dir.path().join("long.npy");
    encode_ok(&long, &out, &[]);
    let (shape, all) = parse_npy(&std::fs::read(&out).unwrap());
    assert_eq!(shape, [4, 1500, 128]);
    // The second window alone: the same 30 s of samples as its own file.
    let mut reader = hound::WavReader::open(&long).unwrap();
    let samples: Vec<i16> = reader.samples::<i16>().map(|s| s.unwrap()).collect();
    let second = dir.path().join("second.wav");
    let mut w = hound::WavWriter::create(&second, reader.spec()).unwrap();
    for &s in &samples[480_000..960_000] {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
    let out2 = dir.path().join("second.npy");
    encode_ok(&second, &out2, &[]);
    let (_, one) = parse_npy(&std::fs::read(&out2).unwrap());
    assert_eq!(&all[1500 * 128..2 * 1500 * 128], &one[..]);
    // --trim: one frame per 20 ms of audio, the windows joined.
    let trimmed = dir.path().join("trim.npy");
    encode_ok(&long, &trimmed, &["--trim"]);
    let (shape, t) = parse_npy(&std::fs::read(&trimmed).unwrap());
    assert_eq!(shape, [4750, 128]);
    assert_eq!(&t[..], &all[..4750 * 128]);
    // --split --trim: one file per window, the last cut to the audio.
    let split_dir = dir.path().join("split");
    std::fs::create_dir(&split_dir).unwrap();
    encode_ok(&long, &split_dir.join("long.npy"), &["--split", "--trim"]);
    assert_eq!(
        files_in(&split_dir),
        [
            "long.00000.npy",
            "long.00001.npy",
            "long.00002.npy",
            "long.00003.npy"
        ]
    );
    let (shape, w1) = parse_npy(&std::fs::read(split_dir.join("long.00001.npy")).unwrap());
    assert_eq!(shape, [1500, 128]);
    assert_eq!(&w1[..], &all[1500 * 128..2 * 1500 * 128]);
    let (shape, _) = parse_npy(&std::fs::read(split_dir.join("long.00003.npy")).unwrap());
    assert_eq!(shape, [250, 128]);
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_cleanly_with_130_and_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let long = dir.path().join("long.wav");
    tone(&long, 1800.0, 1); // 60 windows: seconds of work
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("npu-whisper"))
        .args(["encode", "--model"])
        .arg(tiny_model())
        .arg(&long)
        .arg("-o")
        .arg(out.join("long.npy"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert_eq!(
        files_in(&out),
        Vec::<String>::new(),
        "no output, partial or not"
    );
}

#[test]
fn completions_name_the_subcommands_and_flags() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = npu_whisper().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        for word in ["encode", "doctor", "overwrite", "shard"] {
            assert!(text.contains(word), "{shell} completion lacks {word}");
        }
    }
    // bash loads it and registers the completion function.
    let script = npu_whisper()
        .args(["completions", "bash"])
        .output()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("npu-whisper.bash");
    std::fs::write(&path, &script.stdout).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {} && complete -p npu-whisper",
            path.display()
        ))
        .output()
        .unwrap();
    assert!(check.status.success());
    assert!(String::from_utf8_lossy(&check.stdout).contains("npu-whisper"));
}

#[test]
fn verify_reports_the_bf16_error_against_f32() {
    if !(npu_whisper::Precision::Auto.resolve() == npu_whisper::Precision::Bf16) {
        eprintln!("no AVX512_BF16 here: the bf16 path is not selectable");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.wav");
    tone(&clip, 2.0, 5);
    let out = npu_whisper()
        .args([
            "--json",
            "encode",
            "--precision",
            "bf16",
            "--verify",
            "--model",
        ])
        .arg(tiny_model())
        .arg(&clip)
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cosine = doc["precision_check"]["cosine"].as_f64().unwrap();
    assert!(cosine > 0.999 && cosine < 1.0, "{cosine}");
    assert!(doc["precision_check"]["max_abs"].as_f64().unwrap() > 0.0);
    // Without --verify there is no second encoder run and no figure.
    let plain = npu_whisper()
        .args(["--json", "encode", "--precision", "bf16", "--model"])
        .arg(tiny_model())
        .arg(&clip)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&plain.stdout).unwrap();
    assert!(doc["precision_check"].is_null());
}
