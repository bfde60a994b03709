#!/usr/bin/env python3
"""Whole-array bf16 GEMM with its fused epilogue: one kernel run computes a whole layer GEMM.

Kernels (xclbin/manifest.json): gemm_bias (C = bf16(A.B + bias)), gemm_bias_gelu
(C = bf16(gelu(A.B + bias))), gemm_bias_gelu_f32 (C = gelu(A.B + bias), f32) and
gemm_bias_residual (C = (A.B + bias) + C, f32, C in and out). A is M x K and B K x N, bf16,
row-major; bias N f32. The host pads M to 256 and N to 512 (constants.json m_align/n_align), so
the 4 core rows and 4 (NPU1) or 8 (NPU2) columns divide every GEMM evenly.

Work split: core (r, c) computes the 64x64 output tiles (i, j) with i = 4*rb + r and
j = cols*jb + c, in (rb, jb) order, each as the sum over k tiles of nw_mm_64x64x64_bf16_f32 -
the 4x8x4 block order the simulator reproduces - then the epilogue. The cores loop forever; each
run, the runtime sequence writes (output tiles, k tiles) into every core's runtime parameters
and releases its barrier, so the core programs, and with them the xclbin, are the same for every
shape: only the instruction stream (this sequence) is per shape.

Shim DMA channels (2 in, 2 out per shim column): A through one channel, split in a memtile into
the 4 rows (broadcast along each row); bias through one, split per column; B through one per
pair of columns (split into the two columns, broadcast down each column); the residual's prior
C through one per column (split into the 4 rows); C out through one S2MM per column (joined from
the 4 rows). NPU1 needs 8 of its 8 input channels for gemm_bias_residual, NPU2 14 of 16.

L1 (64 KiB per core): A and B tiles 8 KiB each, double-buffered (single for the residual
variant, which also holds the 16 KiB prior tile); the f32 output tile doubles as the
accumulator for f32 outputs, bf16 outputs use a separate 16 KiB f32 accumulator.

    python3 gemm.py --kernel gemm_bias --generation npu1 -M 1536 -K 512 -N 1536 > gemm.mlir

STATUS: see common.py - never compiled or run by this project.
"""
import argparse

from aie.iron import Buffer, ObjectFifo, Program, Runtime, Worker
from aie.iron.controlflow import range_
from aie.iron.device import Tile
from aie.iron.placers import SequentialPlacer
from aie.helpers.taplib import TensorAccessPattern

from common import (BF16, CORE_ROWS, F32, I32, TILE_K, TILE_M, TILE_N, ShimChannels,
                    core_controls, device, kernel, tensor, tile)

# kernel -> (epilogue function of nw_kernels.cc, output dtype, adds the prior C)
VARIANTS = {
    "gemm_bias": ("nw_epilogue_bias_bf16", BF16, False),
    "gemm_bias_gelu": ("nw_epilogue_bias_gelu_bf16", BF16, False),
    "gemm_bias_gelu_f32": ("nw_epilogue_bias_gelu_f32", F32, False),
    "gemm_bias_residual": ("nw_epilogue_bias_residual_into_f32", F32, True),
}


