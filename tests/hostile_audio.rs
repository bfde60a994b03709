//! Hostile audio through the command line: every file of tests/common/hostile.rs (headers that
//! lie about rate, channels, sample width or length; small compressed files that decode to
//! hours; real recordings at the edges of the accepted ranges) through `encode` and `transcribe`
//! with `--max-audio-s 60`, each in a child process limited to 1 GiB of address space. Each
//! exits 3 with one line (refused) or 0 (a real recording within the limit), within 10 s: never
//! killed, never aborted.
//!
//! Needs tiny.en in the model cache (scripts/test fetches it).

mod common;

use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use common::hostile::hostile_inputs;

const ADDRESS_SPACE: u64 = 1 << 30;

/// Run the binary with `args` under the address-space limit; (exit code, stderr, seconds).
fn run_limited(args: &[&str]) -> (Option<i32>, String, f64) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_npu-whisper"));
    command.args(args).env("NO_COLOR", "1");
    // SAFETY: between fork and exec only setrlimit runs, which is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: ADDRESS_SPACE,
                rlim_max: ADDRESS_SPACE,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let started = Instant::now();
    let output = assert_cmd::Command::from_std(command)
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    let seconds = started.elapsed().as_secs_f64();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        seconds,
    )
}

#[test]
#[ignore = "needs the cached tiny.en model: run scripts/test"]
fn hostile_files_are_refused_in_one_line_or_decoded_within_the_limit_never_killed() {
    let cache = npu_whisper::ModelCache::from_env(true);
    assert!(
        cache.dir().join("tiny.en/tokenizer.json").exists(),
        "tiny.en is not cached: run scripts/fetch-model tiny.en (scripts/test does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let mut table = Vec::new();
    for input in hostile_inputs(&common::fixture("")) {
        let path = dir.path().join(&input.name);
        std::fs::write(&path, &input.bytes).unwrap();
        let path = path.to_str().unwrap();
        for command in ["encode", "transcribe"] {
            let (code, stderr, seconds) = run_limited(&[
                "--offline",
                "-q",
                command,
                "--model",
                "tiny.en",
                "--device",
                "cpu",
                "--max-audio-s",
                "60",
                path,
            ]);
            let lines: Vec<&str> = stderr.lines().collect();
            let first = lines.first().copied().unwrap_or("");
            table.push(format!(
                "{command:10} {:42} exit {code:?} {seconds:5.2} s  {first}",
                input.name
            ));
            let expected = if input.decodes { 0 } else { 3 };
            let fine = code == Some(expected)
                && seconds < 10.0
                && (input.decodes || (lines.len() == 1 && first.contains(&input.name)));
            if !fine {
                failures.push(format!(
                    "{command} {}: exit {code:?} (expected {expected}) in {seconds:.2} s: {stderr}",
                    input.name
                ));
            }
        }
    }
    eprintln!("{}", table.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
