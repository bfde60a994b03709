//! `npu-whisper doctor`: print the checks; exit 0 when the NPU path is usable, 4 when only the
//! CPU path is.

use std::time::Instant;

use super::{SCHEMA_VERSION, elapsed_ms};
use crate::cli::GlobalArgs;
use crate::tools::CheckStatus as Status;
use crate::{ErrorKind, Result};

pub fn run(global: &GlobalArgs) -> Result<i32> {
    let started = Instant::now();
    let report = crate::tools::doctor();
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
        0
    } else {
        ErrorKind::NpuUnavailable.exit_code()
    })
}
