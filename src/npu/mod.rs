//! The NPU wing: everything needed to run encoder ops on an AMD XDNA NPU, usable without the
//! executor. `prepare` converts weights once, `calls` plans one kernel run per op, `sim` executes
//! calls in software with the kernels' arithmetic, `cost` projects device time. The real device
//! backend (XRT) and the device probe are not part of this version.

pub mod calls;
pub mod constants;
pub mod cost;
pub mod device;
pub mod insts;
pub mod layout;
pub mod manifest;
pub mod prepare;
pub mod sim;
pub mod xclbin;
#[cfg(feature = "xrt")]
pub mod xrt;

/// The XRT runtime as this build sees it: the loaded shim and XRT version, or why not.
pub fn xrt_runtime() -> Result<String, String> {
    #[cfg(feature = "xrt")]
    {
        xrt::XrtShim::load()
            .map(|shim| format!("XRT {} through {}", shim.xrt_version, shim.path.display()))
    }
    #[cfg(not(feature = "xrt"))]
    {
        Err("this npu-whisper was built without the `xrt` feature (no XRT backend)".to_string())
    }
}

/// Why the real NPU cannot be used by this build on this machine, or `None` when it can.
/// Every missing piece is named: device, runtime, kernels.
pub fn npu_unavailable_reason() -> Option<String> {
    let node = std::path::Path::new("/dev/accel/accel0");
    let device = if node.exists() {
        "/dev/accel/accel0 exists".to_string()
    } else {
        "no NPU device (/dev/accel/accel0 does not exist)".to_string()
    };
    let runtime = xrt_runtime().unwrap_or_else(|e| e);
    // Even with device and runtime, the NPU path needs our kernels and the code that runs the
    // call plan through XRT; neither exists in this version.
    Some(format!(
        "{device}; {runtime}; no NPU kernels are built (xclbin/build/ is empty) and running calls through XRT is not implemented in this version"
    ))
}
