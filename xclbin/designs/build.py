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
Every (kernel, shape) is attempted; each result (ok, or the failing step and the end of its
output) goes to build-report.json in the output directory, which scripts/npu-validate puts in
the bring-up report. The sha256 of the xclbin is printed for xclbin/manifest.json.

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

import common  # noqa: E402
import shapes  # noqa: E402


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
    calls = shapes.distinct([c for s in a.sizes for c in shapes.window_calls(*shapes.SIZES[s])
                              + shapes.standalone_calls(*shapes.SIZES[s])])
    xclbin = out / "whisper_bf16.xclbin"
    xclbin.unlink(missing_ok=True)
    images = {}
    results = []
    for kernel_id, name in enumerate(sorted(MANIFEST["kernels"]), start=0x901):
        for call in (c for c in calls if c["kernel"] == name):
            tag = f"{name}.{call['key']}"
            result = {"kernel": name, "shape": call["key"], "ok": False}
            results.append(result)
            try:
                mlir = work / f"{tag}.mlir"
                result["step"] = "design"
                mlir.write_text(str(common.program_for(call, a.generation)))
            except BaseException as e:  # a design's SystemExit too: reported, not fatal
                result["error"] = f"{type(e).__name__}: {e}"
                continue
            insts = out / name / f"{call['key']}.insts"
            insts.parent.mkdir(parents=True, exist_ok=True)
            first = name not in images
            cmd = ["aiecc.py", f"--tmpdir={work / tag}", "--aie-generate-npu-insts",
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
            result["step"] = "aiecc"
            done = subprocess.run(cmd, cwd=out, capture_output=True, text=True)
            if done.returncode != 0:
                result["error"] = (done.stdout + done.stderr)[-4000:]
                print(result["error"], file=sys.stderr)
                continue
            image = core_images(work / tag)
            if first:
                images[name] = image
            elif image != images[name]:
                result["step"] = "core images"
                result["error"] = (f"the core programs of {name} differ between shapes "
                                   f"({call['key']}); a shape-dependent count is compiled in")
                continue
            result["ok"] = True
            del result["step"]
    report = out / "build-report.json"
    report.write_text(json.dumps({"generation": a.generation, "sizes": a.sizes,
                                  "results": results}, indent=1) + "\n")
    failed = [r for r in results if not r["ok"]]
    if xclbin.exists():
        digest = hashlib.sha256(xclbin.read_bytes()).hexdigest()
        print(f"{xclbin}: sha256 {digest} (record it in xclbin/manifest.json)")
    if failed:
        sys.exit(f"build: {len(failed)} of {len(results)} kernel builds failed; see {report}")
    print(f"build: {len(results)} kernel builds ok ({report})")


if __name__ == "__main__":
    main()
