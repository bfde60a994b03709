//! The binary as a user drives it: exit codes, one-line messages, JSON, stdin/stdout, and no
//! partial output left behind on failure.

mod common;

use std::path::Path;

use assert_cmd::Command;
use common::{fixture, parse_npy};

fn npu_whisper() -> Command {
    Command::cargo_bin("npu-whisper").unwrap()
}

/// A WAV file built byte by byte, so headers can say anything.
fn wav(format_tag: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
    let block_align = channels * bits.div_ceil(8);
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&format_tag.to_le_bytes());
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * block_align as u32).to_le_bytes());
    b.extend_from_slice(&block_align.to_le_bytes());
    b.extend_from_slice(&bits.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(data);
    b
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Run `mel` on `bytes` saved as `name`; assert exit 3, a one-line message naming the file and
/// `expected`, and that no output (partial or not) was left behind.
fn assert_bad_audio(name: &str, bytes: Option<&[u8]>, expected: &str) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join(name);
    if let Some(bytes) = bytes {
        std::fs::write(&input, bytes).unwrap();
    }
    let output = dir.path().join("out.npy");
    let assert = npu_whisper()
        .args([
            "mel",
            input.to_str().unwrap(),
            "-o",
            output.to_str().unwrap(),
        ])
        .assert()
        .code(3);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{name}: not one line: {stderr}");
    assert!(
        stderr.contains(input.to_str().unwrap()),
        "{name}: file not named: {stderr}"
    );
    assert!(
        stderr.contains(expected),
        "{name}: expected `{expected}` in: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{name}: {stderr}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != name)
        .collect();
    assert!(left.is_empty(), "{name}: left behind {left:?}");
}

#[test]
fn bad_audio_exits_3_with_one_line_naming_the_file_and_the_problem() {
    let pcm16 = [0u8, 1, 2, 3];
    assert_bad_audio("empty.wav", Some(b""), "is empty");
    assert_bad_audio(
        "truncated.wav",
        Some(&wav(1, 1, 16_000, 16, &pcm16)[..30]),
        "truncated",
    );
    assert_bad_audio(
        "text.wav",
        Some(b"hello, this is not audio\n"),
        "not a recognised audio file",
    );
    assert_bad_audio(
        "zero_samples.wav",
        Some(&wav(1, 1, 16_000, 16, &[])),
        "no audio samples",
    );
    assert_bad_audio(
        "nan.wav",
        Some(&wav(3, 1, 16_000, 32, &f32_bytes(&[0.1, f32::NAN, 0.2]))),
        "not a finite number",
    );
    assert_bad_audio(
        "inf.wav",
        Some(&wav(3, 1, 16_000, 32, &f32_bytes(&[f32::INFINITY]))),
        "not a finite number",
    );
    assert_bad_audio("zero_hz.wav", Some(&wav(1, 1, 0, 16, &pcm16)), "0 Hz");
    assert_bad_audio(
        "zero_channels.wav",
        Some(&wav(1, 0, 16_000, 16, &pcm16)),
        "0 channels",
    );
    // 0 Hz with a byte rate that does not follow from it: still named as 0 Hz.
    let mut inconsistent = wav(1, 1, 0, 16, &pcm16);
    inconsistent[28..32].copy_from_slice(&32_000u32.to_le_bytes());
    assert_bad_audio("zero_hz_byte_rate.wav", Some(&inconsistent), "0 Hz");
    assert_bad_audio(
        "f64.wav",
        Some(&wav(3, 1, 16_000, 64, &[0u8; 16])),
        "64-bit float",
    );
    assert_bad_audio(
        "mulaw.wav",
        Some(&wav(7, 1, 8_000, 8, &pcm16)),
        "unsupported WAV codec mu-law",
    );
    assert_bad_audio(
        "adpcm.wav",
        Some(&wav(2, 1, 8_000, 4, &pcm16)),
        "unsupported WAV codec",
    );
    assert_bad_audio("missing.wav", None, "cannot read");
    assert_bad_audio(
        "garbage.mp3",
        Some(&[0xFF, 0xFB, 0x00, 0x00, 0x12, 0x34]),
        "mp3",
    );
    assert_bad_audio("truncated.flac", Some(b"fLaC\x00\x00"), "flac");
}

#[test]
fn a_directory_as_input_is_a_data_error() {
    let dir = tempfile::tempdir().unwrap();
    npu_whisper()
        .args(["mel", dir.path().to_str().unwrap(), "-o", "/dev/null"])
        .assert()
        .code(3)
        .stderr(predicates::str::contains("is a directory"));
}

#[test]
fn mel_writes_npy_of_windows_by_mels_by_frames_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("speech.npy");
    let assert = npu_whisper()
        .args([
            "mel",
            fixture("audio/speech_espeak_16k.wav").to_str().unwrap(),
        ])
        .args(["-o", out.to_str().unwrap(), "--n-mels", "128"])
        .assert()
        .success();
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    for word in ["duration", "windows", "min", "max", "time"] {
        assert!(stdout.contains(word), "summary lacks {word}: {stdout}");
    }
    let (shape, values) = parse_npy(&std::fs::read(&out).unwrap());
    assert_eq!(shape, vec![1, 128, 3000]);
    assert!(values.iter().all(|v| v.is_finite()));
}

