"""Resource budgets of the AIE arrays our designs target, and what a recorded design uses.

Every number is AMD's, from its public documentation:
  [AM020] Versal Adaptive SoC AIE-ML Architecture Manual (AM020, rev 1.5, 2026-02-18) - AIE2,
          the array of XDNA1 NPUs (NPU1: Phoenix, Hawk Point).
  [AM027] Versal Adaptive SoC AIE-ML v2 Architecture Manual (AM027, rev 1.1, 2025-10-23) -
          AIE2P, the array of XDNA2 NPUs (NPU4/5/6: Strix, Strix Halo, Krackan).
  [UG1603] AI Engine-ML Kernel and Graph Programming Guide (UG1603, 2025.1), "AI Engine Data
          Memory" and "AIE-ML / AIE-ML v2 Memory Tile".
  [XD100] Vitis Tutorials: AI Engine Development (XD100, 2026.1), "Buffer Descriptors overview".

  compute tile data memory  64 KiB, AIE-ML and AIE-ML v2 alike             [UG1603]
  default core stack        1 KiB (placed in data memory)                  [UG1603]
  compute tile DMA          2 MM2S + 2 S2MM channels, 16 BDs               [XD100]
  compute tile locks        16 semaphore locks                             [AM020] (the memory
                            tile's "are identical to those in the AIE-ML tile", 64 of them)
  memory tile memory        512 KiB                                        [AM020] [AM027] [UG1603]
  memory tile DMA           6 MM2S + 6 S2MM channels, 48 BDs (24 + 24)     [UG1603] [XD100]
  memory tile locks         64 semaphore locks                             [AM020] [AM027]
  interface (shim) DMA      2 MM2S + 2 S2MM channels, 16 BDs, a task queue
                            of 4 tasks per channel                         [AM020] [XD100]
  interface locks           16 semaphore locks                             [AM020]

Array shapes: 4 columns on NPU1 and 8 on NPU4-6 (AMD's Ryzen AI NPU columns, as MLIR-AIE's
`NPU1Col4` and `NPU2` devices declare them); rows: 0 shim, 1 memory tile, 2-5 compute.

How a design's use is counted (MLIR-AIE's object FIFO lowering):
  * each endpoint of an object FIFO on a compute tile holds `depth` buffers of the element type
    there, one BD each, and a producer/consumer lock pair; a consumer takes an S2MM channel, a
    producer an MM2S channel (a broadcast is one channel on the producer side);
  * a memtile link (split, join, forward) holds the buffers of its wide side (`depth` x the
    whole element; the narrow FIFOs are views into them), one channel, `depth` BDs and a lock
    pair per FIFO on either side;
  * a worker's data memory also holds its local buffers, runtime parameters and its stack;
  * a shim takes one channel per FIFO it fills or drains and one BD per transfer until the
    transfer's task group finishes; more than 4 transfers queued on one channel in one group
    stall the runtime sequence, which deadlocks when a drain it has not issued yet is what
    would empty the array.
"""
from collections import defaultdict
from dataclasses import dataclass

KIB = 1024


@dataclass(frozen=True)
class Array:
    name: str
    generation: str
    columns: int
    core_memory: int = 64 * KIB
    stack: int = 1 * KIB
    core_channels: int = 2
    core_bds: int = 16
    core_locks: int = 16
    memtile_memory: int = 512 * KIB
    memtile_channels: int = 6
    memtile_bds: int = 48
    memtile_locks: int = 64
    shim_channels: int = 2
    shim_bds: int = 16
    shim_queue: int = 4
    shim_locks: int = 16


ARRAYS = {
    "npu1": Array("NPU1 (AIE2, 4 columns: Phoenix, Hawk Point)", "aie2", 4),
    "npu2": Array("NPU4-6 (AIE2P, 8 columns: Strix, Strix Halo, Krackan)", "aie2p", 8),
}


class Use:
    """What one tile uses."""

    def __init__(self):
        self.memory = 0
        self.mm2s = 0
        self.s2mm = 0
        self.bds = 0
        self.locks = 0


