"""An executing stand-in for the part of IRON (MLIR-AIE's Python API) the designs use: the
designs of xclbin/designs run on the host, at dataflow level, with the native kernels.

`install()` puts modules named like IRON's into `sys.modules` with exactly the names of the
designs' definitions table (xclbin/designs/README.md; checker/standin.py records the same names
for the resource check). Semantics, each as the designs rely on it (iron_api.py's TABLE):

* `ObjectFifo(obj_type, depth)`: `depth` buffers of one element type. The producer's
  `acquire(n)` waits for n free buffers, `release(n)` hands the oldest n to every consumer;
  each consumer (`cons()` called once per consumer: broadcast) `acquire(n)`s the next n in order
  and `release(n)`s them; a buffer is free again once every consumer released it. Acquiring more
  than `depth` at once can never succeed (a deadlock, reported).
* memtile links: `split` delivers slice i (element offset `offsets[i]`) of every parent object to
  child i, `join` assembles child i's objects at offset i of the parent's, `forward` passes
  objects on; every child moves on its own (a memtile DMA channel each), limited by the
  parent's buffers.
* `Worker(core_fn, fn_args, placement)`: a thread running `core_fn(*fn_args)` forever (IRON's
  `while_true` default). `range_` loops run for real; `Kernel`s call the native library.
* `WorkerRuntimeBarrier`: one lock per worker (IRON's worker.py makes one per worker it is
  passed to); `wait_for_value(v)` waits until the worker's lock holds v and takes it (an AIE2
  lock acquire), `set(v)` in the sequence sets every worker's lock: a core waits at the
  barrier again on its next iteration, until the next run.
* `Buffer(..., use_write_rtp=True)`: runtime parameters the sequence writes (`rtp[i] = v`) and
  cores read.
* The runtime sequence runs on the calling thread; `fill`/`drain` queue a transfer on the shim
  channel of their handle (one DMA per handle, its transfers in order), moving the host array's
  elements in the order of the `TensorAccessPattern` (offset + sum of index x stride over
  sizes, outermost first) in chunks of one FIFO element. `TaskGroup.finish()` waits for the
  group's `wait=True` transfers; every other transfer must have finished when the run ends.

A run fails with `Deadlock` when no thread has made progress for a bounded time and every
thread waits (the report names each waiter and what it waits for), and with `EmulationError` on
anything else the hardware would not do: a transfer outside its buffer, a kernel handed a buffer
of another size, data left in the array or a core not back at its barrier after the run.
"""
import sys
import threading
import time

import numpy as np

from . import kernels

STALL_SECONDS = 1.0  # no progress for this long, and every thread waits: a deadlock
POLL = 0.2


class EmulationError(Exception):
    pass


class Deadlock(EmulationError):
    pass


class _Aborted(BaseException):
    """Raised in emulator threads to end them when a run ends or fails."""


