//! Every kernel on a real NPU against the simulator, bit for bit: what `scripts/npu-validate`
//! runs through `npu-whisper validate-kernels`, as a test for a developer on an NPU machine.
//! Ignored by default: it needs a Ryzen AI NPU, XRT, and kernels from scripts/build-xclbin.
//! Everything but the device is shared with tests that run in CI: `npu::validate`'s call list,
//! comparison and report lines are tested against the simulator, and through the XRT host path
//! against a stand-in shim (`src/tests/xrt_mock.rs`).
#![cfg(feature = "xrt")]

#[test]
#[ignore = "needs an NPU and built kernels: run scripts/npu-validate"]
fn every_kernel_matches_the_simulator_on_the_npu() {
    let sizes: Vec<String> = std::env::var("NPU_WHISPER_SIZES")
        .unwrap_or_else(|_| "tiny base".into())
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let report = crate::tools::validate_npu_kernels(
        &sizes,
        &crate::tools::KernelTarget::Npu,
        crate::tools::KernelValues::Finite,
        1,
    )
    .unwrap_or_else(|e| panic!("NPU unavailable: {e}"));
    let mut failed = 0;
    for c in &report.calls {
        let verdict = c.error.as_ref().or(c.first_mismatch.as_ref());
        println!(
            "{:<20} {:<28} {}",
            c.kernel,
            c.shape,
            verdict.map_or("ok", |v| v)
        );
        failed += usize::from(verdict.is_some());
    }
    assert_eq!(failed, 0, "{failed} kernel(s) differ from the simulator");
}