def tile_kind(tile):
    return {0: "shim", 1: "memtile"}.get(tile.row, "core")


def usage(recorded, standin, array):
    """Per-tile use of a recorded design: {(col, row): Use}, and the longest task queue of a
    shim channel within one task group, per shim."""
    tiles = defaultdict(Use)
    links = {}
    for w in recorded.workers:
        u = tiles[(w.tile.col, w.tile.row)]
        u.memory += w.stack_size or array.stack
        for arg in w.fn_args:
            if isinstance(arg, standin.ObjectFifoHandle):
                u.memory += arg.depth * arg.fifo.bytes
                u.bds += arg.depth
                u.locks += 2
                if arg.is_prod:
                    u.mm2s += 1
                else:
                    u.s2mm += 1
                if arg.fifo.link is not None:
                    links[id(arg.fifo.link)] = arg.fifo.link
            elif isinstance(arg, standin.Buffer):
                u.memory += arg.bytes
            elif isinstance(arg, standin.WorkerRuntimeBarrier):
                u.locks += 1
    for link in links.values():
        if link.placement is None:
            raise SystemExit(f"a {link.kind} link has no memtile placement")
        u = tiles[(link.placement.col, link.placement.row)]
        wide = max(link.inputs + link.outputs, key=lambda f: f.bytes)
        u.memory += wide.depth * wide.bytes
        for f in link.inputs:
            u.s2mm += 1
            u.bds += f.depth
            u.locks += 2
        for f in link.outputs:
            u.mm2s += 1
            u.bds += f.depth
            u.locks += 2
    channels = defaultdict(set)
    queue = defaultdict(int)
    in_flight = defaultdict(int)
    for t in recorded.sequence.transfers:
        shim = (t.handle.shim.col, t.handle.shim.row)
        channels[(shim, t.verb)].add(id(t.handle.fifo))
        queue[(shim, t.verb, id(t.handle.fifo), id(t.group))] += 1
        in_flight[(shim, id(t.group))] += 1
    for (shim, verb), fifos in channels.items():
        u = tiles[shim]
        if verb == "fill":
            u.mm2s = len(fifos)
        else:
            u.s2mm = len(fifos)
    for (shim, _group), n in in_flight.items():
        tiles[shim].bds = max(tiles[shim].bds, n)
    worst_queue = defaultdict(int)
    for (shim, _verb, _fifo, _group), n in queue.items():
        worst_queue[shim] = max(worst_queue[shim], n)
    return tiles, worst_queue


def check(recorded, standin, array, core_memory=None):
    """Every budget of `array` against the design: a list of (tile, budget, used, limit) rows,
    and a list of the violated ones."""
    tiles, queue = usage(recorded, standin, array)
    rows, violations = [], []
    core_memory = core_memory or array.core_memory
    for (col, row), u in sorted(tiles.items()):
        kind = tile_kind(standin.Tile(col, row))
        if col >= array.columns:
            violations.append(((col, row), "column", col, array.columns - 1))
            continue
        if kind == "core":
            limits = [("data memory (bytes)", u.memory, core_memory),
                      ("MM2S channels", u.mm2s, array.core_channels),
                      ("S2MM channels", u.s2mm, array.core_channels),
                      ("BDs", u.bds, array.core_bds), ("locks", u.locks, array.core_locks)]
        elif kind == "memtile":
            limits = [("memory (bytes)", u.memory, array.memtile_memory),
                      ("MM2S channels", u.mm2s, array.memtile_channels),
                      ("S2MM channels", u.s2mm, array.memtile_channels),
                      ("BDs", u.bds, array.memtile_bds), ("locks", u.locks, array.memtile_locks)]
        else:
            limits = [("MM2S channels", u.mm2s, array.shim_channels),
                      ("S2MM channels", u.s2mm, array.shim_channels),
                      ("BDs in flight", u.bds, array.shim_bds),
                      ("tasks queued per channel", queue[(col, row)], array.shim_queue)]
        for name, used, limit in limits:
            rows.append(((col, row), kind, name, used, limit))
            if used > limit:
                violations.append(((col, row), f"{kind} {name}", used, limit))
    return rows, violations
