#!/usr/bin/env python3
"""Whole-array bf16 GEMM with its fused epilogue: one kernel run computes a whole layer GEMM.

Kernels (xclbin/manifest.json): gemm_bias (C = bf16(A.B + bias)), gemm_bias_gelu
(C = bf16(gelu(A.B + bias))), gemm_bias_gelu_f32 (C = gelu(A.B + bias), f32) and gemm_bias_f32
(C = A.B + bias, f32). A is M x K and B K x N, bf16, row-major; the host pads M to 256 and N to
512 (constants.json m_align/n_align), so the 4 core rows and 4 (NPU1) or 8 (NPU2) columns divide
every GEMM evenly. The bias is laid out in chunks of one B tile's bytes per 64-column tile
(2048 f32, the 64 values first, then zeros): it travels in the B stream, ahead of the B tiles
of each output tile, because a core has two input (S2MM) DMA channels and A and B take both.

Work split: core (r, c) computes the 64x64 output tiles (i, j) with i = 4*rb + r and
j = cols*jb + c, in (rb, jb) order, each as the sum over k tiles of nw_mm_64x64x64_bf16_f32 -
the 4x8x4 block order the simulator reproduces - then the epilogue. The cores loop forever; each
run, the runtime sequence writes (output tiles, k tiles) into every core's runtime parameters
and releases its barrier, so the core programs, and with them the xclbin, are the same for every
shape: only the instruction stream (this sequence) is per shape.

Data movement (scripts/check-designs holds it to each array's budgets):
  A     shim 0 -> memtile 0, split into the 4 rows, each broadcast along its row;
  B     per pair of columns p: shim -> memtile 1+p, split into the two columns, broadcast down
        each column; per output tile first the pair's bias chunks, then the k tiles;
  C     per column: the 4 rows' tiles joined in memtile c -> shim c.
One task group per (row block, column block): at most one transfer per channel per group for A
and C, two for B (bias, tiles), within the shim task queue of 4.

    python3 gemm.py --kernel gemm_bias --generation npu1 -M 1536 -K 512 -N 1536 > gemm.mlir
"""
import argparse

from aie.iron import Buffer, ObjectFifo, Program, Runtime, TaskGroup, Worker
from aie.iron.controlflow import range_
from aie.iron.device import Tile
from aie.iron.placers import SequentialPlacer
from aie.helpers.taplib import TensorAccessPattern

import common
from common import (BF16, CORE_ROWS, F32, I32, ShimChannels, core_controls, device, kernel,
                    memtile, shim, tensor, tile)

# kernel -> (epilogue function of nw_kernels.cc, output dtype)
VARIANTS = {
    "gemm_bias": ("nw_epilogue_bias_bf16", BF16),
    "gemm_bias_gelu": ("nw_epilogue_bias_gelu_bf16", BF16),
    "gemm_bias_gelu_f32": ("nw_epilogue_bias_gelu_f32", F32),
    "gemm_bias_f32": ("nw_epilogue_bias_f32", F32),
}


def bias_chunk():
    """f32 values per 64-column bias chunk: one B tile's bytes (the B stream's element size)."""
    return common.TILE_K * common.TILE_N // 2


