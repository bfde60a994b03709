//! Runtime CPU feature dispatch. The binary is built for baseline x86-64 and picks wider kernels
//! where the CPU has them; `NPU_WHISPER_FORCE_AVX2=1` disables the AVX-512 paths so the
//! fallback is testable on AVX-512 machines.

use std::sync::OnceLock;

/// Environment switch that forces the non-AVX-512 kernels.
pub const FORCE_AVX2_ENV: &str = "NPU_WHISPER_FORCE_AVX2";

/// True when AVX-512 (F + VL) kernels may run.
pub fn has_avx512() -> bool {
    static AVX512: OnceLock<bool> = OnceLock::new();
    *AVX512.get_or_init(|| {
        let forced_off =
            std::env::var_os(FORCE_AVX2_ENV).is_some_and(|v| v != "0" && !v.is_empty());
        #[cfg(target_arch = "x86_64")]
        {
            !forced_off
                && std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vl")
                && std::arch::is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = forced_off;
            false
        }
    })
}
