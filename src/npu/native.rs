//! The kernels of `xclbin/kernels/nw_kernels.cc` compiled for this machine (g++, against the
//! native model of aie_api in `xclbin/kernels/native/aie_api/aie.hpp`) and run as a device:
//! `scripts/test-kernels-native` builds the shared library and validates every call against
//! the simulator through this. Each call runs the core program of its design tile by tile
//! (`xclbin/kernels/native/calls.cc`), so what differs from the simulator is the kernels'
//! arithmetic, never the data movement (the dataflow emulator checks that).

use std::borrow::Cow;
use std::ffi::{CStr, CString, c_void};
use std::path::Path;

use super::calls::{Call, CallShape};
use super::kernel::Kernel;
use super::layout::GemmShape;
use crate::encoder::OpDevice;

type GemmFn = unsafe extern "C" fn(
    i32,
    *const u16,
    *const u16,
    *const f32,
    *mut c_void,
    i32,
    i32,
    i32,
) -> i32;
type AttentionFn = unsafe extern "C" fn(*const u16, *mut u16, i32, i32, i32, i32) -> i32;
type LayerNormFn = unsafe extern "C" fn(i32, *const f32, *const f32, *mut c_void, i32, i32) -> i32;
type GeluFn = unsafe extern "C" fn(*const u16, *mut u16, i32) -> i32;
type AddFn = unsafe extern "C" fn(*mut f32, *const f32, i32) -> i32;

/// The native kernel library, loaded.
pub struct NativeKernels {
    handle: *mut c_void,
    gemm: GemmFn,
    attention: AttentionFn,
    layernorm: LayerNormFn,
    gelu: GeluFn,
    add: AddFn,
}

// SAFETY: the library's entry points keep no state between calls (each allocates its own tile
// buffers), so calls from several threads are independent.
unsafe impl Send for NativeKernels {}
unsafe impl Sync for NativeKernels {}

impl NativeKernels {
    /// Load the library scripts/test-kernels-native built (`target/native/libnw_kernels.so`).
    pub fn load(path: &Path) -> Result<NativeKernels, String> {
        let name = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| format!("{}: a path with a NUL byte", path.display()))?;
        // SAFETY: dlopen with a valid C string; the library's initialisers are g++'s own.
        let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        if handle.is_null() {
            return Err(format!("cannot load {}: {}", path.display(), dl_error()));
        }
        let symbol = |name: &str| -> Result<*mut c_void, String> {
            let c = CString::new(name).expect("symbol names have no NUL");
            // SAFETY: a live handle and a valid C string.
            let p = unsafe { libc::dlsym(handle, c.as_ptr()) };
            if p.is_null() {
                Err(format!(
                    "{}: no symbol {name} (built from an older calls.cc?)",
                    path.display()
                ))
            } else {
                Ok(p)
            }
        };
        // SAFETY: each symbol is the extern "C" function of calls.cc with exactly this signature.
        unsafe {
            Ok(NativeKernels {
                gemm: std::mem::transmute::<*mut c_void, GemmFn>(symbol("nw_call_gemm")?),
                attention: std::mem::transmute::<*mut c_void, AttentionFn>(symbol(
                    "nw_call_attention",
                )?),
                layernorm: std::mem::transmute::<*mut c_void, LayerNormFn>(symbol(
                    "nw_call_layernorm",
                )?),
                gelu: std::mem::transmute::<*mut c_void, GeluFn>(symbol("nw_call_gelu")?),
                add: std::mem::transmute::<*mut c_void, AddFn>(symbol("nw_call_add")?),
                handle,
            })
        }
    }
}

fn dl_error() -> String {
    // SAFETY: dlerror returns a thread-local C string or null.
    let e = unsafe { libc::dlerror() };
    if e.is_null() {
        "unknown error".into()
    } else {
        // SAFETY: non-null, NUL-terminated.
        unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
    }
}

impl Drop for NativeKernels {
    fn drop(&mut self) {
        // SAFETY: the handle came from dlopen and no function pointer outlives self.
        unsafe { libc::dlclose(self.handle) };
    }
}

fn int(v: usize) -> Result<i32, String> {
    i32::try_from(v).map_err(|_| format!("{v} does not fit the kernels' int32 arguments"))
}

/// A buffer's bytes as a properly aligned vector of `T` (the call's buffers are byte vectors).
fn typed<T: Copy + Default>(bytes: &[u8]) -> Vec<T> {
    let mut v = vec![T::default(); bytes.len() / size_of::<T>()];
    // SAFETY: T is a plain number type; the byte counts match.
    unsafe {
        std::ptr::copy_nonoverlapping(
            bytes.as_ptr(),
            v.as_mut_ptr().cast::<u8>(),
            v.len() * size_of::<T>(),
        )
    };
    v
}

fn bytes_of<T: Copy>(v: &[T]) -> Vec<u8> {
    let mut out = vec![0u8; std::mem::size_of_val(v)];
    // SAFETY: as above.
    unsafe { std::ptr::copy_nonoverlapping(v.as_ptr().cast::<u8>(), out.as_mut_ptr(), out.len()) };
    out
}