class Monitor:
    """One run's threads: who waits on what, a progress counter, the first failure."""

    def __init__(self):
        self.lock = threading.Lock()
        self.waiting = {}  # thread name -> (kind, description)
        self.threads = []
        self.progress = 0
        self._calls = None  # native kernel calls at the last progress check
        self.failure = None
        self.aborted = False

    def wait(self, cond, predicate, kind, what):
        """Wait on `cond` (held) until `predicate()`; registered as waiting meanwhile."""
        if self.aborted:
            raise _Aborted()
        if predicate():
            return
        name = threading.current_thread().name
        with self.lock:
            self.waiting[name] = (kind, what)
        try:
            while not predicate():
                if self.aborted:
                    raise _Aborted()
                cond.wait(POLL)
        finally:
            with self.lock:
                self.waiting.pop(name, None)

    def advance(self):
        self.progress += 1

    def fail(self, error):
        if self.failure is None:
            self.failure = error
        self.aborted = True

    def start(self, name, target):
        def body():
            try:
                target()
            except _Aborted:
                pass
            except BaseException as e:  # noqa: BLE001 - any failure ends the run with its message
                self.fail(e if isinstance(e, EmulationError) else
                          EmulationError(f"{name}: {type(e).__name__}: {e}"))

        t = threading.Thread(target=body, name=name, daemon=True)
        self.threads.append(t)
        t.start()

    def settled(self):
        """Whether every live thread waits (and on what)."""
        with self.lock:
            live = [t.name for t in self.threads if t.is_alive()]
            return all(n in self.waiting for n in live), {n: self.waiting.get(n) for n in live}

    def wait_until(self, predicate, what):
        """The sequence thread's wait: until `predicate()`, or a deadlock is declared."""
        last, since = self.progress, time.monotonic()
        while not predicate():
            if self.failure is not None:
                raise self.failure
            time.sleep(0.002)
            if self.progress != last or kernels.CALLS["count"] != self._calls:
                last, since = self.progress, time.monotonic()
                self._calls = kernels.CALLS["count"]
                continue
            if time.monotonic() - since > STALL_SECONDS:
                all_wait, states = self.settled()
                if all_wait:
                    raise Deadlock(deadlock_report(what() if callable(what) else what, states))

    def settle(self):
        """Wait until every thread waits and nothing moved for a moment; their states."""
        last, since = self.progress, time.monotonic()
        while True:
            if self.failure is not None:
                raise self.failure
            time.sleep(0.01)
            all_wait, states = self.settled()
            if self.progress != last or not all_wait:
                last, since = self.progress, time.monotonic()
            elif time.monotonic() - since > 0.1:
                return states


def deadlock_report(what, states):
    blocked = [f"{name} waits: {state[1]}" for name, state in sorted(states.items())
               if state and state[0] != "idle"]
    return (f"deadlock while the sequence waited for {what}: "
            + ("; ".join(blocked) if blocked else "every thread idle"))


_RUN = {"monitor": None}


def monitor():
    m = _RUN["monitor"]
    if m is None:
        raise EmulationError("data movement outside a run")
    return m


# --- device -----------------------------------------------------------------------------------


class Tile:
    def __init__(self, col, row):
        self.col, self.row = col, row

    def __repr__(self):
        return f"({self.col},{self.row})"


class Device:
    columns = 0


class NPU1Col4(Device):
    """AIE2 (XDNA1), 4 columns."""

    columns = 4


class NPU2(Device):
    """AIE2P (XDNA2), 8 columns."""

    columns = 8


# --- object FIFOs ---------------------------------------------------------------------------


class _Consumer:
    def __init__(self):
        self.released = 0
        self.held = 0


