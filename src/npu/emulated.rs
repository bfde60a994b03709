//! The IRON designs executed at dataflow level, as a device: each call goes to
//! `xclbin/designs/emulate.py --serve` (started once, answering call after call over a pipe),
//! which builds the call's design against an executing stand-in of IRON and runs it with the
//! kernels compiled for this machine. `scripts/emulate-npu` validates every call and a window of
//! the encoder through it against the simulator.

use std::borrow::Cow;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

use super::calls::{Call, CallShape, Direction};
use crate::encoder::OpDevice;

/// What the emulator did, over every call so far.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct EmulatorStats {
    /// Calls run (each a whole design run on the dataflow).
    pub calls: usize,
    /// Calls that ended in a deadlock.
    pub deadlocks: usize,
    /// Calls that failed otherwise (a transfer outside its buffer, data left in the array, ...).
    pub failures: usize,
    /// Native kernel calls made by the cores.
    pub kernel_calls: u64,
    /// The emulator's own time for the calls, in seconds.
    pub seconds: f64,
}

struct Session {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// The running emulator.
pub struct Emulator {
    session: Mutex<Session>,
    stats: Mutex<EmulatorStats>,
}

impl Emulator {
    /// Start `command` (the emulator server: a Python, emulate.py, `--serve` and its options).
    pub fn start(command: &[OsString]) -> Result<Emulator, String> {
        let (program, args) = command.split_first().ok_or("no emulator command given")?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start the emulator {}: {e}",
                    program.to_string_lossy()
                )
            })?;
        let stdin = child.stdin.take().ok_or("the emulator has no stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("the emulator has no stdout")?);
        Ok(Emulator {
            session: Mutex::new(Session {
                child,
                stdin,
                stdout,
            }),
            stats: Mutex::new(EmulatorStats::default()),
        })
    }

    /// What it did so far.
    pub fn stats(&self) -> EmulatorStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Ok(session) = self.session.get_mut() {
            let _ = session.child.kill();
            let _ = session.child.wait();
        }
    }
}

/// The call as `xclbin/designs/shapes.py` describes it (what `common.program_for` takes).
fn call_json(call: &Call) -> serde_json::Value {
    let kernel = call.kernel.name();
    match call.shape {
        CallShape::Gemm(s) => {
            serde_json::json!({"kernel": kernel, "m": s.mp, "k": s.kp, "n": s.np})
        }
        CallShape::Attention {
            heads,
            frames,
            frames_p,
            d_model,
        } => serde_json::json!({"kernel": kernel, "heads": heads, "frames": frames,
            "frames_p": frames_p, "d_model": d_model}),
        CallShape::Rows { rows, cols } => {
            serde_json::json!({"kernel": kernel, "rows": rows, "cols": cols})
        }
        CallShape::Elements { len } => serde_json::json!({"kernel": kernel, "len": len}),
    }
}

#[derive(serde::Deserialize)]
struct Answer {
    ok: bool,
    #[serde(default)]
    error: String,
    #[serde(default)]
    deadlock: bool,
    #[serde(default)]
    seconds: f64,
    #[serde(default)]
    kernel_calls: u64,
}

impl super::dispatch::NpuDevice for Emulator {
    fn placement(&self) -> OpDevice {
        // Software, like the simulator: never the NPU.
        OpDevice::NpuSim
    }

    fn run(&self, call: &Call, buffers: &mut [Cow<'_, [u8]>]) -> Result<(), String> {
        let mut session = self
            .session
            .lock()
            .map_err(|_| "the emulator session is poisoned")?;
        // The buffers the call writes: only those come back.
        let outputs: Vec<usize> = (call.args.buffers.iter().enumerate())
            .filter(|(_, arg)| arg.direction != Direction::Input)
            .map(|(i, _)| i)
            .collect();
        let request = serde_json::json!({
            "call": call_json(call),
            "buffers": buffers.iter().map(|b| b.len()).collect::<Vec<_>>(),
            "outputs": outputs,
        });
        let gone = |e: std::io::Error| format!("the emulator stopped answering: {e}");
        let mut line = request.to_string();
        line.push('\n');
        session.stdin.write_all(line.as_bytes()).map_err(gone)?;
        for b in buffers.iter() {
            session.stdin.write_all(b).map_err(gone)?;
        }
        session.stdin.flush().map_err(gone)?;
        let mut answer = String::new();
        if session.stdout.read_line(&mut answer).map_err(gone)? == 0 {
            return Err("the emulator exited (its error is above)".into());
        }
        let answer: Answer = serde_json::from_str(&answer)
            .map_err(|e| format!("the emulator answered something else: {e}"))?;
        let mut stats = self.stats.lock().map_err(|_| "poisoned")?;
        stats.calls += 1;
        if !answer.ok {
            if answer.deadlock {
                stats.deadlocks += 1;
            } else {
                stats.failures += 1;
            }
            return Err(format!(
                "{} {}: {}",
                call.kernel,
                call.shape.key(),
                answer.error
            ));
        }
        stats.kernel_calls += answer.kernel_calls;
        stats.seconds += answer.seconds;
        for &i in &outputs {
            let mut out = vec![0u8; buffers[i].len()];
            session.stdout.read_exact(&mut out).map_err(gone)?;
            buffers[i] = Cow::Owned(out);
        }
        Ok(())
    }
}

/// A shared emulator is a device too (the window check keeps a handle to read its figures).
impl super::dispatch::NpuDevice for std::sync::Arc<Emulator> {
    fn placement(&self) -> OpDevice {
        self.as_ref().placement()
    }

    fn run(&self, call: &Call, buffers: &mut [Cow<'_, [u8]>]) -> Result<(), String> {
        self.as_ref().run(call, buffers)
    }
}
