//! The NPU wing: everything needed to run encoder ops on an AMD XDNA NPU, usable without the
//! executor. `prepare` converts weights once, `calls` plans one kernel run per op, `sim` executes
//! calls in software with the kernels' arithmetic, `cost` projects device time. The real device
//! backend (XRT) and the device probe are not part of this version.

pub mod calls;
pub mod constants;
pub mod cost;
pub mod device;
pub mod layout;
pub mod manifest;
pub mod prepare;
pub mod sim;
pub mod xclbin;

/// Why the real NPU cannot be used by this build on this machine, or `None` when it can.
pub fn npu_unavailable_reason() -> Option<String> {
    let node = std::path::Path::new("/dev/accel/accel0");
    let device = if node.exists() {
        "/dev/accel/accel0 exists"
    } else {
        "no NPU device (/dev/accel/accel0 does not exist)"
    };
    Some(format!(
        "{device}; this build has no XRT backend (the `xrt` feature is not implemented in this version) and no kernels are built (xclbin/build/ is empty)"
    ))
}
