#!/usr/bin/env python3
"""Static resource check of every design (scripts/check-designs).

For the AIE2 4-column array (NPU1) and the AIE2P 8-column array (NPU4-6), every design, every
shape of shapes.py and every model size of the catalogue: run the design against a recording
stand-in of the pinned IRON API (checker/standin.py) and hold what it asks for - per-core data
memory with stack and every buffer of every FIFO depth, memtile memory, DMA channels per tile
type, buffer descriptors, locks, shim channels and queued tasks - to the array's budgets
(checker/budgets.py, each number cited from AMD's documentation). Exit 0 when every budget
holds; 1 naming the design, shape and budget otherwise.

    python3 check.py [--core-memory-kib N] [--gemm-tile N] [--sizes tiny base ...] [--json]
"""
import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from checker import budgets, standin  # noqa: E402

standin.install()

import common  # noqa: E402
import iron_api  # noqa: E402
import shapes  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--core-memory-kib", type=int,
                   help="per-core data memory budget (default: the array's 64 KiB)")
    p.add_argument("--gemm-tile", type=int,
                   help="a GEMM tile edge other than constants.json's (a variant to check)")
    p.add_argument("--sizes", nargs="+", default=sorted(shapes.SIZES),
                   choices=sorted(shapes.SIZES))
    p.add_argument("--json", action="store_true", help="the budget table as JSON")
    a = p.parse_args()
    iron_api.self_test()
    if a.gemm_tile:
        common.TILE_M = common.TILE_K = common.TILE_N = a.gemm_tile
    core_memory = a.core_memory_kib * 1024 if a.core_memory_kib else None
    calls = shapes.distinct([c for s in a.sizes for c in shapes.window_calls(*shapes.SIZES[s])
                              + shapes.standalone_calls(*shapes.SIZES[s])])
    # (generation, kernel) -> budget -> (worst use, limit, shape)
    table = defaultdict(dict)
    failures = []
    for generation, array in budgets.ARRAYS.items():
        for call in calls:
            where = f"{generation} {call['kernel']}/{call['key']}"
            try:
                recorded = common.program_for(call, generation)
            except SystemExit as e:
                failures.append(f"{where}: the design refuses the shape: {e}")
                continue
            rows, violations = budgets.check(recorded, standin, array, core_memory)
            for tile, kind, name, used, limit in rows:
                key = f"{kind} {name}"
                worst = table[(generation, call["kernel"])].get(key)
                if worst is None or used > worst[0]:
                    table[(generation, call["kernel"])][key] = (used, limit, call["key"])
            worst = {}
            for tile, budget, used, limit in violations:
                n, top, _ = worst.get(budget, (0, 0, limit))
                worst[budget] = (n + 1, max(top, used), limit)
            for budget, (n, used, limit) in sorted(worst.items()):
                failures.append(f"{where}: {budget} {used} > {limit} ({n} tile(s))")
    if a.json:
        print(json.dumps({f"{g} {k}": v for (g, k), v in table.items()}, indent=1))
    else:
        for (generation, kernel), budgets_used in sorted(table.items()):
            print(f"{generation} {kernel}")
            for key, (used, limit, shape) in sorted(budgets_used.items()):
                mark = "OVER" if used > limit else "ok"
                print(f"  {key:<38} {used:>8} / {limit:<8} {mark:<4} (worst: {shape})")
    if failures:
        for f in failures:
            print(f"check-designs: {f}", file=sys.stderr)
        print(f"check-designs: {len(failures)} budget(s) exceeded", file=sys.stderr)
        sys.exit(1)
    print(f"check-designs: every budget holds ({len(calls)} shapes x {len(budgets.ARRAYS)} arrays)",
          file=sys.stderr)


if __name__ == "__main__":
    main()
