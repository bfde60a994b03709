#!/usr/bin/env python3
"""Run the IRON designs at dataflow level on this machine (issue 29, item 3).

Every design of gemm.py, attention.py and rows.py is built - regenerated for every call, never
cached - against emulator/iron.py, an executing stand-in of the IRON API (object FIFOs as
bounded queues, workers as threads, memtile links, the runtime sequence's transfers through
their access patterns) and run with the kernels of nw_kernels.cc compiled for this machine
(target/native/libnw_kernels.so, built by scripts/test-kernels-native).

    python3 emulate.py --serve --generation npu1 --library target/native/libnw_kernels.so

`--serve` answers calls on stdin/stdout for `npu-whisper validate-kernels --emulate` and the
window check of scripts/emulate-npu (src/npu/emulated.rs is the other side). A request is one
JSON line - {"call": {"kernel": ..., shape fields as shapes.py names them}, "buffers":
[bytes, ...], "outputs": [indices of the buffers the call writes]} - followed by the buffers'
bytes; the answer one JSON line - {"ok": true, "seconds", "kernel_calls", "threads"} followed
by the output buffers after the run, or {"ok": false, "error", "deadlock"} - and the server goes
on with the next call.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from emulator import iron, kernels  # noqa: E402

iron.install()

import common  # noqa: E402


def run_call(call, generation, buffers):
    """Build the design of `call` for `generation` and run it on `buffers` (bytes objects, the
    call's buffers in argument order). Returns (figures, the buffers after the run)."""
    iron._LINKS.clear()  # links a design left behind when its build failed
    program = common.program_for(call, generation)
    types_ = program.host_types()
    if len(types_) != len(buffers):
        raise iron.EmulationError(f"{call['kernel']}: the design takes {len(types_)} buffers, "
                                  f"the call has {len(buffers)}")
    arrays = []
    for ty, data in zip(types_, buffers):
        _, _, dtype = kernels.element_bytes(ty)
        if len(data) % dtype.itemsize:
            raise iron.EmulationError(f"{call['kernel']}: {len(data)} bytes are not whole "
                                      f"{dtype} elements")
        arrays.append(np.frombuffer(data, dtype=dtype).copy())
    figures = program.run(arrays)
    return figures, [a.tobytes() for a in arrays]


def serve(generation):
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        line = stdin.readline()
        if not line:
            return
        request = json.loads(line)
        buffers = [stdin.read(n) for n in request["buffers"]]
        try:
            figures, out = run_call(request["call"], generation, buffers)
        except (iron.EmulationError, kernels.KernelArgumentError, SystemExit) as e:
            answer = {"ok": False, "error": str(e), "deadlock": isinstance(e, iron.Deadlock)}
        except Exception as e:  # noqa: BLE001 - a broken design must not end the server
            answer = {"ok": False, "error": f"{type(e).__name__}: {e}", "deadlock": False}
        else:
            answer = None
        if answer is not None:
            stdout.write((json.dumps(answer) + "\n").encode())
            stdout.flush()
            continue
        stdout.write((json.dumps({"ok": True, **figures}) + "\n").encode())
        for i in request["outputs"]:
            stdout.write(out[i])
        stdout.flush()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--serve", action="store_true", help="answer calls on stdin/stdout")
    p.add_argument("--generation", choices=["npu1", "npu2"], required=True)
    p.add_argument("--library", required=True, help="the native kernels (libnw_kernels.so)")
    a = p.parse_args()
    kernels.load(a.library)
    if not a.serve:
        p.error("--serve")
    serve(a.generation)


if __name__ == "__main__":
    main()
