#!/usr/bin/env python3
"""Row and element kernels: layernorm, layernorm_f32, gelu, add.

layernorm(_f32): rows x cols f32 in, gamma_beta (2 x cols f32), rows x cols bf16 (f32) out.
The four cores of column 0 each take every fourth row (1500 rows split 375 each, no padding).
Every stream moves chunks of 64 values, so the core programs do not depend on d_model: a row
comes in three times (sum -> mean; squared deviations -> 1/sqrt(var + eps); normalise), the
simulator's order of operations exactly, with gamma/beta chunks alongside the third pass.
gelu (bf16 -> bf16) and add (a += b, f32) stream chunks of 256 elements, every fourth chunk per
core; every encoder length (1500 x d_model, d_model a multiple of 64) is a multiple of 256.

Shim channels: each core has its own input stream(s) and output stream, spread over the shims
(at most 2 in and 2 out per shim); the cores all sit in column 0. One task group per run: one
transfer per channel.

    python3 rows.py --kernel layernorm --generation npu1 --rows 1500 --cols 512
"""
import argparse

from aie.iron import Buffer, ObjectFifo, Program, Runtime, TaskGroup, Worker
from aie.iron.controlflow import range_
from aie.iron.device import Tile
from aie.iron.placers import SequentialPlacer
from aie.helpers.taplib import TensorAccessPattern

from common import (BF16, CORE_ROWS, F32, I32, ShimChannels, core_controls, device, kernel,
                    shim, tensor, tile)

LN_CHUNK = 64
CHUNK = 256
# row kernels: (finishing function, output dtype); element kernels: (function, in, out dtype)
ROW_KERNELS = {"layernorm": ("nw_ln_apply_bf16", BF16), "layernorm_f32": ("nw_ln_apply_f32", F32)}
ELEMENT_KERNELS = {"gelu": ("nw_gelu_bf16", BF16, BF16), "add": ("nw_add_into_f32", F32, F32)}


def counts(units, cores=CORE_ROWS):
    """Units (rows or chunks) of each core when core k takes k, k+4, k+8, ..."""
    return [len(range(k, units, cores)) for k in range(cores)]


def layernorm(name, generation, rows, cols):
    dev, n_cols = device(generation)
    apply_fn, out_dtype = ROW_KERNELS[name]
    if cols % LN_CHUNK:
        raise SystemExit(f"{name}: {cols} columns are not chunks of {LN_CHUNK}")
    chunks = cols // LN_CHUNK
    x_ty, gb_ty = tensor(LN_CHUNK, F32), tile(2, LN_CHUNK, F32)
    y_ty, state_ty = tensor(LN_CHUNK, out_dtype), tensor(4, F32)
    begin = kernel("nw_ln_begin", state_ty)
    add_sum = kernel("nw_ln_sum", x_ty, state_ty, I32)
    mean = kernel("nw_ln_mean", state_ty, I32)
    add_sq = kernel("nw_ln_sq", x_ty, state_ty, I32)
    rstd = kernel("nw_ln_rstd", state_ty, I32)
    apply = kernel(apply_fn, x_ty, gb_ty, y_ty, state_ty, I32)
    per_core = counts(rows)
    shims = ShimChannels(n_cols)
    x_in = [ObjectFifo(x_ty, name=f"x{k}", depth=2) for k in range(CORE_ROWS)]
    y_out = [ObjectFifo(y_ty, name=f"y{k}", depth=2) for k in range(CORE_ROWS)]
    gb_in = [ObjectFifo(gb_ty, name=f"gb{k}", depth=2) for k in range(CORE_ROWS)]

    def core(x, gb, y, state, begin, add_sum, mean, add_sq, rstd, apply, rtp, barrier):
        barrier.wait_for_value(1)
        # rtp: [rows of this core, chunks per row, cols]
        for _ in range_(rtp[0]):
            begin(state)
            for _ in range_(rtp[1]):
                t = x.acquire(1)
                add_sum(t, state, LN_CHUNK)
                x.release(1)
            mean(state, rtp[2])
            for _ in range_(rtp[1]):
                t = x.acquire(1)
                add_sq(t, state, LN_CHUNK)
                x.release(1)
            rstd(state, rtp[2])
            for _ in range_(rtp[1]):
                t, g, o = x.acquire(1), gb.acquire(1), y.acquire(1)
                apply(t, g, o, state, LN_CHUNK)
                x.release(1)
                gb.release(1)
                y.release(1)

    rtps, barriers, workers = [], [], []
    for k in range(CORE_ROWS):
        rtp, barrier = core_controls(str(k), 3)
        workers.append(Worker(core, [
            x_in[k].cons(), gb_in[k].cons(), y_out[k].prod(), Buffer(state_ty, name=f"state{k}"),
            begin, add_sum, mean, add_sq, rstd, apply, rtp, barrier,
        ], placement=Tile(0, 2 + k)))
        rtps.append(rtp)
        barriers.append(barrier)

    x_prods = [f.prod(tile=shims.take()) for f in x_in]
    gb_prods = [f.prod(tile=shims.take()) for f in gb_in]
    y_conses = [f.cons(tile=shim(k % n_cols)) for k, f in enumerate(y_out)]

    def sequence(X, GB, Y, x_prods, gb_prods, y_conses, rtps, barriers):
        for k, rtp in enumerate(rtps):
            rtp[0] = per_core[k]
            rtp[1] = chunks
            rtp[2] = cols
        for barrier in barriers:
            barrier.set(1)
        tg = TaskGroup()
        for k in range(CORE_ROWS):
            # Rows k, k+4, ...: each read three times (stride 0), written once.
            x_prods[k].fill(X, tap=TensorAccessPattern(
                (rows, cols), k * cols, [1, per_core[k], 3, cols], [0, CORE_ROWS * cols, 0, 1]),
                group=tg)
            # gamma and beta chunk by chunk, once per row: [gamma chunk, beta chunk].
            gb_prods[k].fill(GB, tap=TensorAccessPattern(
                (2, cols), 0, [per_core[k], chunks, 2, LN_CHUNK], [0, LN_CHUNK, cols, 1]),
                group=tg)
            y_conses[k].drain(Y, tap=TensorAccessPattern(
                (rows, cols), k * cols, [1, 1, per_core[k], cols], [0, 0, CORE_ROWS * cols, 1]),
                wait=True, group=tg)
        tg.finish()

    rt = Runtime(sequence, [
        tensor(rows * cols, F32), tensor(2 * cols, F32), tensor(rows * cols, out_dtype),
        x_prods, gb_prods, y_conses, rtps, barriers,
    ])
    return Program(dev, rt, workers=workers).resolve_program(SequentialPlacer())