impl NativeKernels {
    fn gemm_call(
        &self,
        kernel: Kernel,
        s: GemmShape,
        buffers: &mut [Cow<'_, [u8]>],
    ) -> Result<i32, String> {
        let variant = match kernel {
            Kernel::GemmBias => 0,
            Kernel::GemmBiasGelu => 1,
            Kernel::GemmBiasGeluF32 => 2,
            _ => 3,
        };
        let (a, b) = (typed::<u16>(&buffers[0]), typed::<u16>(&buffers[1]));
        let bias = typed::<f32>(&buffers[2]);
        let mut c = vec![0u32; buffers[3].len() / 4 + 1];
        // SAFETY: every buffer holds the shape's elements (`run` checked the sizes against the
        // call plan), and c has room for the output in either dtype.
        let status = unsafe {
            (self.gemm)(
                variant,
                a.as_ptr(),
                b.as_ptr(),
                bias.as_ptr(),
                c.as_mut_ptr().cast(),
                int(s.mp)?,
                int(s.kp)?,
                int(s.np)?,
            )
        };
        let mut out = bytes_of(&c);
        out.truncate(buffers[3].len());
        buffers[3] = Cow::Owned(out);
        Ok(status)
    }

    fn attention_call(
        &self,
        shape: [usize; 4],
        buffers: &mut [Cow<'_, [u8]>],
    ) -> Result<i32, String> {
        let [heads, frames, frames_p, d_model] = shape;
        let qkv = typed::<u16>(&buffers[0]);
        let mut ctx = vec![0u16; buffers[1].len() / 2];
        // SAFETY: as in gemm_call.
        let status = unsafe {
            (self.attention)(
                qkv.as_ptr(),
                ctx.as_mut_ptr(),
                int(heads)?,
                int(frames)?,
                int(frames_p)?,
                int(d_model)?,
            )
        };
        buffers[1] = Cow::Owned(bytes_of(&ctx));
        Ok(status)
    }

    fn layernorm_call(
        &self,
        f32_out: bool,
        rows: usize,
        cols: usize,
        buffers: &mut [Cow<'_, [u8]>],
    ) -> Result<i32, String> {
        let (x, gb) = (typed::<f32>(&buffers[0]), typed::<f32>(&buffers[1]));
        let mut y = vec![0u32; buffers[2].len() / 4 + 1];
        // SAFETY: as in gemm_call.
        let status = unsafe {
            (self.layernorm)(
                i32::from(f32_out),
                x.as_ptr(),
                gb.as_ptr(),
                y.as_mut_ptr().cast(),
                int(rows)?,
                int(cols)?,
            )
        };
        let mut out = bytes_of(&y);
        out.truncate(buffers[2].len());
        buffers[2] = Cow::Owned(out);
        Ok(status)
    }

    fn elements_call(
        &self,
        kernel: Kernel,
        len: usize,
        buffers: &mut [Cow<'_, [u8]>],
    ) -> Result<i32, String> {
        if kernel == Kernel::Gelu {
            let x = typed::<u16>(&buffers[0]);
            let mut y = vec![0u16; len];
            // SAFETY: as in gemm_call.
            let status = unsafe { (self.gelu)(x.as_ptr(), y.as_mut_ptr(), int(len)?) };
            buffers[1] = Cow::Owned(bytes_of(&y));
            return Ok(status);
        }
        let mut a = typed::<f32>(&buffers[0]);
        let b = typed::<f32>(&buffers[1]);
        // SAFETY: as in gemm_call.
        let status = unsafe { (self.add)(a.as_mut_ptr(), b.as_ptr(), int(len)?) };
        buffers[0] = Cow::Owned(bytes_of(&a));
        Ok(status)
    }
}

impl super::dispatch::NpuDevice for NativeKernels {
    fn placement(&self) -> OpDevice {
        // The kernels' arithmetic in software, like the simulator: never the NPU.
        OpDevice::NpuSim
    }

    fn run(&self, call: &Call, buffers: &mut [Cow<'_, [u8]>]) -> Result<(), String> {
        call.check_buffers(buffers)?;
        let status = match (call.kernel, call.shape) {
            (k, CallShape::Gemm(s)) if k.is_gemm() => self.gemm_call(k, s, buffers)?,
            (
                Kernel::Attention,
                CallShape::Attention {
                    heads,
                    frames,
                    frames_p,
                    d_model,
                },
            ) => self.attention_call([heads, frames, frames_p, d_model], buffers)?,
            (k @ (Kernel::LayerNorm | Kernel::LayerNormF32), CallShape::Rows { rows, cols }) => {
                self.layernorm_call(k == Kernel::LayerNormF32, rows, cols, buffers)?
            }
            (k @ (Kernel::Gelu | Kernel::Add), CallShape::Elements { len }) => {
                self.elements_call(k, len, buffers)?
            }
            (kernel, shape) => {
                return Err(format!(
                    "the native kernels cannot run `{kernel}` on {shape:?}"
                ));
            }
        };
        if status == 0 {
            Ok(())
        } else {
            Err(format!(
                "{}: the native library refused shape {:?}",
                call.kernel, call.shape
            ))
        }
    }
}