class ObjectFifo:
    def __init__(self, obj_type, depth=2, name=None, dims_to_stream=None,
                 dims_from_stream_per_cons=None):
        self.obj_type = obj_type
        self.bytes, self.shape, self.dtype = kernels.element_bytes(obj_type)
        self.elements = self.bytes // self.dtype.itemsize
        self.depth = depth
        self.name = name or f"fifo{id(self):x}"
        # Producers wait for room, consumers for data: two conditions on one lock, so a release
        # wakes only the side that can use it.
        self.cond = threading.Lock()
        self.room = threading.Condition(self.cond)
        self.data = threading.Condition(self.cond)
        self.slots = [np.zeros(self.shape, self.dtype) for _ in range(depth)]
        self.produced = 0
        self.prod_held = 0
        self.parts = {}
        self.consumers = []
        self.producer = None

    def prod(self, depth=None, tile=None):
        if self.producer is None:
            self.producer = ObjectFifoHandle(self, None, tile)
        elif tile is not None:
            self.producer.shim = tile
        return self.producer

    def cons(self, depth=None, dims_from_stream=None, tile=None):
        state = _Consumer()
        self.consumers.append(state)
        return ObjectFifoHandle(self, state, tile)

    def _lowest_released(self):
        if not self.consumers:
            raise EmulationError(f"{self.name}: written but no consumer")
        return min(c.released for c in self.consumers)

    def _state(self, consumer=None):
        base = f"{self.produced} produced, depth {self.depth}"
        if consumer is None:
            return f"{base}, the slowest consumer released {self._lowest_released()}"
        return f"{base}, this consumer released {consumer.released} and holds {consumer.held}"

    # producer side
    def produce(self, n):
        m = monitor()
        with self.cond:
            first = self.produced + self.prod_held
            m.wait(self.room, lambda: n <= self.depth
                   and self._lowest_released() >= first + n - self.depth,
                   "fifo", f"acquire {n} to produce into {self.name} ({self._state()})")
            self.prod_held += n
            m.advance()
            return [self.slots[(first + i) % self.depth] for i in range(n)]

    def publish(self, n):
        with self.cond:
            if n > self.prod_held:
                raise EmulationError(f"{self.name}: producer releases {n}, holds {self.prod_held}")
            self.prod_held -= n
            self.produced += n
            monitor().advance()
            self.data.notify_all()

    def write_part(self, k, offset, data, parts):
        """A join child writes its part of object k; the object is published when complete."""
        m = monitor()
        with self.cond:
            m.wait(self.room, lambda: self._lowest_released() >= k + 1 - self.depth,
                   "fifo", f"a free buffer for object {k} of {self.name} ({self._state()})")
            flat = self.slots[k % self.depth].reshape(-1)
            flat[offset:offset + data.size] = data.reshape(-1)
            self.parts[k] = self.parts.get(k, 0) + 1
            while self.parts.get(self.produced) == parts:
                del self.parts[self.produced]
                self.produced += 1
            m.advance()
            self.data.notify_all()
            self.room.notify_all()

    # consumer side
    def consume(self, consumer, n, kind="fifo"):
        """The next n objects for `consumer`. A memtile link waiting for its next input holds
        nothing: its wait is `idle`, not data left in the array."""
        m = monitor()
        with self.cond:
            m.wait(self.data, lambda: self.produced >= consumer.released + consumer.held + n
                   and n <= self.depth,
                   kind, f"acquire {n} from {self.name} ({self._state(consumer)})")
            first = consumer.released + consumer.held
            consumer.held += n
            m.advance()
            return [self.slots[(first + i) % self.depth] for i in range(n)]

    def free(self, consumer, n):
        with self.cond:
            if n > consumer.held:
                raise EmulationError(f"{self.name}: consumer releases {n}, holds {consumer.held}")
            consumer.held -= n
            consumer.released += n
            monitor().advance()
            self.room.notify_all()


