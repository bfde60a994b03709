//! What this CPU can run, detected once. The binary is built for baseline x86-64 and the kernels
//! pick wider code where the CPU has it; `NPU_WHISPER_FORCE_AVX2=1` disables the AVX-512 paths
//! so the fallback is testable on AVX-512 machines. Shared by the CPU kernels and the NPU
//! simulator (which may use the same instructions for its own arithmetic).

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

/// True when the bf16 kernels (AVX512_BF16 `vdpbf16ps`) may run: AVX-512 not forced off.
pub fn has_avx512_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        has_avx512() && std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The CPU's model name from the text of `/proc/cpuinfo`.
pub fn model_name(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
}
