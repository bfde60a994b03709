//! What a benchmark needs to say about the machine it ran on: the CPU, its vector extensions,
//! the NPU and runtime found, and the GEMM rate our kernels reach on it right now.

use std::time::Instant;

use crate::Precision;

/// The machine a measurement was taken on.
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct MachineInfo {
    /// The CPU's model name (`/proc/cpuinfo`).
    pub cpu: String,
    /// Worker threads of the CPU kernels.
    pub threads: usize,
    /// The vector extensions the kernels can use (`avx2`, `avx512f`, `avx512bf16`, ...).
    pub isa: Vec<&'static str>,
    /// Whether the AVX-512 kernels run (not forced off).
    pub avx512_kernels: bool,
    /// The Linux kernel release.
    pub kernel: String,
    /// The NPU found on the PCI bus (`NPU1 at 0000:c5:00.1`), if any.
    pub npu: Option<String>,
    /// The XRT runtime found, or why none is usable.
    pub xrt: String,
    /// This library's version.
    pub npu_whisper: &'static str,
    /// The git revision it was built from.
    pub git_revision: &'static str,
}

/// Describe this machine.
pub fn machine_info() -> MachineInfo {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = crate::cpu_features::model_name(&cpuinfo).unwrap_or_else(|| "unknown".into());
    #[cfg(target_arch = "x86_64")]
    let isa: Vec<&'static str> = [
        ("avx2", std::arch::is_x86_feature_detected!("avx2")),
        ("fma", std::arch::is_x86_feature_detected!("fma")),
        ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
        (
            "avx512bf16",
            std::arch::is_x86_feature_detected!("avx512bf16"),
        ),
        (
            "avx512vnni",
            std::arch::is_x86_feature_detected!("avx512vnni"),
        ),
    ]
    .into_iter()
    .filter_map(|(n, has)| has.then_some(n))
    .collect();
    #[cfg(not(target_arch = "x86_64"))]
    let isa: Vec<&'static str> = Vec::new();
    MachineInfo {
        cpu,
        threads: rayon::current_num_threads(),
        isa,
        avx512_kernels: crate::cpu_features::has_avx512(),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        npu: crate::npu::device::probe::scan_pci(std::path::Path::new("/"))
            .first()
            .map(|n| format!("{} at {}", n.generation, n.address)),
        xrt: crate::npu::xrt_runtime().unwrap_or_else(|e| format!("unavailable ({e})")),
        npu_whisper: env!("CARGO_PKG_VERSION"),
        git_revision: env!("NPU_WHISPER_GIT_REV"),
    }
}

/// The GEMM rate (GFLOP/s) this machine reaches right now with our kernel of `precision` (f32,
/// or bf16 operands), on the shape of base's fc1 (1500 x 512 x 2048), best of eight runs: the
/// yardstick for an encoder's GFLOP/s. Takes about 0.1 s.
pub fn cpu_gemm_peak_gflops(precision: Precision) -> f64 {
    let bf16 = precision.resolve() == Precision::Bf16;
    let (m, k, n) = (1500, 512, 2048);
    let a = vec![0.5f32; m * k];
    let w = vec![0.25f32; n * k];
    let bias = vec![0.0f32; n];
    let mut out = vec![0.0f32; m * n];
    let packed = bf16.then(|| crate::kernels::bf16::PackedWeight::new(&w, n, k));
    let mut best = f64::MAX;
    // Eight runs (~0.1 s): with four, one stall on this shared machine once halved the figure.
    for _ in 0..8 {
        let started = Instant::now();
        match &packed {
            Some(packed) => crate::kernels::bf16::matmul_bias_par(&mut out, &a, packed, &bias, m),
            None => crate::kernels::gemm::matmul_bias_par(&mut out, &a, &w, &bias, m, k, n),
        }
        best = best.min(started.elapsed().as_secs_f64());
    }
    2.0 * (m * k * n) as f64 / best / 1e9
}
