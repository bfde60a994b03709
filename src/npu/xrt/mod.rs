//! The XRT backend (feature `xrt`): the C++ shim (`shim.cpp`, built by build.rs as its own shared
//! library) loaded at run time with libloading. Loading can fail for ordinary reasons (no XRT
//! installed, a glibc older than XRT's, no device): that is reported as the reason the NPU is
//! unavailable, never a crash, and the CPU path runs.
//!
//! `XrtShim` loads the shim and resolves its whole C interface (device, xclbin registration,
//! hw_context, kernel, group ids, buffer objects, run, runlist, sync, wait). `XrtSession` opens
//! the device, registers our xclbin (checked against `xclbin/manifest.json`), creates one
//! hardware context and the kernels, and runs each call of the plan as one run: every buffer in
//! the memory group of its own argument, instructions as arg 1, inputs synced, a bounded wait,
//! outputs synced back. Independent calls can go as one `xrt::runlist` (`run_all`); when the
//! runtime refuses a runlist they run one by one and the answer says why. `XrtDevice` is the
//! session as an `NpuDevice`. Verified here against a stand-in shim (src/tests/xrt_mock.rs); no
//! kernel has run on hardware (docs/npu.md).

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

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{CString, c_char, c_int, c_uint, c_void};
use std::path::Path;

use super::calls::{Call, Direction};
use super::dispatch::{NpuDevice, Run, Submission};
use super::insts;
use super::manifest::manifest;
use crate::encoder::OpDevice;

/// XRT's "this argument is a scalar" memory group: a buffer allocated there is copied and the
/// kernel sees zeros (the failure this project was started to avoid).
pub const SCALAR_GROUP: i32 = 0x1FFFF;
/// `ERT_CMD_STATE_COMPLETED` and `ERT_CMD_STATE_TIMEOUT`.
const STATE_COMPLETED: c_int = 4;
const STATE_TIMEOUT: c_int = 8;
pub use super::XCLBIN_NAME;

type ErrBuf = *mut c_char;

/// The shim's C interface as typed function pointers.
struct Api {
    device_open: unsafe extern "C" fn(c_uint, *mut *mut c_void, ErrBuf, usize) -> c_int,
    register_xclbin: unsafe extern "C" fn(
        *mut c_void,
        *const c_char,
        *mut u8,
        *mut *mut c_void,
        ErrBuf,
        usize,
    ) -> c_int,
    hw_context_create:
        unsafe extern "C" fn(*mut c_void, *const u8, *mut *mut c_void, ErrBuf, usize) -> c_int,
    kernel_open:
        unsafe extern "C" fn(*mut c_void, *const c_char, *mut *mut c_void, ErrBuf, usize) -> c_int,
    kernel_group_id: unsafe extern "C" fn(*mut c_void, c_int, ErrBuf, usize) -> c_int,
    bo_alloc: unsafe extern "C" fn(
        *mut c_void,
        usize,
        c_int,
        c_int,
        *mut *mut c_void,
        ErrBuf,
        usize,
    ) -> c_int,
    bo_map: unsafe extern "C" fn(*mut c_void) -> *mut c_void,
    bo_sync: unsafe extern "C" fn(*mut c_void, c_int, usize, usize, ErrBuf, usize) -> c_int,
    #[allow(clippy::type_complexity)]
    run_create: unsafe extern "C" fn(
        *mut c_void,
        u32,
        *mut c_void,
        u32,
        *mut *mut c_void,
        usize,
        *mut *mut c_void,
        ErrBuf,
        usize,
    ) -> c_int,
    run_start: unsafe extern "C" fn(*mut c_void, ErrBuf, usize) -> c_int,
    run_wait: unsafe extern "C" fn(*mut c_void, c_uint, ErrBuf, usize) -> c_int,
    runlist_create: unsafe extern "C" fn(*mut c_void, *mut *mut c_void, ErrBuf, usize) -> c_int,
    runlist_add: unsafe extern "C" fn(*mut c_void, *mut c_void, ErrBuf, usize) -> c_int,
    runlist_execute: unsafe extern "C" fn(*mut c_void, ErrBuf, usize) -> c_int,
    runlist_wait: unsafe extern "C" fn(*mut c_void, c_uint, ErrBuf, usize) -> c_int,
    release: unsafe extern "C" fn(*mut c_void),
}