def design(variant, generation, M, K, N):
    dev, cols = device(generation)
    tm, tk, tn = common.TILE_M, common.TILE_K, common.TILE_N
    if M % (tm * CORE_ROWS) or N % (tn * cols) or K % tk or cols % 2:
        raise SystemExit(f"gemm: {M}x{K}x{N} is not padded to the design's tiles")
    epilogue_name, out_dtype = VARIANTS[variant]
    kt = K // tk
    row_blocks = M // (tm * CORE_ROWS)
    col_blocks = N // (tn * cols)
    f32_out = out_dtype == F32
    n_tiles = N // tn

    a_ty, b_ty = tile(tm, tk, BF16), tile(tk, tn, BF16)
    bias_ty, acc_ty = tensor(tn, F32), tile(tm, tn, F32)
    out_ty = tile(tm, tn, out_dtype)
    zero = kernel("nw_zero_f32", acc_ty, I32)
    take_bias = kernel("nw_copy_bias_f32", b_ty, bias_ty, I32)
    matmul = kernel("nw_mm_64x64x64_bf16_f32", a_ty, b_ty, acc_ty)
    epilogue = kernel(epilogue_name, acc_ty, bias_ty, out_ty, I32, I32)

    shims = ShimChannels(cols)
    # A: (4*64) x 64 blocks, split into the 4 rows; every core of a row consumes its part.
    a_in = ObjectFifo(tile(CORE_ROWS * tm, tk, BF16), name="a_in", depth=2)
    a_rows = a_in.cons().split(
        [r * tm * tk for r in range(CORE_ROWS)],
        obj_types=[a_ty] * CORE_ROWS,
        names=[f"a{r}" for r in range(CORE_ROWS)],
        depths=[2] * CORE_ROWS,
        placement=memtile(0),
    )
    a_prod = a_in.prod(tile=shims.take())
    # B: two consecutive 64x64 tiles (columns 2p and 2p+1) per element, split per column;
    # the pair's bias chunks travel as one element of the same size ahead of the k tiles.
    b_prods, b_cols = [], []
    for p in range(cols // 2):
        f = ObjectFifo(tile(2 * tk, tn, BF16), name=f"b_in{p}", depth=2)
        b_cols += f.cons().split(
            [0, tk * tn],
            obj_types=[b_ty] * 2,
            names=[f"b{2 * p}", f"b{2 * p + 1}"],
            depths=[2] * 2,
            placement=memtile(1 + p),
        )
        b_prods.append(f.prod(tile=shims.take()))
    # C out: the 4 rows' tiles joined into 256 x 64 per column.
    c_conses, c_parts = [], []
    for c in range(cols):
        f = ObjectFifo(tile(CORE_ROWS * tm, tn, out_dtype), name=f"c_out{c}", depth=2)
        c_parts.append(
            f.prod().join(
                [r * tm * tn for r in range(CORE_ROWS)],
                obj_types=[out_ty] * CORE_ROWS,
                names=[f"c{r}_{c}" for r in range(CORE_ROWS)],
                depths=[1] * CORE_ROWS,
                placement=memtile(c),
            )
        )
        c_conses.append(f.cons(tile=shim(c)))

    def core(a, b, out, acc, bias, zero, take_bias, matmul, epilogue, rtp, barrier):
        barrier.wait_for_value(1)
        for _ in range_(rtp[0]):  # output tiles of this core
            tb = b.acquire(1)
            take_bias(tb, bias, tn)
            b.release(1)
            c = out.acquire(1)
            target = c if f32_out else acc
            zero(target, tm * tn)
            for _ in range_(rtp[1]):  # k tiles
                ta, tb = a.acquire(1), b.acquire(1)
                matmul(ta, tb, target)
                a.release(1)
                b.release(1)
            epilogue(target, bias, c, tm, tn)
            out.release(1)

    rtps, barriers, workers = [], [], []
    for r in range(CORE_ROWS):
        for c in range(cols):
            rtp, barrier = core_controls(f"{r}_{c}", 2)
            acc = None if f32_out else Buffer(acc_ty, name=f"acc{r}_{c}")
            bias = Buffer(bias_ty, name=f"bias{r}_{c}")
            workers.append(Worker(
                core,
                [a_rows[r].cons(), b_cols[c].cons(), c_parts[c][r].prod(), acc, bias, zero,
                 take_bias, matmul, epilogue, rtp, barrier],
                placement=Tile(c, 2 + r),
            ))
            rtps.append(rtp)
            barriers.append(barrier)

    block_rows = CORE_ROWS * tm

    def sequence(A, B, BIAS, C, a_prod, b_prods, c_conses, rtps, barriers):
        for rtp in rtps:
            rtp[0] = row_blocks * col_blocks
            rtp[1] = kt
        for barrier in barriers:
            barrier.set(1)
        for rb in range(row_blocks):
            for jb in range(col_blocks):
                tg = TaskGroup()
                # A rows of this block, every k tile.
                a_prod.fill(A, tap=TensorAccessPattern(
                    (M, K), rb * block_rows * K, [1, kt, block_rows, tk], [0, tk, K, 1]),
                    group=tg)
                for p, b_prod in enumerate(b_prods):
                    j = jb * cols + 2 * p
                    # BIAS is passed as bf16 words: one chunk is one B tile's worth.
                    b_prod.fill(BIAS, tap=TensorAccessPattern(
                        (1, n_tiles * tk * tn), j * tk * tn, [1, 1, 1, 2 * tk * tn],
                        [0, 0, 0, 1]), group=tg)
                    b_prod.fill(B, tap=TensorAccessPattern(
                        (K, N), j * tn, [kt, 2, tk, tn], [tk * N, tn, N, 1]), group=tg)
                for c, c_cons in enumerate(c_conses):
                    c_cons.drain(C, tap=TensorAccessPattern(
                        (M, N), rb * block_rows * N + (jb * cols + c) * tn,
                        [1, 1, block_rows, tn], [0, 0, N, 1]), wait=True, group=tg)
                tg.finish()

    rt = Runtime(sequence, [
        tensor(M * K, BF16), tensor(K * N, BF16), tensor(n_tiles * tk * tn, BF16),
        tensor(M * N, out_dtype), a_prod, b_prods, c_conses, rtps, barriers,
    ])
    return Program(dev, rt, workers=workers).resolve_program(SequentialPlacer())


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
