#!/usr/bin/env python3
"""Faults the dataflow emulator must catch (issue 29, item 4), each a design broken on purpose.

Every fault is a one-place edit of a design's source (applied to a copy in memory, the files are
untouched), run on the emulator on small shapes with random inputs; the unbroken design on the
same inputs is the reference (scripts/emulate-npu holds the unbroken designs to the simulator,
bit for bit). Each must end in a mismatch, a deadlock or a failed run, as its row says; a fault
that computes the right answer unnoticed fails this test. Prints the table.

    python3 test_emulator.py --library target/native/libnw_kernels.so [--generation npu1]
"""
import argparse
import sys
import types
from pathlib import Path

import numpy as np
from ml_dtypes import bfloat16

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from emulator import iron, kernels  # noqa: E402

iron.install()

GEMM_SHAPE = {"kernel": "gemm_bias", "m": 256, "k": 128, "n": 512}
ADD_SHAPE = {"kernel": "add", "len": 256 * 6}  # chunks per core 2, 2, 1, 1

# (fault, design module, text in it, replacement, call, outcomes that count as caught)
FAULTS = [
    ("wrong tap stride: A's rows read tk apart instead of K", "gemm",
     "[0, tk, K, 1]", "[0, tk, tk, 1]", GEMM_SHAPE, {"mismatch"}),
    ("A and B FIFOs swapped at the cores", "gemm",
     "[a_rows[r].cons(), b_cols[c].cons(),", "[b_cols[c].cons(), a_rows[r].cons(),",
     GEMM_SHAPE, {"mismatch", "deadlock", "failure"}),
    ("a consumer acquires 3 objects of a depth-2 FIFO", "rows",
     "tx, ty = x.acquire(1), y.acquire(1)", "tx, ty = x.acquire(3)[0], y.acquire(1)",
     ADD_SHAPE, {"deadlock"}),
    ("the bias chunk sent after the k tiles", "gemm",
     """                    b_prod.fill(BIAS, tap=TensorAccessPattern(
                        (1, n_tiles * tk * tn), j * tk * tn, [1, 1, 1, 2 * tk * tn],
                        [0, 0, 0, 1]), group=tg)
                    b_prod.fill(B, tap=TensorAccessPattern(
                        (K, N), j * tn, [kt, 2, tk, tn], [tk * N, tn, N, 1]), group=tg)""",
     """                    b_prod.fill(B, tap=TensorAccessPattern(
                        (K, N), j * tn, [kt, 2, tk, tn], [tk * N, tn, N, 1]), group=tg)
                    b_prod.fill(BIAS, tap=TensorAccessPattern(
                        (1, n_tiles * tk * tn), j * tk * tn, [1, 1, 1, 2 * tk * tn],
                        [0, 0, 0, 1]), group=tg)""",
     GEMM_SHAPE, {"mismatch"}),
    ("a runtime parameter written for the wrong core", "rows",
     "rtp[0] = per_core[k]\n        for barrier in barriers:\n            barrier.set(1)\n        tg = TaskGroup()\n        for k in range(CORE_ROWS):\n            tap",
     "rtp[0] = per_core[(k + 1) % CORE_ROWS]\n        for barrier in barriers:\n            barrier.set(1)\n        tg = TaskGroup()\n        for k in range(CORE_ROWS):\n            tap",
     ADD_SHAPE, {"deadlock", "failure"}),
    ("a core computes its neighbour's tile", "gemm",
     "b_cols[c].cons(), c_parts[c][r].prod()",
     "b_cols[(c + 1) % cols].cons(), c_parts[c][r].prod()", GEMM_SHAPE, {"mismatch"}),
]


def module_variant(name, old=None, new=None):
    """The design module `name`, with `old` replaced by `new` (exactly one place) if given."""
    source = (HERE / f"{name}.py").read_text()
    if old is not None:
        if source.count(old) != 1:
            sys.exit(f"test_emulator: the fault's text is in {name}.py {source.count(old)} times "
                     "(the design changed: update the fault)")
        source = source.replace(old, new)
    module = types.ModuleType(name)
    module.__file__ = str(HERE / f"{name}.py")
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


def inputs(call, rng):
    if call["kernel"] == "add":
        n = call["len"]
        return [rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)]
    m, k, n = call["m"], call["k"], call["n"]
    bias = np.zeros(n // 64 * 2048, np.float32)
    for j in range(n):
        bias[j // 64 * 2048 + j % 64] = rng.standard_normal()
    return [rng.standard_normal(m * k).astype(bfloat16), rng.standard_normal(k * n).astype(bfloat16),
            bias.view(bfloat16), np.zeros(m * n, bfloat16)]


def run(module, call, generation, arrays):
    arrays = [a.copy() for a in arrays]
    if call["kernel"] == "add":
        program = module.elementwise("add", generation, call["len"])
    else:
        program = module.design(call["kernel"], generation, call["m"], call["k"], call["n"])
    program.run(arrays)
    return arrays


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--library", required=True)
    p.add_argument("--generation", default="npu1", choices=["npu1", "npu2"])
    a = p.parse_args()
    kernels.load(a.library)
    rng = np.random.default_rng(29)
    caught = 0
    print(f"{'fault':<56} {'expected':<26} result")
    for fault, name, old, new, call, expected in FAULTS:
        arrays = inputs(call, rng)
        want = run(module_variant(name), call, a.generation, arrays)
        try:
            got = run(module_variant(name, old, new), call, a.generation, arrays)
            same = all(np.array_equal(x.view(np.uint8), y.view(np.uint8)) for x, y in zip(got, want))
            outcome, detail = ("correct output", "") if same else ("mismatch", "")
            if not same:
                out = got[-1] if call["kernel"] != "add" else got[0]
                ref = want[-1] if call["kernel"] != "add" else want[0]
                diff = np.flatnonzero(out.view(np.uint16 if out.dtype == bfloat16 else np.uint32)
                                      != ref.view(np.uint16 if ref.dtype == bfloat16 else np.uint32))
                detail = f"{diff.size} of {out.size} outputs differ, first at {diff[0]}"
        except iron.Deadlock as e:
            outcome, detail = "deadlock", str(e)
        except (iron.EmulationError, kernels.KernelArgumentError) as e:
            outcome, detail = "failure", str(e)
        ok = outcome in expected
        caught += ok
        print(f"{fault:<56} {' or '.join(sorted(expected)):<26} "
              f"{'caught' if ok else 'NOT CAUGHT'}: {outcome}; {detail[:300]}")
    print(f"faults: {caught}/{len(FAULTS)} caught")
    sys.exit(0 if caught == len(FAULTS) else 1)


if __name__ == "__main__":
    main()