impl Api {
    fn resolve(library: &libloading::Library) -> Result<Self, String> {
        // SAFETY: each symbol is declared in shim.cpp with exactly the signature given here.
        unsafe {
            macro_rules! get {
                ($name:literal) => {
                    *library.get($name).map_err(|e| format!("XRT shim: {e}"))?
                };
            }
            Ok(Api {
                device_open: get!(b"nw_device_open"),
                register_xclbin: get!(b"nw_register_xclbin"),
                hw_context_create: get!(b"nw_hw_context_create"),
                kernel_open: get!(b"nw_kernel_open"),
                kernel_group_id: get!(b"nw_kernel_group_id"),
                bo_alloc: get!(b"nw_bo_alloc"),
                bo_map: get!(b"nw_bo_map"),
                bo_sync: get!(b"nw_bo_sync"),
                run_create: get!(b"nw_run_create"),
                run_start: get!(b"nw_run_start"),
                run_wait: get!(b"nw_run_wait"),
                runlist_create: get!(b"nw_runlist_create"),
                runlist_add: get!(b"nw_runlist_add"),
                runlist_execute: get!(b"nw_runlist_execute"),
                runlist_wait: get!(b"nw_runlist_wait"),
                release: get!(b"nw_release"),
            })
        }
    }
}

/// Call a shim function that reports errors through a buffer.
fn checked(what: &str, f: impl FnOnce(ErrBuf, usize) -> c_int) -> Result<c_int, String> {
    let mut err = [0 as c_char; 512];
    let rc = f(err.as_mut_ptr(), err.len());
    if rc < 0 {
        // SAFETY: the shim NUL-terminates the message within the buffer (or leaves it zeroed).
        let msg = unsafe { std::ffi::CStr::from_ptr(err.as_ptr()) }
            .to_string_lossy()
            .into_owned();
        return Err(format!("{what}: {msg}"));
    }
    Ok(rc)
}

/// One instruction stream on the device (group id of argument 1, cacheable).
struct LoadedStream {
    buffer: *mut c_void,
    words: u32,
    stream: insts::Stream,
}

/// An open device with our xclbin registered, a hardware context and every kernel of the
/// manifest; instruction streams are loaded on first use (one per kernel and shape).
pub struct XrtSession {
    api: Api,
    device: *mut c_void,
    xclbin: *mut c_void,
    context: *mut c_void,
    kernels: HashMap<String, *mut c_void>,
    xclbin_dir: PathBuf,
    streams: RefCell<HashMap<String, LoadedStream>>,
    // Keeps the shim loaded for as long as its functions may be called.
    _shim: XrtShim,
}

// SAFETY: the raw pointers are XRT handles (device, xclbin, context, kernels), not memory we
// dereference; XRT lets a handle be used from any thread. The session is only ever reached
// through the executor's `Mutex`, so no two threads use it (or its `RefCell`) at once.
unsafe impl Send for XrtSession {}