def elementwise(name, generation, length):
    dev, n_cols = device(generation)
    fn, in_dtype, out_dtype = ELEMENT_KERNELS[name]
    if length % CHUNK:
        raise SystemExit(f"{name}: {length} elements are not chunks of {CHUNK}")
    in_ty, out_ty = tensor(CHUNK, in_dtype), tensor(CHUNK, out_dtype)
    binary = name == "add"
    work = kernel(fn, in_ty, in_ty, out_ty, I32) if binary else kernel(fn, in_ty, out_ty, I32)
    per_core = counts(length // CHUNK)
    shims = ShimChannels(n_cols)
    x_in = [ObjectFifo(in_ty, name=f"x{k}", depth=2) for k in range(CORE_ROWS)]
    b_in = [ObjectFifo(in_ty, name=f"b{k}", depth=2) for k in range(CORE_ROWS)] if binary else []
    y_out = [ObjectFifo(out_ty, name=f"y{k}", depth=2) for k in range(CORE_ROWS)]

    def core(x, b, y, work, rtp, barrier):
        barrier.wait_for_value(1)
        for _ in range_(rtp[0]):  # chunks of this core
            tx, ty = x.acquire(1), y.acquire(1)
            if binary:
                tb = b.acquire(1)
                work(tx, tb, ty, CHUNK)
                b.release(1)
            else:
                work(tx, ty, CHUNK)
            x.release(1)
            y.release(1)

    rtps, barriers, workers = [], [], []
    for k in range(CORE_ROWS):
        rtp, barrier = core_controls(str(k), 1)
        workers.append(Worker(core, [
            x_in[k].cons(), b_in[k].cons() if binary else None, y_out[k].prod(), work, rtp,
            barrier,
        ], placement=Tile(0, 2 + k)))
        rtps.append(rtp)
        barriers.append(barrier)

    x_prods = [f.prod(tile=shims.take()) for f in x_in]
    b_prods = [f.prod(tile=shims.take()) for f in b_in] if binary else []
    y_conses = [f.cons(tile=shim(k % n_cols)) for k, f in enumerate(y_out)]

    # add: (a inout, b); gelu: (x, y).
    def sequence(X, Z, x_prods, b_prods, y_conses, rtps, barriers):
        for k, rtp in enumerate(rtps):
            rtp[0] = per_core[k]
        for barrier in barriers:
            barrier.set(1)
        tg = TaskGroup()
        for k in range(CORE_ROWS):
            tap = TensorAccessPattern((1, length), k * CHUNK, [1, 1, per_core[k], CHUNK],
                                      [0, 0, CORE_ROWS * CHUNK, 1])
            x_prods[k].fill(X, tap=tap, group=tg)
            if binary:
                b_prods[k].fill(Z, tap=tap, group=tg)
            y_conses[k].drain(X if binary else Z, tap=tap, wait=True, group=tg)
        tg.finish()

    rt = Runtime(sequence, [
        tensor(length, in_dtype), tensor(length, in_dtype if binary else out_dtype),
        x_prods, b_prods, y_conses, rtps, barriers,
    ])
    return Program(dev, rt, workers=workers).resolve_program(SequentialPlacer())


def main():
    p = argparse.ArgumentParser(description="npu-whisper row and element kernels (emit MLIR)")
    p.add_argument("--kernel", choices=sorted({**ROW_KERNELS, **ELEMENT_KERNELS}), required=True)
    p.add_argument("--generation", choices=["npu1", "npu2"], required=True)
    p.add_argument("--rows", type=int)
    p.add_argument("--cols", type=int)
    p.add_argument("--len", type=int, dest="length")
    a = p.parse_args()
    if a.kernel in ROW_KERNELS:
        print(layernorm(a.kernel, a.generation, a.rows, a.cols))
    else:
        print(elementwise(a.kernel, a.generation, a.length))


if __name__ == "__main__":
    main()
