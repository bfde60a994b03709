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
pub mod emulated;
pub mod kernel;
pub mod layout;
pub mod native;
pub mod prepare;
pub mod sim;
// What only the XRT backend, doctor and the tests use (fixture builders included) is kept
// compiled and checked in every build; the items only those use say so where they are.
pub mod constants;
pub mod device;
// The instruction-stream parser: for the XRT backend (and its tests) alone.
#[cfg_attr(not(any(test, feature = "xrt")), allow(dead_code))]
pub mod insts;
pub mod manifest;
pub mod validate;
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

/// The xclbin the manifest's kernels live in.
pub const XCLBIN_NAME: &str = "whisper_bf16.xclbin";

/// The system directory the Debian package owns for the kernels.
pub const SYSTEM_XCLBIN_DIR: &str = "/usr/lib/npu-whisper/xclbin";

/// Where the built kernels are looked for, in order: `$NPU_WHISPER_XCLBIN_DIR` alone when it is
/// set; else the user's data directory (`${XDG_DATA_HOME:-~/.local/share}/npu-whisper/xclbin`),
/// the system directory the Debian package owns (`/usr/lib/npu-whisper/xclbin`), and, for a
/// binary running from the source checkout it was built in (`target/`, `cargo run`), the
/// checkout's `xclbin/build` (an installed copy never looks there).
pub fn xclbin_search_dirs() -> Vec<std::path::PathBuf> {
    use std::path::PathBuf;
    if let Some(dir) = std::env::var_os("NPU_WHISPER_XCLBIN_DIR") {
        return vec![PathBuf::from(dir)];
    }
    let mut dirs = Vec::new();
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
    if let Some(data_home) = data_home {
        dirs.push(data_home.join("npu-whisper/xclbin"));
    }
    dirs.push(PathBuf::from(SYSTEM_XCLBIN_DIR));
    let checkout = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let running_from_checkout = std::env::current_exe()
        .and_then(|exe| exe.canonicalize())
        .is_ok_and(|exe| {
            checkout
                .canonicalize()
                .is_ok_and(|root| exe.starts_with(root))
        });
    if running_from_checkout {
        dirs.push(checkout.join("xclbin/build"));
    }
    dirs
}

/// The kernels' directory: the first searched one that holds them, else the first searched.
#[cfg(feature = "xrt")]
pub fn xclbin_dir() -> std::path::PathBuf {
    let dirs = xclbin_search_dirs();
    dirs.iter()
        .find(|d| d.join(XCLBIN_NAME).is_file())
        .or(dirs.first())
        .cloned()
        .unwrap_or_default()
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
    let dirs = xclbin_search_dirs();
    if !dirs.iter().any(|d| d.join(XCLBIN_NAME).is_file()) {
        let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
        missing.push(format!(
            "no NPU kernels ({} in none of {}; `npu-whisper doctor` says how to get them)",
            XCLBIN_NAME,
            searched.join(", ")
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