#[test]
fn stdin_in_and_stdout_out_carry_only_the_product() {
    let input = std::fs::read(fixture("audio/sine_440hz_2s.wav")).unwrap();
    let assert = npu_whisper()
        .args(["mel", "-", "-o", "-"])
        .write_stdin(input)
        .assert()
        .success();
    let (shape, _) = parse_npy(&assert.get_output().stdout);
    assert_eq!(shape, vec![1, 80, 3000]);
    // The summary went to stderr.
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("<stdin>"), "{stderr}");
}

#[test]
fn json_summary_is_one_document_with_a_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.npy");
    // --json accepted before the subcommand as well as after it.
    let assert = npu_whisper()
        .args([
            "--json",
            "mel",
            fixture("audio/one_sample.wav").to_str().unwrap(),
        ])
        .args(["-o", out.to_str().unwrap()])
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["windows"], 1);
    assert_eq!(doc["shape"], serde_json::json!([1, 80, 3000]));
    assert_eq!(doc["samples_16k"], 1);
    assert_eq!(doc["source"]["codec"], "pcm s16");
}

#[test]
fn bf16_runs_where_the_cpu_has_it_and_is_refused_clearly_where_not() {
    let args = [
        "bench",
        "--precision",
        "bf16",
        "--layers",
        "1",
        "--iterations",
        "1",
        "--warmup",
        "0",
    ];
    if npu_whisper::Precision::Auto.resolve() == npu_whisper::Precision::Bf16 {
        npu_whisper().args(args).assert().success();
    }
    // With AVX-512 forced off (as on an AVX2-only CPU) the bf16 path is refused in one line.
    npu_whisper()
        .env("NPU_WHISPER_FORCE_AVX2", "1")
        .args(args)
        .assert()
        .code(1)
        .stderr(predicates::str::contains("needs a CPU with AVX512_BF16"));
}

#[test]
fn bench_runs_with_no_model_and_reports_its_schema() {
    let started = std::time::Instant::now();
    let assert = npu_whisper()
        .args(["bench", "--layers", "6", "--iterations", "2", "--json"])
        .env("NPU_WHISPER_MODEL_DIR", "/nonexistent")
        .assert()
        .success();
    assert!(
        started.elapsed().as_secs() < 30,
        "bench took {:?}",
        started.elapsed()
    );
    let doc: serde_json::Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["model"], "synthetic-base");
    assert_eq!(doc["layers"], 6);
    let ms = &doc["encoder_ms"];
    let (min, median, p95) = (
        ms["min"].as_f64().unwrap(),
        ms["median"].as_f64().unwrap(),
        ms["p95"].as_f64().unwrap(),
    );
    assert!(0.0 < min && min <= median && median <= p95, "{ms}");
    assert!((doc["gflop_per_window"].as_f64().unwrap() - 87.4).abs() < 1.0);
    assert!(doc["gemm_peak_gflops_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(doc["op_kinds"].as_array().unwrap().len(), 6);
    for key in ["cpu", "threads", "isa", "kernel", "xrt", "git_revision"] {
        assert!(doc["machine"].get(key).is_some(), "fingerprint lacks {key}");
    }
    // On the simulated NPU the projection is part of the report.
    let assert = npu_whisper()
        .args([
            "bench",
            "--layers",
            "1",
            "--iterations",
            "1",
            "--warmup",
            "0",
            "--device",
            "npu-sim",
            "--json",
        ])
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    assert_eq!(doc["projected_npu"][0]["label"], "projected, not measured");
}

#[test]
fn usage_errors_exit_2() {
    npu_whisper().args(["mel"]).assert().code(2);
    npu_whisper().args(["frobnicate"]).assert().code(2);
    npu_whisper()
        .args(["mel", "a.wav", "-o", "b.npy", "--n-mels", "40"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("80 or 128"));
    npu_whisper()
        .args(["--threads", "0", "doctor"])
        .assert()
        .code(2);
}

#[test]
fn help_documents_exit_codes() {
    npu_whisper()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicates::str::contains("Exit codes"));
}

#[test]
fn an_unwritable_output_is_a_runtime_error_naming_the_path() {
    let target = Path::new("/nonexistent-dir/out.npy");
    npu_whisper()
        .args(["mel", fixture("audio/one_sample.wav").to_str().unwrap()])
        .args(["-o", target.to_str().unwrap()])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("/nonexistent-dir/out.npy"));
}

