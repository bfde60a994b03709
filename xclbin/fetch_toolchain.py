#!/usr/bin/env python3
"""Download the toolchain wheels of xclbin/toolchain.json by URL and check their sha256.

    python3 fetch_toolchain.py OUT_DIR        # prints the wheel paths, one per line

A wheel whose digest differs from the manifest's is refused. For an unverified (third-party)
pin the first download's digest is also recorded in OUT_DIR/../toolchain.lock and later runs
refuse a different one; NPU_WHISPER_TRUST_DOWNLOAD=1 records a download whose digest differs
from an unverified pin instead of refusing it (say so in a bug report: the pin was wrong).
Python packages come from PyPI with pip --require-hashes (scripts/build-xclbin).
NPU_WHISPER_TOOLCHAIN names another manifest (the tests serve wheels from 127.0.0.1).
"""
import hashlib
import json
import os
import sys
import urllib.request
from pathlib import Path

MANIFEST = Path(os.environ.get("NPU_WHISPER_TOOLCHAIN")
                or Path(__file__).resolve().parent / "toolchain.json")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    lock_path = out.parent / "toolchain.lock"
    lock = json.loads(lock_path.read_text()) if lock_path.exists() else {}
    manifest = json.loads(MANIFEST.read_text())
    trust = os.environ.get("NPU_WHISPER_TRUST_DOWNLOAD") == "1"
    for tool in ("mlir_aie", "llvm_aie"):
        wheel = manifest[tool]["wheel"]
        path = out / wheel["file"]
        if not path.exists():
            print(f"fetch: {wheel['url']}", file=sys.stderr)
            partial = path.with_suffix(".part")
            try:
                with urllib.request.urlopen(wheel["url"], timeout=60) as r, open(partial, "wb") as f:
                    while block := r.read(1 << 20):
                        f.write(block)
            except OSError as e:
                partial.unlink(missing_ok=True)
                sys.exit(f"fetch: {tool}: cannot download {wheel['url']}: {e}")
            partial.rename(path)
        digest = sha256(path)
        locked = lock.get(wheel["file"])
        if locked and locked != digest:
            sys.exit(f"fetch: {wheel['file']}: sha256 {digest} differs from the one recorded on "
                     f"the first download ({locked}, {lock_path}); refusing it")
        if digest != wheel["sha256"]:
            if wheel["verified"] or not trust:
                why = "verified" if wheel["verified"] else (
                    f"unverified: {wheel['source']}; NPU_WHISPER_TRUST_DOWNLOAD=1 records this one")
                sys.exit(f"fetch: {wheel['file']}: sha256 {digest}, but xclbin/toolchain.json "
                         f"pins {wheel['sha256']} ({why})")
            print(f"fetch: {wheel['file']}: sha256 {digest} replaces the unverified pin "
                  "(NPU_WHISPER_TRUST_DOWNLOAD=1)", file=sys.stderr)
        if not locked:
            lock[wheel["file"]] = digest
            lock_path.write_text(json.dumps(lock, indent=1) + "\n")
        print(path)


if __name__ == "__main__":
    main()
