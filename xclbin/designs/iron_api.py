#!/usr/bin/env python3
"""Every IRON name the designs use, the keywords they pass, and where the name is defined.

    python3 iron_api.py --check [--json FILE]   # in the build venv (scripts/build-xclbin does)

`--check` imports each name from the installed mlir_aie wheel, checks that every keyword the
designs pass is a parameter of it, prints `name  file:line` from the installed sources and exits
1 naming every mismatch - the first step of scripts/build-xclbin, before anything compiles, so a
wheel whose API differs from the one the designs were written for fails in one readable list.
`--json FILE` records what was found (scripts/npu-validate puts it in the bring-up report).

`TABLE` is also what checker/standin.py exports (checked by `--self-test`, stand-in only) and
what README.md's definitions table lists.
"""
import argparse
import importlib
import inspect
import json
import sys

# (module, attribute path, keywords the designs pass, what the designs rely on)
TABLE = [
    ("aie.iron", "Runtime", ["seq_fn", "fn_args"],
     "Runtime(seq_fn, fn_args): the sequence body runs once with fn_args (types become buffers)"),
    ("aie.iron", "Program", ["device", "rt", "workers"],
     "Program(dev, rt, workers=[...]): workers start with the program"),
    ("aie.iron", "Program.resolve_program", ["placer"], "emits the MLIR module"),
    ("aie.iron", "TaskGroup", [], "TaskGroup() inside the sequence body"),
    ("aie.iron", "TaskGroup.finish", [], "awaits the group's waited transfers, frees the rest"),
    ("aie.iron", "ObjectFifo", ["obj_type", "depth", "name"], "a FIFO of typed elements"),
    ("aie.iron", "ObjectFifo.prod", ["depth", "tile"], "producer handle; tile= binds a shim"),
    ("aie.iron", "ObjectFifo.cons", ["depth", "tile"], "consumer handle; tile= binds a shim"),
    ("aie.iron.dataflow", "ObjectFifoHandle.split",
     ["offsets", "obj_types", "names", "depths", "placement"], "memtile distribute"),
    ("aie.iron.dataflow", "ObjectFifoHandle.join",
     ["offsets", "obj_types", "names", "depths", "placement"], "memtile join"),
    ("aie.iron.dataflow", "ObjectFifoHandle.forward", ["placement", "name"], "memtile forward"),
    ("aie.iron.dataflow", "ObjectFifoHandle.fill", ["tap", "group", "wait"],
     "a shim transfer into the FIFO, in the sequence body"),
    ("aie.iron.dataflow", "ObjectFifoHandle.drain", ["tap", "group", "wait"],
     "a shim transfer out of the FIFO, in the sequence body"),
    ("aie.iron.dataflow", "ObjectFifoHandle.acquire", [], "in core bodies"),
    ("aie.iron.dataflow", "ObjectFifoHandle.release", [], "in core bodies"),
    ("aie.iron", "Worker", ["core_fn", "fn_args", "placement"], "a core program on a tile"),
    ("aie.iron", "WorkerRuntimeBarrier", [], "released by the sequence"),
    ("aie.iron", "WorkerRuntimeBarrier.wait_for_value", ["value"], "in core bodies"),
    ("aie.iron", "WorkerRuntimeBarrier.set", ["value"], "in the sequence body"),
    ("aie.iron", "Buffer", ["initial_value", "name", "use_write_rtp"],
     "core-local buffers; use_write_rtp: runtime parameters written by `rtp[i] = v`"),
    ("aie.iron", "Kernel", [], "Kernel(name, object file, argument types)"),
    ("aie.iron.device", "NPU1Col4", [], "the 4-column AIE2 array (NPU1)"),
    ("aie.iron.device", "NPU2", [], "the 8-column AIE2P array (NPU4-6)"),
    ("aie.iron.device", "Tile", [], "Tile(col, row)"),
    ("aie.iron.controlflow", "range_", [], "loops in core bodies"),
    ("aie.iron.placers", "SequentialPlacer", [], "places what the designs leave open"),
    ("aie.helpers.taplib", "TensorAccessPattern", [],
     "TensorAccessPattern(tensor_dims, offset, sizes, strides)"),
]


def resolve(module, path):
    obj = importlib.import_module(module)
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def parameters(obj):
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return None
    if any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
        return None  # takes any keyword
    return set(sig.parameters)


def where(obj):
    try:
        target = inspect.unwrap(obj)
        file = inspect.getsourcefile(target)
        line = inspect.getsourcelines(target)[1]
        return f"{file}:{line}"
    except (TypeError, OSError):
        return "(no Python source)"


def check():
    found, problems = [], []
    for module, path, keywords, _ in TABLE:
        name = f"{module}.{path}"
        try:
            obj = resolve(module, path)
        except (ImportError, AttributeError) as e:
            problems.append(f"{name}: not in this mlir_aie ({e})")
            found.append({"name": name, "defined": None})
            continue
        params = parameters(obj)
        missing = [k for k in keywords if params is not None and k not in params]
        if missing:
            problems.append(f"{name}: no parameter {', '.join(missing)} (has {sorted(params)})")
        found.append({"name": name, "defined": where(obj), "missing_parameters": missing})
    return found, problems


def self_test():
    """The stand-in exports exactly the table's importable names."""
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from checker import standin

    table = {(m, p) for m, p, _, _ in TABLE if "." not in p and m != "aie.iron.dataflow"}
    exported = {(m, n) for m, names in standin.EXPORTS.items() for n in names}
    if table != exported:
        sys.exit(f"iron_api: the stand-in and the table differ: {sorted(table ^ exported)}")
    print(f"iron_api: the stand-in exports the table's {len(table)} names", file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true")
    p.add_argument("--self-test", action="store_true")
    p.add_argument("--json", help="write what --check found here")
    a = p.parse_args()
    if a.self_test:
        self_test()
        return
    if not a.check:
        p.error("--check or --self-test")
    found, problems = check()
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"names": found, "problems": problems}, f, indent=1)
    for entry in found:
        print(f"  {entry['name']:<48} {entry['defined']}")
    if problems:
        for problem in problems:
            print(f"iron_api: {problem}", file=sys.stderr)
        sys.exit(f"iron_api: {len(problems)} name(s) differ from what the designs were written for")
    print(f"iron_api: all {len(found)} names the designs use are present")


if __name__ == "__main__":
    main()
