//! Projected NPU device time for a call plan. Always labelled "projected, not measured": no NPU
//! has run these kernels for this project yet.
//!
//! time(call) = dispatch overhead + max(compute, data movement), where
//! * dispatch overhead is per kernel run (NPU1: about 45 us even for an empty kernel, published
//!   third-party measurement on a Hawk Point 8845HS);
//! * GEMM compute uses a throughput that grows with the smallest GEMM dimension: 386 GFLOP/s
//!   at 64 (measured 1536x64x1536 on NPU1) rising linearly in log2 to 1.5 TFLOP/s at 512 and
//!   above (measured 1.4-1.76 TFLOP/s for large bf16 shapes on 4 columns of NPU1);
//! * non-GEMM kernels (softmax, LayerNorm, GELU, adds) are limited by vector throughput;
//! * data movement is the bytes moved per call over the shared-memory bandwidth the NPU gets.
//!
//! NPU4 (Strix) figures are scaled from its 50 vs 16 TOPS rating; their absolute values are
//! assumptions, not measurements, and are listed with the result.

use super::calls::{Call, CallShape};

/// The assumptions of one device generation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceModel {
    /// The generation and the chips it covers.
    pub name: &'static str,
    /// Host overhead of one device run (microseconds).
    pub dispatch_us: f64,
    /// GEMM rate on small shapes (GFLOP/s).
    pub gemm_small_gflops: f64,
    /// GEMM rate on large shapes (GFLOP/s).
    pub gemm_large_gflops: f64,
    /// Elementwise rate (giga-elements per second).
    pub vector_gelems_per_s: f64,
    /// Host-device bandwidth (GB/s).
    pub bandwidth_gb_per_s: f64,
    /// Where the figures come from, and which are assumptions.
    pub source: &'static str,
}

pub const NPU1: DeviceModel = DeviceModel {
    name: "NPU1 (Phoenix/Hawk Point)",
    dispatch_us: 45.0,
    gemm_small_gflops: 386.0,
    gemm_large_gflops: 1500.0,
    vector_gelems_per_s: 8.0,
    bandwidth_gb_per_s: 40.0,
    source: "dispatch and GEMM rates: published measurements on a Hawk Point 8845HS (REFERENCES.md); vector rate and bandwidth: assumptions",
};

pub const NPU4: DeviceModel = DeviceModel {
    name: "NPU4 (Strix)",
    dispatch_us: 45.0,
    gemm_small_gflops: 386.0 * 3.1,
    gemm_large_gflops: 1500.0 * 3.1,
    vector_gelems_per_s: 8.0 * 3.1,
    bandwidth_gb_per_s: 60.0,
    source: "NPU1 figures scaled by the 50/16 TOPS rating; dispatch overhead assumed unchanged; all assumptions",
};

/// Projected milliseconds of one call.
pub fn call_ms(call: &Call, device: &DeviceModel) -> f64 {
    let compute_s = match call.shape {
        CallShape::Gemm(s) => {
            let flops = 2.0 * (s.mp * s.kp * s.np) as f64;
            flops / (gemm_gflops(s.mp.min(s.kp).min(s.np), device) * 1e9)
        }
        CallShape::Attention {
            heads,
            frames_p,
            d_model,
            ..
        } => {
            let hd = d_model / heads;
            let flops = 2.0 * 2.0 * (heads * frames_p * frames_p * hd) as f64;
            let softmax = (heads * frames_p * frames_p) as f64;
            flops / (gemm_gflops(hd, device) * 1e9) + softmax / (device.vector_gelems_per_s * 1e9)
        }
        CallShape::Rows { rows, cols } => {
            (rows * cols) as f64 * 3.0 / (device.vector_gelems_per_s * 1e9)
        }
        CallShape::Elements { len } => len as f64 / (device.vector_gelems_per_s * 1e9),
    };
    let move_s = call.bytes_moved() as f64 / (device.bandwidth_gb_per_s * 1e9);
    call.runs as f64 * (device.dispatch_us * 1e-6 + compute_s.max(move_s)) * 1e3
}

fn gemm_gflops(min_dim: usize, device: &DeviceModel) -> f64 {
    let x = ((min_dim.max(64) as f64).log2() - 6.0) / 3.0; // 0 at 64, 1 at 512
    let x = x.clamp(0.0, 1.0);
    device.gemm_small_gflops + x * (device.gemm_large_gflops - device.gemm_small_gflops)
}

/// Projection for a whole window.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Projection {
    /// The NPU generation projected.
    pub device: DeviceModel,
    /// Device runs per window.
    pub calls: usize,
    /// Projected milliseconds per window.
    pub ms: f64,
    /// Of those, the dispatch overhead.
    pub dispatch_ms: f64,
    /// What the figure is (a projection, not a measurement).
    pub label: &'static str,
}

pub fn project(calls: &[Call], device: &DeviceModel) -> Projection {
    Projection {
        device: device.clone(),
        calls: calls.iter().map(|c| c.runs as usize).sum(),
        ms: calls.iter().map(|c| call_ms(c, device)).sum(),
        dispatch_ms: calls
            .iter()
            .map(|c| c.runs as f64 * device.dispatch_us / 1e3)
            .sum(),
        label: "projected, not measured",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::Plan;
    use crate::model::Config;
    use crate::npu::calls::plan_calls;

    #[test]
    fn base_window_projection_is_dominated_by_compute_not_dispatch() {
        let plan = Plan::new(&Config::standard(80, 512, 6), 6);
        let calls = plan_calls(&plan, &vec![true; plan.ops.len()]);
        let p = project(&calls, &NPU1);
        // 87 GFLOP at <= 1.5 TFLOP/s is at least 58 ms; 46 dispatches are about 2 ms.
        assert!(p.ms > 58.0 && p.ms < 400.0, "{}", p.ms);
        assert!((p.dispatch_ms - 46.0 * 0.045).abs() < 1e-9);
        assert!(project(&calls, &NPU4).ms < p.ms);
    }

    #[test]
    fn per_tile_dispatch_would_be_ruinous_and_the_model_shows_it() {
        // The failure this project exists to avoid: one 512x512x512 GEMM as 16x16 tiles.
        let tiles = 32usize * 32 * 32;
        assert!(tiles as f64 * NPU1.dispatch_us / 1e3 > 1000.0);
    }
}