/// `npu-whisper encode AUDIO --model <tiny random model>`, for more arguments to follow.
fn encode_tiny(audio: &str) -> Command {
    let mut command = npu_whisper();
    command.args(["encode", audio, "--model", &tiny_model()]);
    command
}

fn tiny_model() -> String {
    fixture("models/tiny-random-hf")
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn encode_writes_windows_by_frames_by_width_and_a_full_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.npy");
    let assert = npu_whisper()
        .args([
            "encode",
            fixture("audio/speech_espeak_16k.wav").to_str().unwrap(),
        ])
        .args(["--model", &tiny_model(), "-o", out.to_str().unwrap()])
        .assert()
        .success();
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    for word in [
        "duration",
        "embeddings",
        "L2 norm",
        "encoder",
        "x realtime",
        "RTF",
        "placement  cpu: 26/26 ops",
    ] {
        assert!(stdout.contains(word), "summary lacks `{word}`: {stdout}");
    }
    let (shape, values) = parse_npy(&std::fs::read(&out).unwrap());
    assert_eq!(shape, vec![1, 1500, 128]);
    assert!(values.iter().all(|v| v.is_finite()));
}

#[test]
fn encode_trim_cuts_to_the_audio_length_and_safetensors_carries_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.safetensors");
    let audio = fixture("audio/speech_espeak_16k.wav");
    npu_whisper()
        .args(["encode", audio.to_str().unwrap(), "--trim"])
        .args(["--model", &tiny_model(), "-o", out.to_str().unwrap()])
        .assert()
        .success();
    let bytes = std::fs::read(&out).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let samples = hound::WavReader::open(&audio).unwrap().duration() as usize;
    assert_eq!(
        tensors.tensor("embeddings").unwrap().shape(),
        &[samples.div_ceil(320), 128]
    );
    let meta = meta.metadata().clone().unwrap();
    for key in [
        "model",
        "model_sha256",
        "mel",
        "placement",
        "duration_s",
        "windows",
    ] {
        assert!(meta.contains_key(key), "metadata lacks {key}: {meta:?}");
    }
    assert_eq!(meta["model_sha256"].len(), 64);
}

#[test]
fn encode_json_has_timings_ledger_and_realtime_factors() {
    let assert = npu_whisper()
        .args(["encode", fixture("audio/one_sample.wav").to_str().unwrap()])
        .args(["--model", &tiny_model(), "--json", "--layers", "1"])
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["layers"], 1);
    assert!(doc["x_realtime"].as_f64().unwrap() > 0.0);
    assert!(doc["rtf"].as_f64().unwrap() > 0.0);
    for stage in ["load", "mel", "encoder", "export"] {
        assert!(doc["timings_ms"][stage].is_number(), "{stage}");
    }
    let ledger = doc["ledger"].as_array().unwrap();
    assert_eq!(ledger.len(), 5 + 10 + 1);
    for entry in ledger {
        for key in ["op", "layer", "device", "calls", "ms", "fallback"] {
            assert!(
                entry.get(key).is_some(),
                "ledger entry lacks {key}: {entry}"
            );
        }
        assert_eq!(entry["device"], "cpu");
    }
}

