"""The kernels of xclbin/kernels/nw_kernels.cc, compiled for this machine
(scripts/test-kernels-native builds target/native/libnw_kernels.so), as IRON `Kernel`s that a
core body calls: arrays are passed by address, integers as int32, and every array argument is
checked against the kernel's declared argument type, so a core that hands a kernel the wrong
buffer fails here instead of computing on it."""
import ctypes
import threading

import numpy as np

_LIBRARY = None
_LOCK = threading.Lock()
# Native calls made, for the driver's report (a core per thread: counted under the lock).
CALLS = {"count": 0}


def load(path):
    global _LIBRARY
    _LIBRARY = ctypes.CDLL(str(path))


def element_bytes(obj_type):
    """Bytes of one `np.ndarray[(shape), np.dtype[T]]` type, and its shape and dtype."""
    shape = obj_type.__args__[0]
    dtype = np.dtype(obj_type.__args__[1].__args__[0])
    return int(np.prod(shape)) * dtype.itemsize, shape, dtype


class KernelArgumentError(Exception):
    pass


class NativeKernel:
    """IRON's `Kernel(name, bin_name, arg_types)`, callable from a core body."""

    def __init__(self, name, bin_name, arg_types=None):
        self.name = name
        self.bin_name = bin_name
        self.arg_types = list(arg_types or [])
        self._function = None

    def _resolve(self):
        if _LIBRARY is None:
            raise KernelArgumentError("no native kernel library loaded (emulator.kernels.load)")
        function = getattr(_LIBRARY, self.name)
        function.restype = None
        # Declared bytes of each buffer argument (None: an int32 scalar), computed once.
        self._sizes = [element_bytes(t)[0] if getattr(t, "__origin__", None) is np.ndarray
                       else None for t in self.arg_types]
        function.argtypes = [ctypes.c_int32 if size is None else ctypes.c_void_p
                             for size in self._sizes]
        self._function = function

    def __call__(self, *args):
        if self._function is None:
            self._resolve()
        if len(args) != len(self._sizes):
            raise KernelArgumentError(
                f"{self.name}: {len(args)} arguments, declared {len(self._sizes)}")
        native = []
        for i, (arg, want) in enumerate(zip(args, self._sizes)):
            if want is None:
                native.append(int(arg))
                continue
            if not isinstance(arg, np.ndarray):
                raise KernelArgumentError(f"{self.name}: argument {i} is {type(arg).__name__}, "
                                          f"declared a buffer of {want} bytes")
            if arg.nbytes != want:
                raise KernelArgumentError(f"{self.name}: argument {i} holds {arg.nbytes} "
                                          f"bytes, declared {want}")
            native.append(arg.ctypes.data)
        self._function(*native)
        with _LOCK:
            CALLS["count"] += 1
