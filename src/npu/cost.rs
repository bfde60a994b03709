//! Projected NPU device time for a call plan, as a range: an optimistic and a pessimistic
//! bound per NPU generation. Always labelled "projected, not measured": no NPU has run these
//! kernels for this project yet.
//!
//! time(call) = dispatch + max(compute, data movement), each bound from published figures
//! (third-party measurements; REFERENCES.md and issue 18):
//! * dispatch per command: 27.7 us chained and 110 us one by one (`xrt-smi validate` on Phoenix
//!   under Linux); raw XRT ran a 512^3 GEMM in 0.27 ms where IRON's Python wrapper took 1.1 ms,
//!   so the host path matters - we use raw XRT;
//! * whole-array bf16 GEMM on XDNA1 reaches about 50% of peak (optimistic: 2.05 TFLOP/s of a
//!   4.1 TFLOP/s peak, 16 cores x 128 bf16 MACs per cycle at 1 GHz) and measured 1.4-1.76 TFLOP/s
//!   on large shapes and 386 GFLOP/s on a skinny 1536x64x1536 (pessimistic: the low ends);
//! * XDNA2 (NPU4-6) has twice the columns: pessimistic doubles NPU1's pessimistic rates,
//!   optimistic scales NPU1's optimistic ones by the 50/16 TOPS rating - assumptions both;
//! * non-GEMM kernels are limited by vector throughput, data movement by the bytes moved per call
//!   over the host-device bandwidth (assumptions, bracketed).
//!
//! What the range leaves out: the host's packing between calls, and contention; an end-to-end
//! proprietary stack measured the base encoder at 162 ms on a Strix NPU.

use super::calls::{Call, CallShape};

/// An optimistic and a pessimistic value of one figure.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Bound {
    /// With the favourable end of every figure (chained dispatch, ~50% of peak).
    pub optimistic: f64,
    /// With the unfavourable end (single-command dispatch, the lowest measured rates).
    pub pessimistic: f64,
}

const fn bound(optimistic: f64, pessimistic: f64) -> Bound {
    Bound {
        optimistic,
        pessimistic,
    }
}

/// The assumptions of one device generation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceModel {
    /// The generation and the chips it covers.
    pub name: &'static str,
    /// Host overhead of one device run (microseconds): chained, single.
    pub dispatch_us: Bound,
    /// GEMM rate on small shapes (GFLOP/s).
    pub gemm_small_gflops: Bound,
    /// GEMM rate on large shapes (GFLOP/s).
    pub gemm_large_gflops: Bound,
    /// Elementwise rate (giga-elements per second).
    pub vector_gelems_per_s: Bound,
    /// Host-device bandwidth (GB/s).
    pub bandwidth_gb_per_s: Bound,
    /// Where the figures come from, and which are assumptions.
    pub source: &'static str,
}

pub const NPU1: DeviceModel = DeviceModel {
    name: "NPU1 (Phoenix, Hawk Point)",
    dispatch_us: bound(27.7, 110.0),
    gemm_small_gflops: bound(550.0, 386.0),
    gemm_large_gflops: bound(2050.0, 1400.0),
    vector_gelems_per_s: bound(8.0, 4.0),
    bandwidth_gb_per_s: bound(40.0, 20.0),
    source: "dispatch: 27.7 us chained / 110 us single (xrt-smi validate, Phoenix, Linux); GEMM: ~50% of the 4.1 TFLOP/s bf16 peak / the measured 1.4 TFLOP/s and 386 GFLOP/s (Hawk Point); vector rate and bandwidth: assumptions",
};

pub const NPU4: DeviceModel = DeviceModel {
    name: "NPU4-6 (Strix, Strix Halo, Krackan)",
    dispatch_us: bound(27.7, 110.0),
    gemm_small_gflops: bound(550.0 * 3.1, 386.0 * 2.0),
    gemm_large_gflops: bound(2050.0 * 3.1, 1400.0 * 2.0),
    vector_gelems_per_s: bound(8.0 * 3.1, 8.0),
    bandwidth_gb_per_s: bound(60.0, 30.0),
    source: "NPU1's figures scaled by the 50/16 TOPS rating (optimistic) and by the doubled column count (pessimistic); dispatch assumed as on NPU1; all assumptions",
};

/// Projected milliseconds of one call at one end of the range.
pub fn call_ms(call: &Call, device: &DeviceModel, optimistic: bool) -> f64 {
    let pick = |b: Bound| {
        if optimistic {
            b.optimistic
        } else {
            b.pessimistic
        }
    };
    let vector = pick(device.vector_gelems_per_s) * 1e9;
    let compute_s = match call.shape {
        CallShape::Gemm(s) => {
            let flops = 2.0 * (s.mp * s.kp * s.np) as f64;
            flops / (gemm_gflops(s.mp.min(s.kp).min(s.np), device, optimistic) * 1e9)
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
            flops / (gemm_gflops(hd, device, optimistic) * 1e9) + softmax / vector
        }
        CallShape::Rows { rows, cols } => (rows * cols) as f64 * 3.0 / vector,
        CallShape::Elements { len } => len as f64 / vector,
    };
    let move_s = call.bytes_moved() as f64 / (pick(device.bandwidth_gb_per_s) * 1e9);
    call.runs as f64 * (pick(device.dispatch_us) * 1e-6 + compute_s.max(move_s)) * 1e3
}

