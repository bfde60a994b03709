#!/usr/bin/env python3
"""Build every kernel into xclbin/build/: whisper_bf16.xclbin and <kernel>/<shape>.insts.

Run by scripts/build-xclbin inside its MLIR-AIE virtual environment, after nw_kernels.o is
compiled into the build directory. For each kernel of xclbin/manifest.json and each shape the
requested model sizes use (shapes.py):
  1. the design emits MLIR for that shape;
  2. aiecc.py compiles it: the core programs and the instruction stream of that shape;
  3. the core ELFs must be byte-identical across the kernel's shapes (the core programs read
     every shape-dependent count from runtime parameters); if they are not, the build stops,
     because one xclbin could then not serve every shape;
  4. the first shape's build adds the kernel to whisper_bf16.xclbin (aiecc --xclbin-input
     chains the kernels into one container, one PDI each).
The manifest's sha256 of the xclbin is printed for xclbin/manifest.json.

    python3 build.py --generation npu1 --sizes tiny base --out ../build

STATUS: see common.py - never run by this project.
"""
import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MANIFEST = json.loads((HERE.parent / "manifest.json").read_text())
sys.path.insert(0, str(HERE))

import shapes  # noqa: E402


def emit(call, generation):
    """MLIR text of one kernel at one shape."""
    kernel = call["kernel"]
    if kernel.startswith("gemm"):
        import gemm

        return str(gemm.design(kernel, generation, call["m"], call["k"], call["n"]))
    if kernel == "attention":
        import attention

        return str(attention.design(generation, call["heads"], call["frames"], call["frames_p"],
                                    call["d_model"]))
    import rows

    if kernel in rows.ROW_KERNELS:
        return str(rows.layernorm(kernel, generation, call["rows"], call["cols"]))
    return str(rows.elementwise(kernel, generation, call["len"]))


def core_images(project):
    return {p.name: p.read_bytes() for p in sorted(Path(project).glob("core_*.elf"))}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--generation", choices=["npu1", "npu2"], required=True)
    p.add_argument("--sizes", nargs="+", default=["tiny", "base"], choices=sorted(shapes.SIZES))
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    out = a.out.resolve()
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    calls = shapes.distinct([c for s in a.sizes for c in shapes.window_calls(*shapes.SIZES[s])])
    xclbin = out / "whisper_bf16.xclbin"
    xclbin.unlink(missing_ok=True)
    images = {}
    for kernel_id, name in enumerate(sorted(MANIFEST["kernels"]), start=0x901):
        for call in (c for c in calls if c["kernel"] == name):
            tag = f"{name}.{call['key']}"
            mlir = work / f"{tag}.mlir"
            mlir.write_text(emit(call, a.generation))
            insts = out / name / f"{call['key']}.insts"
            insts.parent.mkdir(parents=True, exist_ok=True)
            first = name not in images
            cmd = ["aiecc.py", "--no-xchesscc", "--no-xbridge", "--no-compile-host",
                   f"--tmpdir={work / tag}", "--aie-generate-npu-insts",
                   f"--npu-insts-name={insts}"]
            if first:
                cmd += ["--aie-generate-xclbin", f"--xclbin-name={xclbin}",
                        f"--xclbin-kernel-name={name}", f"--xclbin-kernel-id={kernel_id:#x}",
                        f"--xclbin-instance-name={name}"]
                if xclbin.exists():
                    chained = work / "previous.xclbin"
                    shutil.copy(xclbin, chained)
                    cmd.append(f"--xclbin-input={chained}")
            cmd.append(str(mlir))
            print("+", " ".join(cmd), flush=True)
            subprocess.run(cmd, check=True, cwd=out)
            image = core_images(work / tag)
            if first:
                images[name] = image
            elif image != images[name]:
                sys.exit(f"build: the core programs of {name} differ between shapes "
                         f"({call['key']}); a shape-dependent count is compiled in")
    digest = hashlib.sha256(xclbin.read_bytes()).hexdigest()
    print(f"{xclbin}: sha256 {digest} (record it in xclbin/manifest.json)")


if __name__ == "__main__":
    main()