#[test]
fn a_model_not_cached_while_offline_names_the_fetch_command() {
    let dir = tempfile::tempdir().unwrap();
    let audio = fixture("audio/one_sample.wav");
    // HF_HUB_OFFLINE=1, and --offline: no network is touched either way.
    for (offline_env, flag) in [(Some("1"), None), (None, Some("--offline"))] {
        let mut cmd = npu_whisper();
        cmd.env("NPU_WHISPER_MODEL_DIR", dir.path().join("models"))
            .env("HF_HUB_CACHE", dir.path().join("hub"))
            .env("HF_ENDPOINT", "http://127.0.0.1:9")
            .env_remove("NPU_WHISPER_MODEL")
            .env_remove("HF_HUB_OFFLINE");
        if let Some(v) = offline_env {
            cmd.env("HF_HUB_OFFLINE", v);
        }
        cmd.arg("encode").args(flag).arg(&audio);
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(3));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("npu-whisper model fetch base") && stderr.contains("offline"),
            "{stderr}"
        );
    }
}

#[test]
fn encode_usage_errors_exit_2() {
    let audio = fixture("audio/one_sample.wav");
    encode_tiny(audio.to_str().unwrap())
        .args(["--layers", "3"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("only 2 encoder layers"));
    encode_tiny(audio.to_str().unwrap())
        .args(["-o", "x.txt"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(".npy or .safetensors"));
    npu_whisper()
        .args(["encode", audio.to_str().unwrap(), "--device", "gpu"])
        .assert()
        .code(2);
}

#[test]
fn a_broken_model_file_exits_3_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("broken.safetensors");
    std::fs::write(&model, b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}").unwrap();
    npu_whisper()
        .args(["encode", fixture("audio/one_sample.wav").to_str().unwrap()])
        .args(["--model", model.to_str().unwrap()])
        .assert()
        .code(3)
        .stderr(predicates::str::contains("broken.safetensors"));
}

#[test]
fn encode_on_the_simulated_npu_reports_placement_calls_and_projection() {
    let assert = npu_whisper()
        .args(["encode", fixture("audio/one_sample.wav").to_str().unwrap()])
        .args(["--model", &tiny_model(), "--device", "npu-sim", "--json"])
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    assert_eq!(
        doc["placement"],
        "npu-sim: 26/26 ops; cpu: 0/26 ops (22 NPU calls per window)"
    );
    // 4 + 9 per layer, 2 layers.
    assert_eq!(doc["npu_calls_per_window"], 22);
    for entry in doc["ledger"].as_array().unwrap() {
        assert_eq!(entry["device"], "npu-sim", "{entry}");
    }
    let projections = doc["projected_npu"].as_array().unwrap();
    assert_eq!(projections.len(), 2);
    assert_eq!(projections[0]["label"], "projected, not measured");
    let ms = &projections[0]["ms"];
    assert!(ms["optimistic"].as_f64().unwrap() < ms["pessimistic"].as_f64().unwrap());

    // The human summary says the same in one line, and the projection is labelled.
    let assert = npu_whisper()
        .args(["encode", fixture("audio/one_sample.wav").to_str().unwrap()])
        .args([
            "--model",
            &tiny_model(),
            "--device",
            "npu-sim",
            "--cpu-ops",
            "attention,gelu",
        ])
        .assert()
        .success();
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    // 2 attention + 2 fc1_gelu + conv1_gelu + conv2_gelu
    assert!(
        stdout.contains("npu-sim: 20/26 ops; cpu: 6/26 ops"),
        "{stdout}"
    );
    assert!(stdout.contains("projected, not measured"), "{stdout}");
}

#[test]
fn the_real_npu_is_refused_here_with_exit_4_and_auto_falls_back_saying_why() {
    let audio = fixture("audio/one_sample.wav");
    npu_whisper()
        .args(["encode", audio.to_str().unwrap(), "--model", &tiny_model()])
        .args(["--device", "npu", "--require-npu"])
        .assert()
        .code(4)
        .stderr(predicates::str::contains("/dev/accel/accel0"));
    let assert = encode_tiny(audio.to_str().unwrap())
        .args(["--device", "auto"])
        .assert()
        .success();
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(stdout.contains("device     NPU not used"), "{stdout}");
    assert!(stdout.contains("cpu: 26/26 ops"), "{stdout}");
}

#[test]
fn unknown_cpu_ops_are_rejected_with_the_valid_list() {
    npu_whisper()
        .args(["encode", "a.wav", "--cpu-ops", "attention,softmax"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "conv, matmul, attention, layernorm, gelu, add",
        ));
}

#[test]
fn the_fault_hook_makes_one_op_fall_back_and_require_npu_exit_4() {
    let audio = fixture("audio/speech_espeak_16k.wav");
    let assert = encode_tiny(audio.to_str().unwrap())
        .env("NPU_WHISPER_FAULT", "attention@1=zeros")
        .args(["--device", "npu-sim"])
        .assert()
        .success();
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(stdout.contains("1 fell back to the cpu"), "{stdout}");
    encode_tiny(audio.to_str().unwrap())
        .env("NPU_WHISPER_FAULT", "attention@1=zeros")
        .args(["--device", "npu-sim", "--require-npu"])
        .assert()
        .code(4)
        .stderr(predicates::str::contains("all-zero output"));
}

#[test]
fn doctor_on_this_machine_reports_no_npu_with_exit_4_fast_and_in_json() {
    let started = std::time::Instant::now();
    let assert = npu_whisper().arg("doctor").assert().code(4);
    assert!(
        started.elapsed().as_secs_f64() < 1.0,
        "doctor took {:?}",
        started.elapsed()
    );
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(
        stdout.contains("verdict: only the CPU path is usable"),
        "{stdout}"
    );
    let assert = npu_whisper().args(["doctor", "--json"]).assert().code(4);
    let doc: serde_json::Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["npu_usable"], false);
    let checks = doc["checks"].as_array().unwrap();
    let ids: Vec<&str> = checks.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "cpu",
            "kernel",
            "pci",
            "driver",
            "firmware",
            "node",
            "device_info",
            "memlock",
            "xrt",
            "kernels",
            "models"
        ]
    );
    for c in checks {
        assert!(
            ["ok", "warn", "fail", "skipped"].contains(&c["status"].as_str().unwrap()),
            "{c}"
        );
    }
}