fn gemm_gflops(min_dim: usize, device: &DeviceModel, optimistic: bool) -> f64 {
    let pick = |b: Bound| {
        if optimistic {
            b.optimistic
        } else {
            b.pessimistic
        }
    };
    let x = ((min_dim.max(64) as f64).log2() - 6.0) / 3.0; // 0 at 64, 1 at 512
    let x = x.clamp(0.0, 1.0);
    let (small, large) = (
        pick(device.gemm_small_gflops),
        pick(device.gemm_large_gflops),
    );
    small + x * (large - small)
}

/// Projection for a whole window.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Projection {
    /// The NPU generation projected.
    pub device: DeviceModel,
    /// Device runs per window.
    pub calls: usize,
    /// Projected milliseconds per window.
    pub ms: Bound,
    /// Of those, the dispatch overhead.
    pub dispatch_ms: Bound,
    /// What the figure is (a projection, not a measurement).
    pub label: &'static str,
}

impl Projection {
    /// "41-97 ms per window (58 calls, 1.6-6.4 ms of it dispatch)".
    pub fn text(&self) -> String {
        format!(
            "{:.0}-{:.0} ms per window ({} calls, {:.1}-{:.1} ms of it dispatch)",
            self.ms.optimistic,
            self.ms.pessimistic,
            self.calls,
            self.dispatch_ms.optimistic,
            self.dispatch_ms.pessimistic
        )
    }
}

pub fn project(calls: &[Call], device: &DeviceModel) -> Projection {
    let runs: f64 = calls.iter().map(|c| c.runs as f64).sum();
    let total = |optimistic| calls.iter().map(|c| call_ms(c, device, optimistic)).sum();
    Projection {
        device: device.clone(),
        calls: runs as usize,
        ms: bound(total(true), total(false)),
        dispatch_ms: bound(
            runs * device.dispatch_us.optimistic / 1e3,
            runs * device.dispatch_us.pessimistic / 1e3,
        ),
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
        let flops: f64 = 2.0
            * calls
                .iter()
                .filter_map(|c| match c.shape {
                    CallShape::Gemm(s) => Some((s.mp * s.kp * s.np) as f64),
                    _ => None,
                })
                .sum::<f64>();
        // The GEMMs alone at the bounds' large-shape rates, and 58 dispatches at 27.7-110 us.
        assert!(p.ms.optimistic > flops / 2.05e12 * 1e3, "{:?}", p.ms);
        assert!(p.ms.pessimistic > flops / 1.4e12 * 1e3, "{:?}", p.ms);
        assert!(p.ms.optimistic < p.ms.pessimistic);
        assert_eq!(p.calls, 58);
        assert!((p.dispatch_ms.optimistic - 58.0 * 0.0277).abs() < 1e-9);
        assert!((p.dispatch_ms.pessimistic - 58.0 * 0.110).abs() < 1e-9);
        assert!(p.dispatch_ms.pessimistic < 0.1 * p.ms.pessimistic);
        let strix = project(&calls, &NPU4);
        assert!(strix.ms.optimistic < p.ms.optimistic && strix.ms.pessimistic < p.ms.pessimistic);
    }

    /// docs/npu.md's table: every distinct encoder of the catalogue, both generations, as ranges
    /// (`cargo test --release --lib npu::cost -- --nocapture` prints it).
    #[test]
    fn every_size_projects_to_a_range_that_grows_with_the_model() {
        let mut last = (0.0, 0.0);
        for name in [
            "tiny",
            "base",
            "small",
            "medium",
            "large-v3",
            "large-v3-turbo",
        ] {
            let config = crate::hub::catalogue::lookup(name)
                .and_then(|e| e.dims)
                .unwrap()
                .config();
            let plan = Plan::new(&config, config.encoder_layers);
            let calls = plan_calls(&plan, &vec![true; plan.ops.len()]);
            let [npu1, npu4] = [&NPU1, &NPU4].map(|d| project(&calls, d));
            eprintln!(
                "{name:<15} {:>4} calls  NPU1 {:>6.0}-{:<6.0} ms  NPU4-6 {:>5.0}-{:<5.0} ms",
                npu1.calls,
                npu1.ms.optimistic,
                npu1.ms.pessimistic,
                npu4.ms.optimistic,
                npu4.ms.pessimistic
            );
            for p in [&npu1, &npu4] {
                assert!(p.ms.optimistic < p.ms.pessimistic, "{name}");
            }
            assert!(npu4.ms.pessimistic < npu1.ms.pessimistic, "{name}");
            if name != "large-v3-turbo" {
                assert!(
                    npu1.ms.optimistic > last.0 && npu1.ms.pessimistic > last.1,
                    "{name}"
                );
                last = (npu1.ms.optimistic, npu1.ms.pessimistic);
            }
        }
    }

    #[test]
    fn per_tile_dispatch_would_be_ruinous_and_the_model_shows_it() {
        // The failure this project exists to avoid: one 512x512x512 GEMM as 16x16 tiles.
        let tiles = 32usize * 32 * 32;
        assert!(tiles as f64 * NPU1.dispatch_us.optimistic / 1e3 > 900.0);
    }
}
