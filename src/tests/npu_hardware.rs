//! Every kernel on a real NPU against the simulator, bit for bit (`scripts/npu-validate`).
//! Ignored by default: it needs a Ryzen AI NPU, XRT, and kernels from scripts/build-xclbin.
//! Everything but the device is shared with tests that run in CI: `npu::validate`'s call list,
//! comparison and report lines are tested against the simulator, and through the XRT host path
//! against a stand-in shim (`src/tests/xrt_mock.rs`).
#![cfg(feature = "xrt")]

use crate::hub::catalogue::lookup;
use crate::npu::open_xrt_session;
use crate::npu::validate::{calls_for, report_line, validate_all};

#[test]
#[ignore = "needs an NPU and built kernels: run scripts/npu-validate"]
fn every_kernel_matches_the_simulator_on_the_npu() {
    let device = crate::npu::xrt::XrtDevice::new(
        open_xrt_session().unwrap_or_else(|e| panic!("NPU unavailable: {e}")),
    );
    let sizes = std::env::var("NPU_WHISPER_SIZES").unwrap_or_else(|_| "tiny base".into());
    let mut failed = 0;
    for size in sizes.split_whitespace() {
        // Any catalogue name (tiny ... large-v3-turbo, distil-*): its encoder's shapes.
        let mut config = lookup(size)
            .and_then(|e| e.dims)
            .unwrap_or_else(|| panic!("unknown size {size}"))
            .config();
        config.encoder_layers = 1;
        let calls = calls_for(&config);
        for r in validate_all(&calls, &device) {
            println!("{size:>8} {}", report_line(&r));
            failed += usize::from(!r.passed());
        }
    }
    assert_eq!(failed, 0, "{failed} kernel(s) differ from the simulator");
}