#[test]
fn the_forced_avx2_path_gives_the_same_embeddings() {
    let dir = tempfile::tempdir().unwrap();
    let audio = fixture("audio/speech_espeak_16k.wav");
    let mut outputs = Vec::new();
    for force in ["0", "1"] {
        let out = dir.path().join(format!("e{force}.npy"));
        encode_tiny(audio.to_str().unwrap())
            .env("NPU_WHISPER_FORCE_AVX2", force)
            .args(["--device", "cpu"])
            .args(["-o", out.to_str().unwrap()])
            .assert()
            .success();
        outputs.push(parse_npy(&std::fs::read(&out).unwrap()).1);
    }
    let max = outputs[0]
        .iter()
        .zip(&outputs[1])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(max < 1e-4, "AVX-512 and AVX2 paths differ by {max}");
}

#[test]
fn version_names_the_git_revision_and_the_features() {
    let out = npu_whisper().arg("--version").output().unwrap();
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).unwrap();
    let features = if cfg!(feature = "xrt") {
        "+xrt"
    } else {
        "-xrt"
    };
    // The revision of the checkout this test runs in ("unknown" outside one, e.g. a package).
    let rev = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or("unknown".to_string(), |o| {
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        });
    let want = format!(
        "npu-whisper {} (rev {rev}, features: {features})\n",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(line, want);
    // -V stays the short form.
    let short = npu_whisper().arg("-V").output().unwrap();
    assert_eq!(
        String::from_utf8(short.stdout).unwrap(),
        format!("npu-whisper {}\n", env!("CARGO_PKG_VERSION"))
    );
}

/// On a machine without an NPU, scripts/npu-validate writes its bring-up report up to the first
/// missing piece within a minute (no xrt build first), exits 4 and names the report last.
#[test]
fn npu_validate_reports_the_missing_device_and_exits_4() {
    if Path::new("/dev/accel/accel0").exists() {
        return; // the real thing is scripts/npu-validate on that machine
    }
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let out =
        std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/npu-validate"))
            .env("NPU_WHISPER_BIN", env!("CARGO_BIN_EXE_npu-whisper"))
            .env("NPU_WHISPER_REPORT_DIR", dir.path())
            .output()
            .unwrap();
    assert!(started.elapsed().as_secs() < 60, "{:?}", started.elapsed());
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last = stdout.lines().last().unwrap();
    let path = last
        .strip_prefix("npu-validate: report written to ")
        .unwrap_or_else(|| panic!("{last}"));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(report["first_missing"], "device");
    let pci = report["doctor"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "pci")
        .unwrap();
    assert_eq!(pci["status"], "fail");
    assert!(report["result"].as_str().unwrap().contains("no AMD NPU"));
    assert_eq!(report["toolchain"]["pinned"]["mlir_aie"], "1.4.2");
    assert!(report["kernels"].is_null());
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains("stopped at device")
    );
}

