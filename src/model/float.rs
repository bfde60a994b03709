//! Little-endian float tensor bytes (f32, f16, bf16) to f32, shared by the safetensors and
//! CTranslate2 readers.

/// Float formats stored in model files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatFormat {
    F32,
    F16,
    BF16,
}

/// Decode `bytes` (a whole number of elements) to f32.
pub fn to_f32(bytes: &[u8], format: FloatFormat) -> Vec<f32> {
    match format {
        FloatFormat::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        FloatFormat::F16 => {
            use half::slice::HalfFloatSliceExt;
            let mut out = vec![0.0f32; bytes.len() / 2];
            if cfg!(target_endian = "little") && bytes.as_ptr().align_offset(2) == 0 {
                // SAFETY: aligned for u16 (checked), every bit pattern is an f16, and the length
                // is the whole number of f16 values in bytes.
                let halves = unsafe {
                    std::slice::from_raw_parts(bytes.as_ptr() as *const half::f16, out.len())
                };
                // Vectorised (F16C where the CPU has it): the per-value conversion checked the
                // CPU's features for every value.
                halves.convert_to_f32_slice(&mut out);
            } else {
                for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                    *o = half::f16::from_le_bytes([c[0], c[1]]).to_f32();
                }
            }
            out
        }
        FloatFormat::BF16 => bytes
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
    }
}
