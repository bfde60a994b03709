#!/usr/bin/env python3
"""Attention for all heads of a layer in one kernel run: softmax(Q K^T / 8) V per head.

Input: the fused QKV buffer, frames_p x 3*d_model bf16 (Q, K, V side by side, head h in columns
64h..64h+63 of each). Output: the context, frames_p x d_model bf16. d_head is 64 in every
Whisper size, so the scale is exactly 1/8.

Work split: the whole array works on one head at a time. Each core owns 4 query rows per pass
(16 cores x 4 rows = 64 rows per pass on NPU1, 128 on NPU2); per pass the K tiles and then the V
tiles of the head (64 frames x 64 each) are broadcast to every core through one stream (a core
has two input DMA channels: Q and K/V). A core keeps its 4 rows of
f32 scores in L1 (4 x frames_p x 4 bytes = 24 KiB at 1536 frames):
  1. nw_attention_scores: scores[:, 64kb..] = q . K_kb^T (4x8x4 block order), kb = 0..;
  2. nw_attention_softmax: scale, max, exp polynomial, sum, probabilities rounded to bf16 in
     place, columns >= frames zero (the simulator's nw_softmax_row_bf16 arithmetic);
  3. nw_attention_context: acc += P[:, 64vb..] . V_vb, vb = 0..; then rounded to bf16.
Query rows >= frames are padding: the host never reads them (npu-validate compares the real
rows).

Shim channels: one Q stream per column (split in memtile c into the column's 4 cores), one K/V
broadcast (forwarded through memtile 0), one context stream out per column (joined in memtile
c). One task group per head: one transfer per channel (the K/V one K then V, pass by pass).

    python3 attention.py --generation npu1 --heads 8 --frames 1500 --frames-p 1536 --d-model 512
"""
import argparse

from aie.iron import Buffer, ObjectFifo, Program, Runtime, TaskGroup, Worker
from aie.iron.controlflow import range_
from aie.iron.device import Tile
from aie.iron.placers import SequentialPlacer
from aie.helpers.taplib import TensorAccessPattern

from common import (BF16, CORE_ROWS, F32, I32, core_controls, device, kernel, memtile, shim,
                    tensor, tile)

D_HEAD = 64
ROWS_PER_CORE = 4


