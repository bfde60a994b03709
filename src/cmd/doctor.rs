//! `npu-whisper doctor`: print the checks; exit 0 when the NPU path is usable, 4 when only the
//! CPU path is.

use std::path::PathBuf;
use std::time::Instant;

use super::{SCHEMA_VERSION, elapsed_ms};
use crate::cli::GlobalArgs;
use crate::doctor::{self, Environment, Status};
use crate::error::{Result, exit_code};
use crate::npu::device::probe::{Identity, InfoSource, RealDevice};

/// Test hook: a fixture tree used as the filesystem root, its `device.json` answering the ioctls.
pub const ROOT_ENV: &str = "NPU_WHISPER_DOCTOR_ROOT";
pub const XCLBIN_DIR_ENV: &str = "NPU_WHISPER_XCLBIN_DIR";

pub fn run(global: &GlobalArgs) -> Result<i32> {
    let started = Instant::now();
    let root = std::env::var_os(ROOT_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"));
    let fixture = (root != std::path::Path::new("/"))
        .then(|| doctor::fixture_device_from(&root))
        .flatten();
    let real = RealDevice;
    let device: &dyn InfoSource = match &fixture {
        Some(f) => f,
        None => &real,
    };
    let env = Environment {
        root,
        identity: Identity::current(),
        device,
        xclbin_dir: std::env::var_os(XCLBIN_DIR_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("xclbin/build")),
        models: crate::hub::list(&crate::hub::Settings::from_env(true)),
        xrt: crate::npu::xrt_runtime(),
    };
    let report = doctor::run(&env);
    let ms = elapsed_ms(started);
    if global.json {
        let doc = serde_json::json!({
            "schema_version": SCHEMA_VERSION,
            "command": "doctor",
            "checks": report.checks,
            "npu_usable": report.npu_usable,
            "ms": ms,
        });
        println!("{doc:#}");
    } else if !global.quiet {
        let mut text = String::new();
        for c in &report.checks {
            text.push_str(&format!(
                "[{:^7}] {:<26} {}\n",
                c.status.label(),
                c.title,
                c.found
            ));
            if !c.fix.is_empty() && c.status != Status::Ok {
                text.push_str(&format!("{:>36} {}\n", "fix:", c.fix));
            }
        }
        text.push_str(&if report.npu_usable {
            "verdict: the NPU path is usable\n".to_string()
        } else {
            let first = report
                .checks
                .iter()
                .find(|c| c.status == Status::Fail)
                .map(|c| c.title)
                .unwrap_or("a check");
            format!("verdict: only the CPU path is usable here (first failure: {first}); `encode --device auto` uses the CPU\n")
        });
        text.push_str(&format!("checked in {ms:.0} ms\n"));
        print!("{text}");
    }
    Ok(if report.npu_usable {
        exit_code::SUCCESS
    } else {
        exit_code::NPU_UNAVAILABLE
    })
}
