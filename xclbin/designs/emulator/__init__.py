"""The IRON designs executed: an emulator of the part of IRON they use (emulator/iron.py), the
native kernels it dispatches to (emulator/kernels.py) and the driver (xclbin/designs/emulate.py,
scripts/emulate-npu)."""
