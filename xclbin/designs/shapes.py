#!/usr/bin/env python3
"""The kernel calls of one Whisper encoder window with every op on the NPU, and their shapes.

A kernel's core programs are shape-independent (they read their loop counts from runtime
parameters), but its runtime sequence - the instruction stream the host passes as argument 1 -
is specific to a shape. scripts/build-xclbin writes one stream per (kernel, shape) listed here,
as xclbin/build/<kernel>/<key>.insts; the host asks for exactly those names
(`Call::instructions_file` in src/npu/calls.rs; a Rust test compares the two lists).

Pure Python (no MLIR-AIE needed):

    python3 xclbin/designs/shapes.py --size base        # one line per distinct call
    python3 xclbin/designs/shapes.py --size base --json
"""
import argparse
import json
from pathlib import Path

CONSTANTS = json.loads((Path(__file__).resolve().parents[1] / "constants.json").read_text())
GEMM = CONSTANTS["gemm"]

# Whisper's encoder input: 3000 mel frames, 1500 after the stride-2 conv.
WINDOW_FRAMES = 3000
ENCODER_FRAMES = 1500
ATTENTION_BLOCK = CONSTANTS["attention"]["block_rows"]

# (mel bins, d_model, heads, ffn) of every model in the catalogue the binary uses
# (assets/models.json: tiny ... large-v3-turbo, the distil-whisper models); layers and the
# decoder do not change the encoder's shapes.
CATALOGUE = json.loads((Path(__file__).resolve().parents[2] / "assets" / "models.json").read_text())
SIZES = {
    name: (d["mels"], d["d_model"], d["heads"], 4 * d["d_model"])
    for name, entry in CATALOGUE["models"].items()
    if (d := entry.get("dims"))
}
for alias, name in CATALOGUE["aliases"].items():
    SIZES[alias] = SIZES[name]


def pad_to(x, align):
    return (x + align - 1) // align * align


def gemm(kernel, m, k, n):
    mp, kp, np_ = pad_to(m, GEMM["m_align"]), pad_to(k, GEMM["tile_k"]), pad_to(n, GEMM["n_align"])
    return {"kernel": kernel, "key": f"m{mp}_k{kp}_n{np_}", "m": mp, "k": kp, "n": np_}


def rows(kernel, r, c):
    return {"kernel": kernel, "key": f"r{r}_c{c}", "rows": r, "cols": c}


def elements(kernel, n):
    return {"kernel": kernel, "key": f"n{n}", "len": n}


def attention(heads, frames, d_model):
    fp = pad_to(frames, ATTENTION_BLOCK)
    return {
        "kernel": "attention",
        "key": f"h{heads}_f{frames}_fp{fp}_d{d_model}",
        "heads": heads,
        "frames": frames,
        "frames_p": fp,
        "d_model": d_model,
    }


def window_calls(mels, d, heads, ffn):
    """The calls of one window, in order, for one layer (every layer has the same)."""
    t = ENCODER_FRAMES
    return [
        gemm("gemm_bias_gelu", WINDOW_FRAMES, 3 * mels, d),  # conv1 + GELU
        gemm("gemm_bias_gelu_f32", t, 3 * d, d),  # conv2 + GELU: the residual stream
        elements("add", t * d),  # positional embedding
        rows("layernorm", t, d),  # attn_ln
        gemm("gemm_bias", t, d, 3 * d),  # fused QKV
        attention(heads, t, d),
        gemm("gemm_bias_f32", t, d, d),  # out_proj
        elements("add", t * d),  # attention residual
        rows("layernorm", t, d),  # mlp_ln
        gemm("gemm_bias_gelu", t, d, ffn),  # fc1 + GELU
        gemm("gemm_bias_f32", t, ffn, d),  # fc2
        elements("add", t * d),  # MLP residual
        rows("layernorm_f32", t, d),  # ln_post
    ]


def standalone_calls(mels, d, heads, ffn):
    """Kernels the window runs only when a fused pair is split (`--cpu-ops` moves the GEMM of a
    GEMM+GELU pair to the CPU, and its GELU runs alone): built and checked too."""
    return [
        elements("gelu", WINDOW_FRAMES * d),  # conv1's GELU
        elements("gelu", ENCODER_FRAMES * d),  # conv2's GELU
        elements("gelu", ENCODER_FRAMES * ffn),  # fc1's GELU
    ]


def distinct(calls):
    seen, out = set(), []
    for c in calls:
        name = f"{c['kernel']}/{c['key']}"
        if name not in seen:
            seen.add(name)
            out.append(c)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=sorted(SIZES))
    p.add_argument("--mels", type=int)
    p.add_argument("--d-model", type=int)
    p.add_argument("--heads", type=int)
    p.add_argument("--ffn", type=int)
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    if a.size:
        dims = SIZES[a.size]
    elif None not in (a.mels, a.d_model, a.heads, a.ffn):
        dims = (a.mels, a.d_model, a.heads, a.ffn)
    else:
        p.error("give --size, or all of --mels --d-model --heads --ffn")
    calls = distinct(window_calls(*dims))
    if a.json:
        print(json.dumps(calls))
    else:
        for c in calls:
            print(f"{c['kernel']}/{c['key']}.insts")


if __name__ == "__main__":
    main()
