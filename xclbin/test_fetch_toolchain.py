#!/usr/bin/env python3
"""fetch_toolchain.py against wheels served from 127.0.0.1: a matching download is kept and its
hash recorded; a digest that differs from a pin is refused; NPU_WHISPER_TRUST_DOWNLOAD=1 records
one that differs from an unverified pin; a later download that differs from the recorded hash is
refused; an unreachable URL is one clear line. Run by scripts/test-designs."""
import hashlib
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main():
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        served = tmp / "served"
        served.mkdir()
        (served / "a.whl").write_bytes(b"mlir wheel")
        (served / "b.whl").write_bytes(b"peano wheel")
        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

        handler = lambda *a: Quiet(*a, directory=str(served))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        digest = lambda name: hashlib.sha256((served / name).read_bytes()).hexdigest()

        def manifest(a_sha, b_sha, verified=False, a_url=None):
            m = {t: {"version": "0", "wheel": {"file": f, "url": a_url if (t == "mlir_aie" and a_url) else f"{base}/{f}",
                                              "sha256": sha, "verified": verified, "source": "test pin"}}
                 for t, f, sha in (("mlir_aie", "a.whl", a_sha), ("llvm_aie", "b.whl", b_sha))}
            path = tmp / "toolchain.json"
            path.write_text(json.dumps(m))
            return path

        def fetch(out, path, trust=False):
            env = dict(os.environ, NPU_WHISPER_TOOLCHAIN=str(path))
            if trust:
                env["NPU_WHISPER_TRUST_DOWNLOAD"] = "1"
            return subprocess.run([sys.executable, str(HERE / "fetch_toolchain.py"), str(out)],
                                  capture_output=True, text=True, env=env)

        good = manifest(digest("a.whl"), digest("b.whl"))
        p = fetch(tmp / "one" / "wheels", good)
        assert p.returncode == 0, p.stderr
        assert [Path(l).name for l in p.stdout.split()] == ["a.whl", "b.whl"], p.stdout
        lock = json.loads((tmp / "one" / "toolchain.lock").read_text())
        assert lock == {"a.whl": digest("a.whl"), "b.whl": digest("b.whl")}, lock

        wrong = manifest("0" * 64, digest("b.whl"))
        p = fetch(tmp / "two" / "wheels", wrong)
        assert p.returncode == 1 and "pins 000" in p.stderr and "unverified" in p.stderr, p.stderr
        assert not (tmp / "two" / "toolchain.lock").exists()
        p = fetch(tmp / "two" / "wheels", wrong, trust=True)
        assert p.returncode == 0 and "replaces the unverified pin" in p.stderr, p.stderr
        p = fetch(tmp / "three" / "wheels", manifest("0" * 64, digest("b.whl"), verified=True), trust=True)
        assert p.returncode == 1 and "(verified)" in p.stderr, p.stderr

        # The served file changes after the first run: refused against the recorded hash.
        (tmp / "one" / "wheels" / "a.whl").write_bytes(b"tampered")
        p = fetch(tmp / "one" / "wheels", manifest(hashlib.sha256(b"tampered").hexdigest(), digest("b.whl")))
        assert p.returncode == 1 and "recorded on the first download" in p.stderr, p.stderr

        p = fetch(tmp / "four" / "wheels", manifest("0" * 64, "0" * 64, a_url="http://127.0.0.1:9/a.whl"))
        assert p.returncode == 1 and "cannot download" in p.stderr, p.stderr
        assert not list((tmp / "four" / "wheels").glob("*")), "no partial file is left"
        server.shutdown()
    print("fetch_toolchain: pinned, recorded, refused and unreachable cases behave")


if __name__ == "__main__":
    main()