class ObjectFifoHandle:
    def __init__(self, fifo, consumer, tile=None):
        self.fifo = fifo
        self.consumer = consumer  # None: the producer handle
        self.shim = tile
        self.dma = None

    def acquire(self, num):
        objects = (self.fifo.produce(num) if self.consumer is None
                   else self.fifo.consume(self.consumer, num))
        return objects[0] if num == 1 else objects

    def release(self, num):
        if self.consumer is None:
            self.fifo.publish(num)
        else:
            self.fifo.free(self.consumer, num)

    def _children(self, offsets, obj_types, names, depths):
        depths = depths or [self.fifo.depth] * len(obj_types)
        children = [ObjectFifo(t, depth=d, name=n) for t, d, n in zip(obj_types, depths, names)]
        for child, offset in zip(children, offsets):
            if child.dtype != self.fifo.dtype:
                raise EmulationError(f"{child.name}: {child.dtype} from {self.fifo.name}'s "
                                     f"{self.fifo.dtype}")
            if offset < 0 or offset + child.elements > self.fifo.elements:
                raise EmulationError(f"{child.name}: elements {offset}..{offset + child.elements}"
                                     f" outside {self.fifo.name}'s {self.fifo.elements}")
        return children

    def split(self, offsets, obj_types=None, names=None, depths=None, placement=None):
        if self.consumer is None:
            raise EmulationError("split is a consumer-side link")
        # This handle is the memtile's first reader; each further child reads as its own.
        children = self._children(offsets, obj_types, names, depths)
        readers = [self] + [self.fifo.cons() for _ in children[1:]]
        for child, offset, reader in zip(children, offsets, readers):
            _LINKS.append(("split", reader, child.prod(), offset, child))
        return children

    def join(self, offsets, obj_types=None, names=None, depths=None, placement=None):
        if self.consumer is not None:
            raise EmulationError("join is a producer-side link")
        children = self._children(offsets, obj_types, names, depths)
        for child, offset in zip(children, offsets):
            _LINKS.append(("join", child.cons(), self, offset, len(children)))
        return children

    def forward(self, placement=None, obj_type=None, depth=None, name=None):
        if self.consumer is None:
            raise EmulationError("forward is a consumer-side link")
        child = ObjectFifo(obj_type or self.fifo.obj_type, depth or self.fifo.depth, name)
        _LINKS.append(("split", self, child.prod(), 0, child))
        return child

    def fill(self, source, tap=None, group=None, wait=False):
        _transfer(self, "fill", source, tap, group, wait)

    def drain(self, dest, tap=None, group=None, wait=False):
        _transfer(self, "drain", dest, tap, group, wait)


# Memtile links declared while a design is built (consumed by Program).
_LINKS = []


def _link_thread(link):
    kind = link[0]
    if kind == "split":
        _, reader, writer, offset, child = link

        def run():
            while True:
                parent = reader.fifo.consume(reader.consumer, 1, "idle")[0].reshape(-1)
                out = writer.acquire(1)
                out.reshape(-1)[:] = parent[offset:offset + child.elements]
                writer.release(1)
                reader.release(1)

        return f"memtile {reader.fifo.name}->{child.name}", run
    _, reader, parent, offset, parts = link

    def run():
        k = 0
        while True:
            part = reader.fifo.consume(reader.consumer, 1, "idle")[0]
            parent.fifo.write_part(k, offset, part, parts)
            reader.release(1)
            k += 1

    return f"memtile {reader.fifo.name}->{parent.fifo.name}", run


# --- buffers, kernels, barriers, workers ------------------------------------------------------


class Buffer(np.ndarray):
    """A core-local buffer (or runtime parameters): a numpy array of the type's shape."""

    def __new__(cls, obj_type=None, initial_value=None, name=None, use_write_rtp=False):
        _, shape, dtype = kernels.element_bytes(obj_type)
        arr = np.zeros(shape, dtype).view(cls)
        if initial_value is not None:
            arr[...] = initial_value
        arr.buffer_name = name
        return arr


Kernel = kernels.NativeKernel


class WorkerRuntimeBarrier:
    def __init__(self, initial_value=0):
        self.initial_value = initial_value
        self.cond = threading.Condition()
        self.locks = {}  # worker thread name -> lock value

    def register(self, thread_name):
        self.locks[thread_name] = self.initial_value

    def wait_for_value(self, value):
        name = threading.current_thread().name
        with self.cond:
            monitor().wait(self.cond, lambda: self.locks[name] >= value, "idle",
                           f"barrier value {value}")
            self.locks[name] -= value
            monitor().advance()

    def set(self, value):
        with self.cond:
            for name in self.locks:
                self.locks[name] = value
            monitor().advance()
            self.cond.notify_all()


class Worker:
    def __init__(self, core_fn, fn_args=None, placement=None, while_true=True, stack_size=None):
        self.core_fn = core_fn
        self.fn_args = list(fn_args or [])
        self.tile = placement
        self.while_true = while_true

    @property
    def name(self):
        return f"core{self.tile!r}"


def range_(*args):
    return range(*(int(a) for a in args))


