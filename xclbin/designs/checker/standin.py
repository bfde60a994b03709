"""A recording stand-in for the part of IRON (MLIR-AIE's Python API) the designs use.

`install()` puts modules named `aie.iron`, `aie.iron.device`, `aie.iron.controlflow`,
`aie.iron.placers` and `aie.helpers.taplib` into `sys.modules`, holding exactly the names of
xclbin/designs/README.md's definitions table with the signatures of the pinned release's form
(v1.4: `Runtime(seq_fn, fn_args)`, `Program(dev, rt, workers=...)`, `TaskGroup()`,
`handle.fill/drain(..., group=)`, `barrier.set`, `rtp[i] = v`). A design that uses a name or a
keyword outside that table fails here, before anyone's first build does.

Nothing is compiled: the objects record what a design asks for - object FIFOs and their depths,
element types, links through memtiles, where each worker sits and what it holds, which shim
carries each transfer - and `resolve_program` returns that record for checker/budgets.py.
"""
import sys
import types
from dataclasses import dataclass, field

import numpy as np


def nbytes(obj_type):
    """Bytes of one `np.ndarray[(shape), np.dtype[T]]` element type."""
    shape = obj_type.__args__[0]
    dtype = np.dtype(obj_type.__args__[1].__args__[0])
    return int(np.prod(shape)) * dtype.itemsize


# --- device ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tile:
    col: int
    row: int

    def __init__(self, col, row):
        object.__setattr__(self, "col", col)
        object.__setattr__(self, "row", row)


class Device:
    columns = 0
    generation = ""

    def __init__(self):
        pass


class NPU1Col4(Device):
    """AIE2 (XDNA1: Phoenix, Hawk Point), 4 columns."""

    columns = 4
    generation = "aie2"


class NPU2(Device):
    """AIE2P (XDNA2: Strix, Strix Halo, Krackan), 8 columns."""

    columns = 8
    generation = "aie2p"


# --- data movement --------------------------------------------------------------------------


class ObjectFifo:
    def __init__(self, obj_type, depth=2, name=None, dims_to_stream=None,
                 dims_from_stream_per_cons=None):
        self.obj_type = obj_type
        self.bytes = nbytes(obj_type)
        self.depth = depth
        self.name = name
        self.producer = None
        self.consumers = []
        # Set when this fifo is one side of a memtile link (split/join/forward).
        self.link = None

    def prod(self, depth=None, tile=None):
        if self.producer is None:
            self.producer = ObjectFifoHandle(self, True, depth or self.depth, tile)
        elif tile is not None:
            self.producer.shim = tile
        return self.producer

    def cons(self, depth=None, dims_from_stream=None, tile=None):
        handle = ObjectFifoHandle(self, False, depth or self.depth, tile)
        self.consumers.append(handle)
        return handle


@dataclass
class Link:
    """A memtile link: `inputs` joined or forwarded into `outputs`, or split."""

    kind: str
    inputs: list
    outputs: list
    placement: object = None


class ObjectFifoHandle:
    def __init__(self, fifo, is_prod, depth, tile=None):
        self.fifo = fifo
        self.is_prod = is_prod
        self.depth = depth
        self.shim = tile
        self.owner = None  # a Worker, a Link, or the runtime (shim)

    def acquire(self, num):
        return None

    def release(self, num):
        return None

    def _link(self, kind, offsets, obj_types, names, depths, placement):
        children = []
        for i, (ty, name) in enumerate(zip(obj_types, names)):
            child = ObjectFifo(ty, depth=(depths or [self.fifo.depth] * len(names))[i], name=name)
            children.append(child)
        if kind == "split":
            link = Link(kind, [self.fifo], children, placement)
            for c in children:
                c.prod().owner = link
        else:
            link = Link(kind, children, [self.fifo], placement)
            for c in children:
                c.cons().owner = link
        self.owner = link
        self.fifo.link = link
        for c in children:
            c.link = link
        return children

    def split(self, offsets, obj_types=None, names=None, depths=None, placement=None):
        assert not self.is_prod, "split is a consumer-side link"
        return self._link("split", offsets, obj_types, names, depths, placement)

    def join(self, offsets, obj_types=None, names=None, depths=None, placement=None):
        assert self.is_prod, "join is a producer-side link"
        return self._link("join", offsets, obj_types, names, depths, placement)

    def forward(self, placement=None, obj_type=None, depth=None, name=None):
        assert not self.is_prod, "forward is a consumer-side link"
        child = ObjectFifo(obj_type or self.fifo.obj_type, depth or self.fifo.depth, name)
        link = Link("forward", [self.fifo], [child], placement)
        self.owner = link
        child.prod().owner = link
        self.fifo.link = child.link = link
        return child

    def fill(self, source, tap=None, group=None, wait=False):
        _sequence().transfer(self, "fill", source, tap, group, wait)

    def drain(self, dest, tap=None, group=None, wait=False):
        _sequence().transfer(self, "drain", dest, tap, group, wait)