def design(generation, heads, frames, frames_p, d_model):
    dev, cols = device(generation)
    if d_model != heads * D_HEAD:
        raise SystemExit(f"attention: d_model {d_model} is not {heads} heads of {D_HEAD}")
    rows_per_pass = ROWS_PER_CORE * CORE_ROWS * cols
    if frames_p % rows_per_pass or frames_p % D_HEAD or frames > frames_p:
        raise SystemExit(f"attention: {frames_p} padded frames do not split into passes of {rows_per_pass}")
    passes = frames_p // rows_per_pass
    frame_tiles = frames_p // D_HEAD
    width = 3 * d_model  # row stride of the QKV buffer

    q_ty = tile(ROWS_PER_CORE, D_HEAD, BF16)
    kv_ty = tile(D_HEAD, D_HEAD, BF16)
    scores_ty = tile(ROWS_PER_CORE, frames_p, F32)
    acc_ty = tile(ROWS_PER_CORE, D_HEAD, F32)
    out_ty = tile(ROWS_PER_CORE, D_HEAD, BF16)
    scores_k = kernel("nw_attention_scores", q_ty, kv_ty, scores_ty, I32, I32)
    softmax_k = kernel("nw_attention_softmax", scores_ty, I32, I32, I32)
    context_k = kernel("nw_attention_context", scores_ty, kv_ty, acc_ty, I32, I32)
    zero_k = kernel("nw_zero_f32", acc_ty, I32)
    round_k = kernel("nw_round_bf16", acc_ty, out_ty, I32)

    column_rows = ROWS_PER_CORE * CORE_ROWS
    q_in, q_parts, c_out, c_parts = [], [], [], []
    for c in range(cols):
        f = ObjectFifo(tile(column_rows, D_HEAD, BF16), name=f"q_in{c}", depth=2)
        q_in.append(f)
        q_parts.append(f.cons().split(
            [r * ROWS_PER_CORE * D_HEAD for r in range(CORE_ROWS)],
            obj_types=[q_ty] * CORE_ROWS, names=[f"q{r}_{c}" for r in range(CORE_ROWS)],
            depths=[1] * CORE_ROWS, placement=memtile(c)))
        g = ObjectFifo(tile(column_rows, D_HEAD, BF16), name=f"ctx_out{c}", depth=2)
        c_out.append(g)
        c_parts.append(g.prod().join(
            [r * ROWS_PER_CORE * D_HEAD for r in range(CORE_ROWS)],
            obj_types=[out_ty] * CORE_ROWS, names=[f"ctx{r}_{c}" for r in range(CORE_ROWS)],
            depths=[1] * CORE_ROWS, placement=memtile(c)))
    q_prods = [f.prod(tile=shim(c)) for c, f in enumerate(q_in)]
    c_conses = [g.cons(tile=shim(c)) for c, g in enumerate(c_out)]
    kv_in = ObjectFifo(kv_ty, name="kv_in", depth=2)
    kv_all = kv_in.cons().forward(name="kv", placement=memtile(0))
    kv_prod = kv_in.prod(tile=shim(0))

    def core(q, kv, out, scores, acc, scores_k, softmax_k, context_k, zero_k, round_k, rtp,
             barrier):
        barrier.wait_for_value(1)
        # rtp: [passes x heads, frames, frames_p, frame tiles]
        for _ in range_(rtp[0]):
            tq = q.acquire(1)
            for kb in range_(rtp[3]):
                tk = kv.acquire(1)
                scores_k(tq, tk, scores, kb, rtp[2])
                kv.release(1)
            q.release(1)
            softmax_k(scores, ROWS_PER_CORE, rtp[1], rtp[2])
            zero_k(acc, ROWS_PER_CORE * D_HEAD)
            for vb in range_(rtp[3]):
                tv = kv.acquire(1)
                context_k(scores, tv, acc, vb, rtp[2])
                kv.release(1)
            to = out.acquire(1)
            round_k(acc, to, ROWS_PER_CORE * D_HEAD)
            out.release(1)

    rtps, barriers, workers = [], [], []
    for r in range(CORE_ROWS):
        for c in range(cols):
            rtp, barrier = core_controls(f"{r}_{c}", 4)
            workers.append(Worker(core, [
                q_parts[c][r].cons(), kv_all.cons(), c_parts[c][r].prod(),
                Buffer(scores_ty, name=f"scores{r}_{c}"), Buffer(acc_ty, name=f"acc{r}_{c}"),
                scores_k, softmax_k, context_k, zero_k, round_k, rtp, barrier,
            ], placement=Tile(c, 2 + r)))
            rtps.append(rtp)
            barriers.append(barrier)

    def sequence(QKV, CTX, q_prods, kv_prod, c_conses, rtps, barriers):
        for rtp in rtps:
            rtp[0] = passes * heads
            rtp[1] = frames
            rtp[2] = frames_p
            rtp[3] = frame_tiles
        for barrier in barriers:
            barrier.set(1)
        for h in range(heads):
            tg = TaskGroup()
            for c, q_prod in enumerate(q_prods):
                # This column's 16 query rows of every pass.
                q_prod.fill(QKV, tap=TensorAccessPattern(
                    (frames_p, width), c * column_rows * width + h * D_HEAD,
                    [1, passes, column_rows, D_HEAD], [0, rows_per_pass * width, width, 1]),
                    group=tg)
            # Per pass, K and then V of head h, every frame: the order the cores consume them.
            # (Two transfers, all K then all V, fed pass 1's K tiles to cores that wanted pass
            # 0's V tiles whenever a head took more than one pass: the dataflow emulator's
            # first run found it.)
            kv_prod.fill(QKV, tap=TensorAccessPattern(
                (frames_p, width), d_model + h * D_HEAD,
                [passes, 2, frames_p, D_HEAD], [0, d_model, width, 1]), group=tg)
            for c, c_cons in enumerate(c_conses):
                c_cons.drain(CTX, tap=TensorAccessPattern(
                    (frames_p, d_model), c * column_rows * d_model + h * D_HEAD,
                    [1, passes, column_rows, D_HEAD], [0, rows_per_pass * d_model, d_model, 1]),
                    wait=True, group=tg)
            tg.finish()

    rt = Runtime(sequence, [
        tensor(frames_p * width, BF16), tensor(frames_p * d_model, BF16), q_prods, kv_prod,
        c_conses, rtps, barriers,
    ])
    return Program(dev, rt, workers=workers).resolve_program(SequentialPlacer())


def main():
    p = argparse.ArgumentParser(description="npu-whisper attention (emits MLIR)")
    p.add_argument("--generation", choices=["npu1", "npu2"], required=True)
    p.add_argument("--heads", type=int, required=True)
    p.add_argument("--frames", type=int, required=True)
    p.add_argument("--frames-p", type=int, required=True)
    p.add_argument("--d-model", type=int, required=True)
    a = p.parse_args()
    print(design(a.generation, a.heads, a.frames, a.frames_p, a.d_model))


if __name__ == "__main__":
    main()