impl XrtSession {
    /// Open device 0 and load the kernels from `xclbin_dir`.
    pub fn open(shim: XrtShim, xclbin_dir: &Path) -> Result<Self, String> {
        let api = Api::resolve(&shim.library)?;
        let mut device = std::ptr::null_mut();
        // SAFETY (all shim calls below): arguments are live pointers to values we own and
        // handles the shim returned; the shim catches every C++ exception.
        checked("opening NPU device 0", |e, l| unsafe {
            (api.device_open)(0, &mut device, e, l)
        })?;
        let path = xclbin_dir.join(XCLBIN_NAME);
        let c_path = CString::new(path.to_string_lossy().as_bytes()).map_err(|e| e.to_string())?;
        let mut uuid = [0u8; 16];
        let mut xclbin = std::ptr::null_mut();
        checked(&format!("registering {}", path.display()), |e, l| unsafe {
            (api.register_xclbin)(
                device,
                c_path.as_ptr(),
                uuid.as_mut_ptr(),
                &mut xclbin,
                e,
                l,
            )
        })?;
        let mut context = std::ptr::null_mut();
        checked("creating the hardware context", |e, l| unsafe {
            (api.hw_context_create)(device, uuid.as_ptr(), &mut context, e, l)
        })?;
        let mut session = XrtSession {
            api,
            device,
            xclbin,
            context,
            kernels: HashMap::new(),
            xclbin_dir: xclbin_dir.to_path_buf(),
            streams: RefCell::new(HashMap::new()),
            _shim: shim,
        };
        for name in manifest().kernels.keys() {
            let c_name = CString::new(name.as_str()).map_err(|e| e.to_string())?;
            let mut kernel = std::ptr::null_mut();
            checked(&format!("opening kernel {name}"), |e, l| unsafe {
                (session.api.kernel_open)(session.context, c_name.as_ptr(), &mut kernel, e, l)
            })?;
            session.kernels.insert(name.clone(), kernel);
        }
        Ok(session)
    }

    /// The instruction stream of a call, uploaded on first use. A missing stream means the
    /// kernels were built for other shapes (another model size): an error the executor turns
    /// into a reported CPU fallback.
    fn stream(&self, call: &Call, kernel: *mut c_void) -> Result<(*mut c_void, u32), String> {
        let file = &call.args.instructions;
        if let Some(s) = self.streams.borrow().get(file) {
            return validated(s, call);
        }
        let path = self.xclbin_dir.join(file);
        let bytes = std::fs::read(&path).map_err(|e| {
            format!(
                "no instruction stream for {} at shape {} ({}: {e}); run scripts/build-xclbin for this model",
                call.kernel,
                call.shape.key(),
                path.display()
            )
        })?;
        let stream = insts::parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        let group = self.group_id(kernel, 1)?;
        let buffer = self.alloc(bytes.len(), 1, group)?;
        self.upload(buffer, &bytes)?;
        let loaded = LoadedStream {
            buffer,
            words: (bytes.len() / 4) as u32,
            stream,
        };
        let result = validated(&loaded, call);
        self.streams.borrow_mut().insert(file.clone(), loaded);
        result
    }

    fn group_id(&self, kernel: *mut c_void, arg: usize) -> Result<c_int, String> {
        checked(&format!("group id of argument {arg}"), |e, l| unsafe {
            (self.api.kernel_group_id)(kernel, arg as c_int, e, l)
        })
    }

    /// flags: 1 cacheable (instructions), 2 host_only (data).
    fn alloc(&self, bytes: usize, flags: c_int, group: c_int) -> Result<*mut c_void, String> {
        let mut bo = std::ptr::null_mut();
        checked(
            &format!("allocating {bytes} bytes in group {group}"),
            |e, l| unsafe {
                (self.api.bo_alloc)(self.context, bytes.max(4), flags, group, &mut bo, e, l)
            },
        )?;
        Ok(bo)
    }

