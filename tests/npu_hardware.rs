//! Every kernel on a real NPU against the simulator, bit for bit (`scripts/npu-validate`).
//! Ignored by default: it needs a Ryzen AI NPU, XRT, and kernels from scripts/build-xclbin.
#![cfg(feature = "xrt")]

use npu_whisper::encoder::Plan;
use npu_whisper::model::Config;
use npu_whisper::npu::calls::plan_calls;
use npu_whisper::npu::open_xrt_session;
use npu_whisper::npu::validate::validate_all;

#[test]
#[ignore = "needs an NPU and built kernels: run scripts/npu-validate"]
fn every_kernel_matches_the_simulator_on_the_npu() {
    let session = open_xrt_session().unwrap_or_else(|e| panic!("NPU unavailable: {e}"));
    let sizes = std::env::var("NPU_WHISPER_SIZES").unwrap_or_else(|_| "tiny base".into());
    let mut failed = 0;
    for size in sizes.split_whitespace() {
        let (mels, d) = match size {
            "tiny" => (80, 384),
            "base" => (80, 512),
            "small" => (80, 768),
            "medium" => (80, 1024),
            "large" => (80, 1280),
            "large-v3" => (128, 1280),
            other => panic!("unknown size {other}"),
        };
        let plan = Plan::new(&Config::standard(mels, d, 1), 1);
        let mut calls = plan_calls(&plan, &vec![true; plan.ops.len()]);
        // The standalone GELU only runs when its GEMM is elsewhere.
        let mut conv1_on_cpu = vec![true; plan.ops.len()];
        conv1_on_cpu[0] = false;
        calls.extend(plan_calls(&plan, &conv1_on_cpu));
        for r in validate_all(&calls, &mut |c, b| session.run(c, b, 5000)) {
            let verdict = match (&r.error, &r.first_mismatch) {
                (Some(e), _) => format!("ERROR {e}"),
                (None, Some(m)) => format!(
                    "MISMATCH {} of {} elements; first: {}[{}] device {} simulator {}",
                    m.mismatched, r.elements, m.buffer, m.index, m.device, m.simulator
                ),
                (None, None) => format!("ok, {} elements bit-identical", r.elements),
            };
            println!("{size:>8} {:<20} {:<28} {verdict}", r.kernel, r.shape);
            failed += usize::from(!r.passed());
        }
    }
    assert_eq!(failed, 0, "{failed} kernel(s) differ from the simulator");
}