class Buffer:
    def __init__(self, obj_type=None, initial_value=None, name=None, use_write_rtp=False):
        self.bytes = nbytes(obj_type)
        self.name = name
        self.rtp = use_write_rtp
        self.writes = {}

    def __setitem__(self, index, value):
        _sequence()  # only inside the runtime sequence
        self.writes[index] = value


class Kernel:
    def __init__(self, name, bin_name, arg_types=None):
        self.name = name
        self.bin_name = bin_name
        self.arg_types = list(arg_types or [])


class WorkerRuntimeBarrier:
    def __init__(self, initial_value=0):
        self.value = initial_value

    def wait_for_value(self, value):
        return None

    def set(self, value):
        _sequence()
        self.value = value


class Worker:
    def __init__(self, core_fn, fn_args=None, placement=None, while_true=True, stack_size=None):
        self.core_fn = core_fn
        self.fn_args = list(fn_args or [])
        self.tile = placement
        # MLIR-AIE's default core stack (aie.core stack_size) is 1 KiB; see budgets.py.
        self.stack_size = stack_size
        for arg in self.fn_args:
            if isinstance(arg, ObjectFifoHandle):
                arg.owner = self


# --- runtime ----------------------------------------------------------------------------------


class RuntimeData:
    def __init__(self, arr_type):
        self.arr_type = arr_type
        self.bytes = nbytes(arr_type)


@dataclass
class Transfer:
    handle: ObjectFifoHandle
    verb: str
    data: RuntimeData
    tap: object
    group: object
    wait: bool


class _Sequence:
    def __init__(self):
        self.transfers = []
        self.groups = []

    def transfer(self, handle, verb, data, tap, group, wait):
        if verb == "fill" and not handle.is_prod:
            raise TypeError(f"fill on the consumer of {handle.fifo.name}")
        if verb == "drain" and handle.is_prod:
            raise TypeError(f"drain on the producer of {handle.fifo.name}")
        if handle.shim is None:
            raise TypeError(f"{handle.fifo.name}: the runtime side has no shim tile "
                            "(prod(tile=...) / cons(tile=...))")
        handle.owner = "runtime"
        self.transfers.append(Transfer(handle, verb, data, tap, group, wait))


_ACTIVE = []


def _sequence():
    if not _ACTIVE:
        raise RuntimeError("data movement outside the runtime sequence body")
    return _ACTIVE[-1]


class TaskGroup:
    def __init__(self):
        self.finished = False
        _sequence().groups.append(self)

    def finish(self):
        self.finished = True


class Runtime:
    def __init__(self, seq_fn, fn_args=None, *, strict_task_groups=True):
        self.seq_fn = seq_fn
        self.fn_args = list(fn_args or [])


class Program:
    def __init__(self, device, rt, workers=None):
        self.device = device
        self.rt = rt
        self.workers = list(workers or [])

    def resolve_program(self, placer=None):
        seq = _Sequence()
        args = [RuntimeData(a) if getattr(a, "__origin__", None) is np.ndarray else a
                for a in self.rt.fn_args]
        _ACTIVE.append(seq)
        try:
            self.rt.seq_fn(*args)
        finally:
            _ACTIVE.pop()
        open_groups = [g for g in seq.groups if not g.finished]
        if open_groups:
            raise RuntimeError(f"{len(open_groups)} task group(s) never finished")
        return Recorded(self.device, self.workers, seq)


@dataclass
class Recorded:
    device: Device
    workers: list
    sequence: _Sequence
    notes: list = field(default_factory=list)


class SequentialPlacer:
    pass


def range_(*args):
    """Loops in core bodies are not executed by the checker (the body is not traced)."""
    return range(0)


class TensorAccessPattern:
    def __init__(self, tensor_dims, offset, sizes, strides):
        self.tensor_dims = tensor_dims
        self.offset = offset
        self.sizes = list(sizes)
        self.strides = list(strides)

    def elements(self):
        return int(np.prod(self.sizes))


# --- installation -----------------------------------------------------------------------------

# module -> names it exports (the definitions table, xclbin/designs/README.md)
EXPORTS = {
    "aie.iron": ["Buffer", "Kernel", "ObjectFifo", "Program", "Runtime", "TaskGroup", "Worker",
                 "WorkerRuntimeBarrier"],
    "aie.iron.device": ["NPU1Col4", "NPU2", "Tile"],
    "aie.iron.controlflow": ["range_"],
    "aie.iron.placers": ["SequentialPlacer"],
    "aie.helpers.taplib": ["TensorAccessPattern"],
}


def install(source=None):
    """Put IRON's module names into `sys.modules`, each holding the `EXPORTS` names taken from
    `source` (a module; this recording stand-in by default, the executing one for the emulator)."""
    source = source or sys.modules[__name__]
    for parent in ("aie", "aie.helpers"):
        sys.modules[parent] = types.ModuleType(parent)
    for module, names in EXPORTS.items():
        m = types.ModuleType(module)
        for name in names:
            setattr(m, name, getattr(source, name))
        sys.modules[module] = m
    sys.modules["aie"].iron = sys.modules["aie.iron"]
    sys.modules["aie"].helpers = sys.modules["aie.helpers"]
    sys.modules["aie.helpers"].taplib = sys.modules["aie.helpers.taplib"]