# --- runtime --------------------------------------------------------------------------------


class TensorAccessPattern:
    def __init__(self, tensor_dims, offset, sizes, strides):
        self.tensor_dims = tuple(tensor_dims)
        self.offset = int(offset)
        self.sizes = [int(s) for s in sizes]
        self.strides = [int(s) for s in strides]

    def indices(self):
        idx = np.array([self.offset], dtype=np.int64)
        for size, stride in zip(self.sizes, self.strides):
            idx = (idx[:, None] + np.arange(size, dtype=np.int64)[None, :] * stride).reshape(-1)
        return idx


class _Task:
    def __init__(self, handle, verb, data, tap, wait):
        self.handle, self.verb, self.data, self.tap, self.wait = handle, verb, data, tap, wait
        self.done = False
        self.moved = 0
        self.objects = 0

    def describe(self):
        return (f"{self.verb} {self.handle.fifo.name} ({self.moved} of {self.objects} objects "
                f"moved)")


class _Dma:
    """A shim DMA channel: its transfers, one after the other."""

    def __init__(self, handle):
        self.handle = handle
        self.cond = threading.Condition()
        self.queue = []

    def submit(self, task):
        with self.cond:
            self.queue.append(task)
            self.cond.notify_all()

    def run(self):
        m = monitor()
        while True:
            with self.cond:
                m.wait(self.cond, lambda: bool(self.queue), "idle", "a transfer")
                task = self.queue[0]
            _move(task)
            with self.cond:
                self.queue.pop(0)
                task.done = True
                m.advance()


def _move(task):
    fifo = task.handle.fifo
    host = task.data
    if task.tap is None:
        idx = np.arange(host.size, dtype=np.int64)
    else:
        idx = task.tap.indices()
    if idx.size and (idx.min() < 0 or idx.max() >= host.size):
        raise EmulationError(f"{task.verb} {fifo.name}: the access pattern reaches element "
                             f"{idx.max() if idx.max() >= host.size else idx.min()} of a "
                             f"{host.size}-element buffer")
    if host.dtype != fifo.dtype:
        raise EmulationError(f"{task.verb} {fifo.name}: a {host.dtype} buffer into "
                             f"{fifo.dtype} elements")
    if idx.size % fifo.elements:
        raise EmulationError(f"{task.verb} {fifo.name}: {idx.size} elements are not whole "
                             f"objects of {fifo.elements}")
    task.objects = idx.size // fifo.elements
    for j in range(task.objects):
        part = idx[j * fifo.elements:(j + 1) * fifo.elements]
        obj = task.handle.acquire(1)
        if task.verb == "fill":
            obj.reshape(-1)[:] = host[part]
        else:
            host[part] = obj.reshape(-1)
        task.handle.release(1)
        task.moved += 1


_SEQUENCE = {"tasks": None, "groups": None}


def _transfer(handle, verb, data, tap, group, wait):
    tasks = _SEQUENCE["tasks"]
    if tasks is None:
        raise EmulationError("data movement outside the runtime sequence body")
    if verb == "fill" and handle.consumer is not None:
        raise EmulationError(f"fill on the consumer of {handle.fifo.name}")
    if verb == "drain" and handle.consumer is None:
        raise EmulationError(f"drain on the producer of {handle.fifo.name}")
    if handle.shim is None:
        raise EmulationError(f"{handle.fifo.name}: the runtime side has no shim tile")
    if not isinstance(data, np.ndarray):
        raise EmulationError(f"{verb} {handle.fifo.name}: not a runtime buffer")
    task = _Task(handle, verb, data, tap, wait)
    tasks.append(task)
    if group is not None:
        group.tasks.append(task)
    if handle.dma is None:
        handle.dma = _Dma(handle)
        monitor().start(f"shim{handle.shim!r} {verb} {handle.fifo.name}", handle.dma.run)
    handle.dma.submit(task)