/// The kernel check the report runs on an NPU, as a dry run on the simulator: every distinct
/// call of tiny's encoder, timed, with its projected range, then all as one submission (the
/// simulator has no runlist and says so); without an NPU the real one exits 4.
#[test]
fn validate_kernels_runs_every_call_and_says_how_they_were_submitted() {
    let assert = npu_whisper()
        .args(["validate-kernels", "--simulate", "--sizes", "tiny"])
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    let calls = doc["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 11);
    for c in calls {
        assert!(c["first_mismatch"].is_null() && c["error"].is_null(), "{c}");
        assert!(c["measured_ms"].as_f64().unwrap() > 0.0);
        let npu1 = &c["projected_ms"][0][1];
        assert!(npu1["optimistic"].as_f64().unwrap() < npu1["pessimistic"].as_f64().unwrap());
    }
    assert_eq!(doc["together"]["submitted"], "single");
    assert_eq!(doc["together"]["runs"], 11);
    assert_eq!(doc["together_failed"], 0);
    if !Path::new("/dev/accel/accel0").exists() {
        npu_whisper()
            .args(["validate-kernels", "--sizes", "tiny"])
            .assert()
            .code(4);
    }
}

/// A first-hour user's mistakes, each answered in one line that says what to do.
#[test]
fn first_hour_messages_name_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let audio = fixture("audio/one_sample.wav");
    let isolated = |cmd: &mut Command| {
        cmd.env("NPU_WHISPER_MODEL_DIR", dir.path().join("models"))
            .env("HF_HUB_CACHE", dir.path().join("hub"))
            // A closed port on this machine: the Hub "cannot be reached".
            .env("HF_ENDPOINT", "http://127.0.0.1:9")
            .env_remove("NPU_WHISPER_MODEL")
            .env_remove("HF_HUB_OFFLINE");
    };
    let run = |args: &[&str]| {
        let mut cmd = npu_whisper();
        isolated(&mut cmd);
        let out = cmd.args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // An unknown name lists the names, the aliases and the VAD.
    let (code, _, stderr) = run(&["encode", "--model", "larg", audio.to_str().unwrap()]);
    assert_eq!(code, Some(3), "{stderr}");
    for wanted in [
        "large-v3-turbo",
        "turbo = large-v3-turbo",
        "large = large-v3",
        "silero-vad",
    ] {
        assert!(stderr.contains(wanted), "lacks {wanted}: {stderr}");
    }
    // The Hub unreachable: the model, the endpoint, and which names do not need the Hub.
    let (code, _, stderr) = run(&["model", "fetch", "small"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    for wanted in [
        "http://127.0.0.1:9",
        "small",
        "base, silero-vad, tiny.en",
        "PyPI",
    ] {
        assert!(stderr.contains(wanted), "lacks {wanted}: {stderr}");
    }
    // A path is not a model name to fetch.
    let (code, _, stderr) = run(&["model", "fetch", audio.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--model PATH"), "{stderr}");
    // What needs no model is refused before one loads (the model named here does not exist).
    for (flag, value, says) in [
        ("--beam-size", "0", "--beam-size 0"),
        ("--language", "xx", "--language xx"),
    ] {
        let (code, _, stderr) = run(&[
            "transcribe",
            "--model",
            "no-such-model-dir/x",
            flag,
            value,
            audio.to_str().unwrap(),
        ]);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
    }
    // encode without -o says that nothing was written, and how to write it.
    let assert = encode_tiny(fixture("audio/speech_espeak_16k.wav").to_str().unwrap())
        .assert()
        .success();
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(stdout.contains("output     none written"), "{stdout}");
    assert!(stdout.contains("-o OUT.npy"), "{stdout}");
}
