//! The NPU wing: everything needed to run encoder ops on an AMD XDNA NPU, usable without the
//! executor (and never using its CPU kernels). `prepare` converts weights once, `calls` plans one
//! kernel run per op (or fused group), `sim` executes calls in software with the kernels'
//! arithmetic, `cost` projects device time. The real device: `device` probes the driver's uAPI
//! for `doctor`; `xrt` (feature `xrt`) runs calls through a small C++ shim over XRT's native API,
//! loaded at run time, with the xclbin (`xclbin`) and instruction streams (`insts`) checked
//! against `xclbin/manifest.json` (`manifest`) before any call; `validate` compares each kernel
//! on the device with the simulator, bit for bit (scripts/npu-validate).

pub mod calls;
pub mod cost;
pub mod dispatch;
pub mod kernel;
pub mod layout;
pub mod prepare;
pub mod sim;
// What only the XRT backend, doctor and the tests use (fixture builders included): kept
// compiled and checked in every build.
// The kernels' constants, read by the simulator; the tests check the kernels' C header against
// them (`kernel_header`).
#[cfg_attr(not(test), allow(dead_code))]
pub mod constants;
#[cfg_attr(not(test), allow(dead_code))]
pub mod device;
#[cfg_attr(not(test), allow(dead_code))]
pub mod insts;
#[cfg_attr(not(test), allow(dead_code))]
pub mod manifest;
#[cfg_attr(not(test), allow(dead_code))]
pub mod validate;
#[cfg_attr(not(test), allow(dead_code))]
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

/// Where the built kernels are: `$NPU_WHISPER_XCLBIN_DIR`, else `xclbin/build/` of the source tree.
pub fn xclbin_dir() -> std::path::PathBuf {
    std::env::var_os("NPU_WHISPER_XCLBIN_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("xclbin/build")
        })
}

/// Why the real NPU cannot be used by this build on this machine, naming every missing piece:
/// device, runtime, kernels.
pub fn npu_unavailable_reason() -> String {
    let node = std::path::Path::new("/dev/accel/accel0");
    let mut missing = Vec::new();
    if !node.exists() {
        missing.push("no NPU device (/dev/accel/accel0 does not exist)".to_string());
    }
    if let Err(e) = xrt_runtime() {
        missing.push(e);
    }
    let xclbin = xclbin_dir().join("whisper_bf16.xclbin");
    if !xclbin.exists() {
        missing.push(format!(
            "no NPU kernels ({} is missing: scripts/build-xclbin)",
            xclbin.display()
        ));
    }
    if missing.is_empty() {
        "device, runtime and kernels are present but the device could not be opened".to_string()
    } else {
        missing.join("; ")
    }
}

/// The real NPU as a device for calls (the XRT session), or why it cannot be used.
pub fn open_device() -> Result<Box<dyn dispatch::NpuDevice>, String> {
    #[cfg(feature = "xrt")]
    {
        open_xrt_session().map(|s| Box::new(xrt::XrtDevice::new(s)) as Box<dyn dispatch::NpuDevice>)
    }
    #[cfg(not(feature = "xrt"))]
    {
        Err(npu_unavailable_reason())
    }
}

/// Open device 0 with our kernels through XRT, or say why not.
#[cfg(feature = "xrt")]
pub fn open_xrt_session() -> Result<xrt::XrtSession, String> {
    let node = std::path::Path::new("/dev/accel/accel0");
    let xclbin = xclbin_dir().join(xrt::XCLBIN_NAME);
    if !node.exists() || !xclbin.exists() {
        return Err(npu_unavailable_reason());
    }
    let shim = xrt::XrtShim::load()?;
    xrt::XrtSession::open(shim, &xclbin_dir())
}
