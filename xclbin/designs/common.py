"""What the IRON designs share: the target device, the kernel object file and the tile sizes.

Written against the IRON API of the release pinned in xclbin/toolchain.json (v1.4 form:
`Runtime(seq_fn, fn_args)`, `Program(dev, rt, workers=...)`, `TaskGroup`, `handle.fill/drain`,
`barrier.set`; every name used is in the definitions table of README.md here). Checked here by
scripts/check-designs, which runs them against a recording stand-in of that API and holds the
result to each array's resource budgets; never compiled by this project (the toolchain is not
installable on its machines) and never run on an NPU. scripts/npu-validate is the check that
they compute what src/npu/sim.rs computes.
"""
import numpy as np
from ml_dtypes import bfloat16

from aie.iron import Buffer, Kernel, WorkerRuntimeBarrier
from aie.iron.device import NPU1Col4, NPU2, Tile

from shapes import CONSTANTS

GEMM = CONSTANTS["gemm"]
TILE_M, TILE_K, TILE_N = GEMM["tile_m"], GEMM["tile_k"], GEMM["tile_n"]
# Every design uses the 4 core rows of a column; columns: 4 on NPU1 (Phoenix, Hawk Point),
# 8 on NPU2-class arrays (Strix, Krackan: the driver's NPU4/NPU5/NPU6).
CORE_ROWS = 4
KERNELS_OBJECT = "nw_kernels.o"  # xclbin/kernels/nw_kernels.cc, compiled by scripts/build-xclbin


def device(generation):
    """The IRON device and its column count for `npu1` or `npu2`."""
    if generation == "npu1":
        return NPU1Col4(), 4
    if generation == "npu2":
        return NPU2(), 8
    raise SystemExit(f"unknown NPU generation {generation!r} (npu1 or npu2)")


def tensor(n, dtype):
    return np.ndarray[(n,), np.dtype[dtype]]


def tile(rows, cols, dtype):
    return np.ndarray[(rows, cols), np.dtype[dtype]]


def kernel(name, *arg_types):
    """A function of nw_kernels.cc (extern "C", so the symbol is the name)."""
    return Kernel(name, KERNELS_OBJECT, list(arg_types))


BF16 = bfloat16
F32 = np.float32
I32 = np.int32


def core_controls(name, words):
    """A core's runtime parameters (`words` int32 the sequence writes each run) and the barrier
    the sequence releases once they are written. Zero initial values: the static image must not
    depend on the shape."""
    rtp = Buffer(tensor(words, I32), name=f"rtp_{name}", initial_value=np.zeros(words, I32),
                 use_write_rtp=True)
    return rtp, WorkerRuntimeBarrier()


class ShimChannels:
    """Hands out shim tiles so that no shim gets more than its two input (MM2S) DMA channels."""

    def __init__(self, cols):
        self.free = [c for c in range(cols) for _ in range(2)]

    def take(self):
        if not self.free:
            raise SystemExit("more input streams than shim DMA channels")
        return Tile(self.free.pop(0), 0)


def shim(col):
    return Tile(col, 0)


def memtile(col):
    return Tile(col, 1)


def program_for(call, generation):
    """The design of one call of shapes.py (a dict with `kernel` and its dimensions), resolved:
    the MLIR module with the real API, the recorded program with checker/standin.py."""
    kernel = call["kernel"]
    if kernel.startswith("gemm"):
        import gemm

        return gemm.design(kernel, generation, call["m"], call["k"], call["n"])
    if kernel == "attention":
        import attention

        return attention.design(generation, call["heads"], call["frames"], call["frames_p"],
                                call["d_model"])
    import rows

    if kernel in rows.ROW_KERNELS:
        return rows.layernorm(kernel, generation, call["rows"], call["cols"])
    return rows.elementwise(kernel, generation, call["len"])