    fn upload(&self, bo: *mut c_void, bytes: &[u8]) -> Result<(), String> {
        // SAFETY: the buffer was allocated with at least bytes.len() bytes and stays alive.
        let ptr = unsafe { (self.api.bo_map)(bo) } as *mut u8;
        if ptr.is_null() {
            return Err("mapping a buffer failed".into());
        }
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr, bytes.len()) };
        checked("sync to device", |e, l| unsafe {
            (self.api.bo_sync)(bo, 1, bytes.len(), 0, e, l)
        })?;
        Ok(())
    }

    fn download(&self, bo: *mut c_void, len: usize) -> Result<Vec<u8>, String> {
        checked("sync from device", |e, l| unsafe {
            (self.api.bo_sync)(bo, 0, len, 0, e, l)
        })?;
        // SAFETY: as in upload.
        let ptr = unsafe { (self.api.bo_map)(bo) } as *const u8;
        if ptr.is_null() {
            return Err("mapping a buffer failed".into());
        }
        Ok(unsafe { std::slice::from_raw_parts(ptr, len) }.to_vec())
    }

    /// A run of `call` ready to start: every data buffer allocated in the memory group of its
    /// own argument index, inputs synced to the device, the run created (arg0 opcode, arg1
    /// instructions, arg2 words, arg3.. buffers). Dropping it releases everything.
    fn prepare(&self, call: &Call, buffers: &[Cow<'_, [u8]>]) -> Result<PreparedRun<'_>, String> {
        let name = call.kernel.name();
        let kernel = *self
            .kernels
            .get(name)
            .ok_or_else(|| format!("kernel {name} is not in the xclbin"))?;
        let (instructions, words) = self.stream(call, kernel)?;
        let mut prepared = PreparedRun {
            api: &self.api,
            run: std::ptr::null_mut(),
            bos: Vec::with_capacity(call.args.buffers.len()),
        };
        for (arg, data) in call.args.buffers.iter().zip(buffers.iter()) {
            let group = self.group_id(kernel, arg.arg_index())?;
            if group == SCALAR_GROUP {
                return Err(format!(
                    "{name}: argument {} (`{}`) is a scalar slot in this xclbin (group {group:#x}); the xclbin does not match xclbin/manifest.json",
                    arg.arg_index(),
                    arg.name
                ));
            }
            let bo = self.alloc(arg.bytes, 2, group)?;
            prepared.bos.push(bo);
            if arg.direction != Direction::Output {
                self.upload(bo, data)?;
            }
        }
        let mut handles = prepared.bos.clone();
        let mut run = std::ptr::null_mut();
        checked(&format!("creating a run of {name}"), |e, l| unsafe {
            (self.api.run_create)(
                kernel,
                call.args.opcode,
                instructions,
                words,
                handles.as_mut_ptr(),
                handles.len(),
                &mut run,
                e,
                l,
            )
        })?;
        prepared.run = run;
        Ok(prepared)
    }

    /// Copy a finished run's outputs back into `buffers`.
    fn collect(
        &self,
        call: &Call,
        prepared: &PreparedRun<'_>,
        buffers: &mut [Cow<'_, [u8]>],
    ) -> Result<(), String> {
        for ((arg, data), &bo) in call
            .args
            .buffers
            .iter()
            .zip(buffers.iter_mut())
            .zip(&prepared.bos)
        {
            if arg.direction != Direction::Input {
                *data = Cow::Owned(self.download(bo, arg.bytes)?);
            }
        }
        Ok(())
    }

    /// Run one call: prepared (see `prepare`), started, waited for at most `timeout_ms`,
    /// outputs synced back into `buffers`.
    pub fn run(
        &self,
        call: &Call,
        buffers: &mut [Cow<'_, [u8]>],
        timeout_ms: u32,
    ) -> Result<(), String> {
        let prepared = self.prepare(call, buffers)?;
        checked("starting the run", |e, l| unsafe {
            (self.api.run_start)(prepared.run, e, l)
        })?;
        let state = checked("waiting for the run", |e, l| unsafe {
            (self.api.run_wait)(prepared.run, timeout_ms, e, l)
        })?;
        match state {
            STATE_COMPLETED => {}
            STATE_TIMEOUT => return Err(format!("timed out after {timeout_ms} ms")),
            other => return Err(format!("the run ended in ERT state {other}")),
        }
        self.collect(call, &prepared, buffers)
    }

    /// Independent calls as one `xrt::runlist`: every run prepared, added, executed at once and
    /// waited for together (at most `timeout_ms`), then every output collected. `Ok(false)` when
    /// the runtime cannot make a runlist here (nothing has run): the caller runs them singly.
    pub fn run_list(&self, runs: &mut [Run<'_>], timeout_ms: u32) -> Result<bool, String> {
        let mut list = std::ptr::null_mut();
        if checked("creating a runlist", |e, l| unsafe {
            (self.api.runlist_create)(self.context, &mut list, e, l)
        })
        .is_err()
        {
            return Ok(false);
        }
        let release_list = ReleaseOnDrop(&self.api, list);
        let mut prepared = Vec::with_capacity(runs.len());
        for run in runs.iter() {
            let p = self.prepare(run.call, &run.buffers)?;
            checked("adding a run to the runlist", |e, l| unsafe {
                (self.api.runlist_add)(list, p.run, e, l)
            })?;
            prepared.push(p);
        }
        checked("executing the runlist", |e, l| unsafe {
            (self.api.runlist_execute)(list, e, l)
        })?;
        let timed_out = checked("waiting for the runlist", |e, l| unsafe {
            (self.api.runlist_wait)(list, timeout_ms, e, l)
        })?;
        if timed_out != 0 {
            return Err(format!("the runlist timed out after {timeout_ms} ms"));
        }
        for (run, p) in runs.iter_mut().zip(&prepared) {
            self.collect(run.call, p, &mut run.buffers)?;
        }
        // The runs go before the list that holds them.
        drop(prepared);
        drop(release_list);
        Ok(true)
    }
}

/// A created run and its buffers, released together.
struct PreparedRun<'s> {
    api: &'s Api,
    run: *mut c_void,
    bos: Vec<*mut c_void>,
}

impl Drop for PreparedRun<'_> {
    fn drop(&mut self) {
        // SAFETY: handles from the shim, each released once.
        unsafe {
            if !self.run.is_null() {
                (self.api.release)(self.run);
            }
            for &bo in &self.bos {
                (self.api.release)(bo);
            }
        }
    }
}

struct ReleaseOnDrop<'s>(&'s Api, *mut c_void);

impl Drop for ReleaseOnDrop<'_> {
    fn drop(&mut self) {
        // SAFETY: a handle from the shim, released once.
        unsafe { (self.0.release)(self.1) }
    }
}