def design(variant, generation, M, K, N):
    dev, cols = device(generation)
    if M % (TILE_M * CORE_ROWS) or N % (TILE_N * cols) or K % TILE_K or cols % 2:
        raise SystemExit(f"gemm: {M}x{K}x{N} is not padded to the design's tiles")
    epilogue_name, out_dtype, residual = VARIANTS[variant]
    kt = K // TILE_K
    row_blocks = M // (TILE_M * CORE_ROWS)
    col_blocks = N // (TILE_N * cols)
    tiles_per_core = row_blocks * col_blocks
    depth = 1 if residual else 2
    f32_out = out_dtype == F32

    a_ty, b_ty = tile(TILE_M, TILE_K, BF16), tile(TILE_K, TILE_N, BF16)
    bias_ty, acc_ty = tensor(TILE_N, F32), tile(TILE_M, TILE_N, F32)
    out_ty = tile(TILE_M, TILE_N, out_dtype)
    zero = kernel("nw_zero_f32", acc_ty, I32)
    matmul = kernel("nw_mm_64x64x64_bf16_f32", a_ty, b_ty, acc_ty)
    if residual:
        epilogue = kernel(epilogue_name, acc_ty, bias_ty, acc_ty, I32, I32)
    else:
        epilogue = kernel(epilogue_name, acc_ty, bias_ty, out_ty, I32, I32)

    shims = ShimChannels(cols)
    # A: (4*64) x 64 blocks, split into the 4 rows; every core of a row consumes its part.
    a_in = ObjectFifo(tile(CORE_ROWS * TILE_M, TILE_K, BF16), name="a_in", depth=depth)
    a_rows = a_in.cons().split(
        [r * TILE_M * TILE_K for r in range(CORE_ROWS)],
        obj_types=[a_ty] * CORE_ROWS,
        names=[f"a{r}" for r in range(CORE_ROWS)],
        depths=[depth] * CORE_ROWS,
    )
    a_shim = shims.take()
    # bias: cols x 64 floats per column block, split per column.
    bias_in = ObjectFifo(tensor(cols * TILE_N, F32), name="bias_in", depth=2)
    bias_cols = bias_in.cons().split(
        [c * TILE_N for c in range(cols)],
        obj_types=[bias_ty] * cols,
        names=[f"bias{c}" for c in range(cols)],
        depths=[2] * cols,
    )
    bias_shim = shims.take()
    # B: two consecutive 64x64 tiles (columns 2p and 2p+1) per element, split per column.
    b_in, b_cols, b_shims = [], [], []
    for p in range(cols // 2):
        f = ObjectFifo(tile(2 * TILE_K, TILE_N, BF16), name=f"b_in{p}", depth=depth)
        b_in.append(f)
        b_cols += f.cons().split(
            [0, TILE_K * TILE_N],
            obj_types=[b_ty] * 2,
            names=[f"b{2 * p}", f"b{2 * p + 1}"],
            depths=[depth] * 2,
        )
        b_shims.append(shims.take())
    # prior C (residual only): 256 x 64 f32 per column, split into the 4 rows.
    p_in, p_parts, p_shims = [], [], []
    if residual:
        for c in range(cols):
            f = ObjectFifo(tile(CORE_ROWS * TILE_M, TILE_N, F32), name=f"p_in{c}", depth=1)
            p_in.append(f)
            p_parts.append(
                f.cons().split(
                    [r * TILE_M * TILE_N for r in range(CORE_ROWS)],
                    obj_types=[acc_ty] * CORE_ROWS,
                    names=[f"p{r}_{c}" for r in range(CORE_ROWS)],
                    depths=[1] * CORE_ROWS,
                )
            )
            p_shims.append(shims.take())
    # C out: the 4 rows' tiles joined into 256 x 64 per column.
    c_out, c_parts = [], []
    for c in range(cols):
        f = ObjectFifo(tile(CORE_ROWS * TILE_M, TILE_N, out_dtype), name=f"c_out{c}", depth=2)
        c_out.append(f)
        c_parts.append(
            f.prod().join(
                [r * TILE_M * TILE_N for r in range(CORE_ROWS)],
                obj_types=[out_ty] * CORE_ROWS,
                names=[f"c{r}_{c}" for r in range(CORE_ROWS)],
                depths=[1] * CORE_ROWS,
            )
        )

    def core(a, b, bias, out, prior, acc, zero, matmul, epilogue, rtp, barrier):
        barrier.wait_for_value(1)
        for _ in range_(rtp[0]):  # output tiles of this core
            c = out.acquire(1)
            target = c if f32_out else acc
            zero(target, TILE_M * TILE_N)
            for _ in range_(rtp[1]):  # k tiles
                ta, tb = a.acquire(1), b.acquire(1)
                matmul(ta, tb, target)
                a.release(1)
                b.release(1)
            tbias = bias.acquire(1)
            if residual:
                tp = prior.acquire(1)
                epilogue(c, tbias, tp, TILE_M, TILE_N)
                prior.release(1)
            else:
                epilogue(target, tbias, c, TILE_M, TILE_N)
            bias.release(1)
            out.release(1)

    rtps, barriers, workers = [], [], []
    for r in range(CORE_ROWS):
        for c in range(cols):
            rtp, barrier = core_controls(f"{r}_{c}", 2)
            acc = None if f32_out else Buffer(acc_ty, name=f"acc{r}_{c}")
            prior = p_parts[c][r].cons() if residual else None
            workers.append(Worker(
                core,
                [a_rows[r].cons(), b_cols[c].cons(), bias_cols[c].cons(), c_parts[c][r].prod(),
                 prior, acc, zero, matmul, epilogue, rtp, barrier],
                placement=Tile(c, 2 + r),
            ))
            rtps.append(rtp)
            barriers.append(barrier)

    rt = Runtime()
    with rt.sequence(tensor(M * K, BF16), tensor(K * N, BF16), tensor(N, F32),
                     tensor(M * N, out_dtype)) as (A, B, BIAS, C):
        rt.start(*workers)

        def write_counts(*buffers):
            for buf in buffers:
                buf[0] = tiles_per_core
                buf[1] = kt

        rt.inline_ops(write_counts, rtps)
        for barrier in barriers:
            rt.set_barrier(barrier, 1)
        block_rows = CORE_ROWS * TILE_M
        for rb in range(row_blocks):
            tg = rt.task_group()
            # A rows of this block, all k tiles, once per column block.
            rt.fill(a_in.prod(), A, TensorAccessPattern(
                (M, K), rb * block_rows * K, [col_blocks, kt, block_rows, TILE_K],
                [0, TILE_K, K, 1]), task_group=tg, placement=a_shim)
            rt.fill(bias_in.prod(), BIAS, TensorAccessPattern(
                (1, N), 0, [1, 1, col_blocks, cols * TILE_N], [0, 0, cols * TILE_N, 1]),
                task_group=tg, placement=bias_shim)
            for jb in range(col_blocks):
                for p in range(cols // 2):
                    j = jb * cols + 2 * p
                    rt.fill(b_in[p].prod(), B, TensorAccessPattern(
                        (K, N), j * TILE_N, [kt, 2, TILE_K, TILE_N], [TILE_K * N, TILE_N, N, 1]),
                        task_group=tg, placement=b_shims[p])
            for c in range(cols):
                block = TensorAccessPattern(
                    (M, N), rb * block_rows * N + c * TILE_N, [1, col_blocks, block_rows, TILE_N],
                    [0, cols * TILE_N, N, 1])
                if residual:
                    rt.fill(p_in[c].prod(), C, block, task_group=tg, placement=p_shims[c])
                rt.drain(c_out[c].cons(), C, block, wait=True, task_group=tg,
                         placement=Tile(c, 0))
            rt.finish_task_group(tg)

    return Program(dev, rt).resolve_program(SequentialPlacer())


def main():
    p = argparse.ArgumentParser(description="npu-whisper whole-array GEMM (emits MLIR)")
    p.add_argument("--kernel", choices=sorted(VARIANTS), required=True)
    p.add_argument("--generation", choices=["npu1", "npu2"], required=True)
    p.add_argument("-M", type=int, required=True)
    p.add_argument("-K", type=int, required=True)
    p.add_argument("-N", type=int, required=True)
    a = p.parse_args()
    print(design(a.kernel, a.generation, a.M, a.K, a.N))


if __name__ == "__main__":
    main()