class TaskGroup:
    def __init__(self):
        self.tasks = []
        self.finished = False

    def finish(self):
        waited = [t for t in self.tasks if t.wait]
        monitor().wait_until(lambda: all(t.done for t in waited),
                             lambda: "its task group: " + ", ".join(t.describe() for t in waited))
        self.finished = True


class Runtime:
    def __init__(self, seq_fn, fn_args=None, *, strict_task_groups=True):
        self.seq_fn = seq_fn
        self.fn_args = list(fn_args or [])


class SequentialPlacer:
    pass


class Program:
    def __init__(self, device, rt, workers=None):
        self.device = device
        self.rt = rt
        self.workers = list(workers or [])
        self.links = list(_LINKS)
        _LINKS.clear()

    def resolve_program(self, placer=None):
        seen = {}
        for w in self.workers:
            t = w.tile
            if not (0 <= t.col < self.device.columns and 2 <= t.row <= 5):
                raise EmulationError(f"worker placed at {t!r}: not a core tile of a "
                                     f"{self.device.columns}-column array")
            if (t.col, t.row) in seen:
                raise EmulationError(f"two workers on core {t!r}")
            seen[(t.col, t.row)] = w
        return self

    def host_types(self):
        return [a for a in self.rt.fn_args if getattr(a, "__origin__", None) is np.ndarray]

    def run(self, host_arrays):
        """Run once on `host_arrays` (one numpy array per array argument of the runtime
        sequence, in order; written in place). Returns the run's figures."""
        types_ = self.host_types()
        if len(types_) != len(host_arrays):
            raise EmulationError(f"the sequence takes {len(types_)} buffers, got {len(host_arrays)}")
        for i, (ty, arr) in enumerate(zip(types_, host_arrays)):
            want, _, dtype = kernels.element_bytes(ty)
            if arr.nbytes != want or arr.dtype != dtype:
                raise EmulationError(f"buffer {i}: {arr.nbytes} bytes of {arr.dtype}, the "
                                     f"sequence declares {want} of {dtype}")
        m = Monitor()
        _RUN["monitor"] = m
        calls_before = kernels.CALLS["count"]
        started = time.monotonic()
        try:
            for w in self.workers:
                for arg in w.fn_args:
                    if isinstance(arg, WorkerRuntimeBarrier):
                        arg.register(w.name)

            for w in self.workers:
                def body(w=w):
                    while True:
                        w.core_fn(*w.fn_args)
                        if not w.while_true:
                            return
                m.start(w.name, body)
            for link in self.links:
                name, body = _link_thread(link)
                m.start(name, body)
            tasks = []
            _SEQUENCE["tasks"] = tasks
            args, arrays = [], iter(host_arrays)
            for a in self.rt.fn_args:
                args.append(next(arrays) if getattr(a, "__origin__", None) is np.ndarray else a)
            try:
                self.rt.seq_fn(*args)
            finally:
                _SEQUENCE["tasks"] = None
            m.wait_until(lambda: all(t.done for t in tasks),
                         lambda: "the end of the run: " + ", ".join(
                             t.describe() for t in tasks if not t.done))
            states = m.settle()
            stuck = [f"{name} waits: {state[1]}" for name, state in sorted(states.items())
                     if state[0] != "idle"]
            if stuck:
                raise EmulationError("after the run, data or a core is left in the array: "
                                     + "; ".join(stuck))
        finally:
            m.aborted = True
            for t in m.threads:
                t.join(timeout=2 * POLL + 1)
            _RUN["monitor"] = None
        return {"seconds": time.monotonic() - started,
                "kernel_calls": kernels.CALLS["count"] - calls_before,
                "threads": len(m.threads)}


# --- installation -----------------------------------------------------------------------------


def install():
    """IRON's modules, holding this module's names (the names of checker/standin.py's EXPORTS,
    the designs' definitions table)."""
    from checker import standin

    standin.install(sys.modules[__name__])
