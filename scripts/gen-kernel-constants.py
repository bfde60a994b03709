#!/usr/bin/env python3
"""Write xclbin/constants.json: the numbers both the NPU kernels and the simulator use.

  * GELU: the exact erf GELU, x * 0.5 * (1 + erf(x / sqrt 2)), as a centred piecewise polynomial:
    24 segments of width 0.5 over [-6, 6), each a degree-5 polynomial in (x - segment centre),
    least-squares fitted in float64 on 2001 points per segment; below -6 the result is 0, from 6
    on it is x (the exact GELU differs from those by under 1e-8 there; at +-4 it would be 1.3e-4). Centring keeps every segment's coefficients small, which is what made the
    polynomial accurate at depth in earlier NPU Whisper work (the stock tanh GELU was not).
  * exp for softmax: e^x = 2^(x log2 e) = 2^n * 2^f with n = floor, f in [0, 1); 2^f as a
    degree-6 polynomial fitted the same way.
  * tile sizes of the bf16 GEMM (MLIR-AIE's 4x8x4 bf16 microkernel inside 64x64x64 core tiles),
    and the alignment the host pads GEMM operands to so the whole-array design divides them
    evenly: M to 64 x 4 core rows, N to 64 x 8 columns (NPU4's array; NPU1's 4 columns divide it).

The numbers are rounded to float32, the precision the kernels compute in. Regenerate with
`python3 scripts/gen-kernel-constants.py`, then `scripts/gen-kernel-header` (a test fails when
xclbin/kernels/npu_whisper_constants.h is stale).
"""
import json
import math
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def gelu(x):
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def fit(f, lo, hi, centre, degree):
    x = np.linspace(lo, hi, 2001)
    t = x - centre
    coeffs = np.polynomial.polynomial.polyfit(t, f(x), degree)
    return [float(np.float32(c)) for c in coeffs]


def main():
    segments = []
    worst = 0.0
    for i in range(24):
        lo = -6.0 + 0.5 * i
        hi, centre = lo + 0.5, lo + 0.25
        c = fit(gelu, lo, hi, centre, 5)
        x = np.linspace(lo, hi, 1001)
        worst = max(worst, float(np.abs(np.polynomial.polynomial.polyval(x - centre, c) - gelu(x)).max()))
        segments.append(c)
    exp2 = fit(lambda x: np.exp2(x), 0.0, 1.0, 0.0, 6)
    xs = np.linspace(0, 1, 10001)
    exp2_err = float(np.abs(np.polynomial.polynomial.polyval(xs, exp2) / np.exp2(xs) - 1).max())
    constants = {
        "schema_version": 1,
        "generator": "scripts/gen-kernel-constants.py",
        "gemm": {"microkernel_r": 4, "microkernel_s": 8, "microkernel_t": 4,
                 "tile_m": 64, "tile_k": 64, "tile_n": 64, "m_align": 256, "n_align": 512},
        "gelu": {"lo": -6.0, "hi": 6.0, "segment_width": 0.5, "degree": 5,
                 "coefficients": segments, "max_abs_error_f64": worst},
        "exp2": {"coefficients": exp2, "max_rel_error_f64": exp2_err},
        "layernorm": {"eps": 1e-5},
        "attention": {"block_rows": 64},
    }
    (ROOT / "xclbin/constants.json").write_text(json.dumps(constants, indent=1) + "\n")
    print(f"gelu max abs error {worst:.2e}, exp2 max rel error {exp2_err:.2e}")


if __name__ == "__main__":
    main()
