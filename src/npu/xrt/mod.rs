//! The XRT backend (feature `xrt`): the C++ shim (`shim.cpp`, built by build.rs as its own shared
//! library) loaded at run time with libloading. Loading can fail for ordinary reasons (no XRT
//! installed, a glibc older than XRT's, no device): that is reported as the reason the NPU is
//! unavailable, never a crash, and the CPU path runs.
//!
//! What exists: loading the shim and resolving its whole C interface (device, xclbin
//! registration, hw_context, kernel, group ids, buffer objects, run, runlist, sync, wait).
//! What does not yet: executing our call plan through it (no kernels are built; see README).

use std::path::PathBuf;

/// Override for where the shim library is.
pub const SHIM_ENV: &str = "NPU_WHISPER_XRT_SHIM";

/// Every symbol the backend uses; resolving all of them proves the shim is complete.
pub const SYMBOLS: [&str; 17] = [
    "nw_xrt_build_version",
    "nw_device_open",
    "nw_register_xclbin",
    "nw_hw_context_create",
    "nw_kernel_open",
    "nw_kernel_group_id",
    "nw_bo_alloc",
    "nw_bo_map",
    "nw_bo_sync",
    "nw_run_create",
    "nw_run_start",
    "nw_run_wait",
    "nw_runlist_create",
    "nw_runlist_add",
    "nw_runlist_execute",
    "nw_runlist_wait",
    "nw_release",
];

/// Where to look for the shim: `$NPU_WHISPER_XRT_SHIM`, beside the executable, then where the
/// build put it.
pub fn shim_candidates() -> Vec<PathBuf> {
    let mut c = Vec::new();
    if let Some(p) = std::env::var_os(SHIM_ENV) {
        c.push(PathBuf::from(p));
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        c.push(dir.join("libnpu_whisper_xrt.so"));
    }
    c.push(PathBuf::from(env!("NPU_WHISPER_XRT_SHIM_BUILT")));
    c
}

/// The loaded shim.
pub struct XrtShim {
    pub path: PathBuf,
    pub library: libloading::Library,
    pub xrt_version: String,
}

impl XrtShim {
    /// Load the shim and resolve its interface; the error says why the backend is unusable.
    pub fn load() -> Result<Self, String> {
        let mut errors = Vec::new();
        for path in shim_candidates() {
            if !path.exists() {
                continue;
            }
            // SAFETY: loading our own shim runs XRT's static initialisers, which is what using
            // XRT means; the library stays loaded as long as the returned value.
            match unsafe { libloading::Library::new(&path) } {
                Ok(library) => {
                    for symbol in SYMBOLS {
                        // SAFETY: only the symbol's presence is checked here; nothing is called.
                        if let Err(e) = unsafe { library.get::<*const ()>(symbol.as_bytes()) } {
                            return Err(format!(
                                "{}: incomplete XRT shim ({symbol}: {e})",
                                path.display()
                            ));
                        }
                    }
                    // SAFETY: nw_xrt_build_version is `const char* (void)` returning a static string.
                    let version = unsafe {
                        let f: libloading::Symbol<
                            unsafe extern "C" fn() -> *const std::os::raw::c_char,
                        > = library
                            .get(b"nw_xrt_build_version")
                            .map_err(|e| e.to_string())?;
                        std::ffi::CStr::from_ptr(f()).to_string_lossy().into_owned()
                    };
                    return Ok(XrtShim {
                        path,
                        library,
                        xrt_version: version,
                    });
                }
                Err(e) => errors.push(format!("{}: {e}", path.display())),
            }
        }
        if errors.is_empty() {
            Err("the XRT shim library (libnpu_whisper_xrt.so) was not found".into())
        } else {
            Err(format!("cannot load the XRT shim: {}", errors.join("; ")))
        }
    }
}