/// How long one NPU run (or runlist) may take before it counts as failed (and falls back).
pub const RUN_TIMEOUT_MS: u32 = 5_000;

/// The XRT session as the executor's device. One hardware context serves every request of a
/// shared encoder, one call at a time: the session's instruction-stream cache is not meant for
/// concurrent use, and the device runs one call of a context at a time anyway.
pub struct XrtDevice(std::sync::Mutex<XrtSession>);

impl XrtDevice {
    pub fn new(session: XrtSession) -> Self {
        XrtDevice(std::sync::Mutex::new(session))
    }

    fn session(&self) -> Result<std::sync::MutexGuard<'_, XrtSession>, String> {
        self.0
            .lock()
            .map_err(|_| "an earlier NPU call panicked while holding the session".to_string())
    }
}

impl NpuDevice for XrtDevice {
    fn placement(&self) -> OpDevice {
        OpDevice::Npu
    }

    fn run(&self, call: &Call, buffers: &mut [Cow<'_, [u8]>]) -> Result<(), String> {
        self.session()?.run(call, buffers, RUN_TIMEOUT_MS)
    }

    fn run_all(&self, runs: &mut [Run<'_>]) -> Result<Submission, String> {
        let session = self.session()?;
        if session.run_list(runs, RUN_TIMEOUT_MS)? {
            return Ok(Submission::Runlist { runs: runs.len() });
        }
        for run in runs.iter_mut() {
            session.run(run.call, &mut run.buffers, RUN_TIMEOUT_MS)?;
        }
        Ok(Submission::Single {
            runs: runs.len(),
            why: "the XRT runtime could not create a runlist".to_string(),
        })
    }
}

/// Check a stream's buffer patches against this call's buffer sizes.
fn validated(s: &LoadedStream, call: &Call) -> Result<(*mut c_void, u32), String> {
    let sizes: Vec<usize> = call.args.buffers.iter().map(|b| b.bytes).collect();
    insts::validate(&s.stream, &sizes)
        .map_err(|e| format!("{} instructions: {e}", call.args.instructions))?;
    Ok((s.buffer, s.words))
}

impl Drop for XrtSession {
    fn drop(&mut self) {
        // SAFETY: every handle came from the shim and is released once, innermost first.
        unsafe {
            for s in self.streams.borrow().values() {
                (self.api.release)(s.buffer);
            }
            for &kernel in self.kernels.values() {
                (self.api.release)(kernel);
            }
            (self.api.release)(self.context);
            (self.api.release)(self.xclbin);
            (self.api.release)(self.device);
        }
    }
}
