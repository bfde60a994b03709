#!/usr/bin/env python3
"""Generate the committed audio and log-mel fixtures under tests/fixtures/.

Reference log-mels come from `log_mel_f64` below: numpy float64 code written from OpenAI's
`whisper.audio.log_mel_spectrogram(pad_or_trim(audio))` formula, independent of the Rust code.
Each is cross-checked against `faster_whisper.feature_extractor.FeatureExtractor` (a float32
numpy implementation from PyPI); the figures are written to tests/fixtures/mel/manifest.json.

Audio is read with Python's `wave` module (not our decoder) and, where a file must be decoded or
resampled, by sox, so every reference comes from a different implementation than ours.

Needs: numpy, faster-whisper (pip), espeak-ng and sox (Debian); jfk.wav is committed under
assets/samples/.
Run: python3 scripts/make-fixtures.py
"""
import gzip
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
AUDIO = ROOT / "tests/fixtures/audio"
MEL = ROOT / "tests/fixtures/mel"
SAMPLES = ROOT / "assets/samples"
SR = 16000
N_SAMPLES = 480000


def slaney_filters(n_mels, n_fft=400, sr=SR):
    """librosa.filters.mel(sr, n_fft, n_mels) with htk=False, norm='slaney', in float64."""
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0

    def hz_to_mel(f):
        return min_log_mel + np.log(f / min_log_hz) / logstep if f >= min_log_hz else f / f_sp

    def mel_to_hz(m):
        return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)

    bins = np.arange(n_fft // 2 + 1) * sr / n_fft
    points = mel_to_hz(np.linspace(0.0, hz_to_mel(sr / 2), n_mels + 2))
    weights = np.zeros((n_mels, len(bins)))
    for m in range(n_mels):
        lo, c, hi = points[m], points[m + 1], points[m + 2]
        rising = (bins - lo) / (c - lo)
        falling = (hi - bins) / (hi - c)
        weights[m] = np.maximum(0.0, np.minimum(rising, falling)) * 2.0 / (hi - lo)
    return weights


def log_mel_f64(window, n_mels):
    """OpenAI log_mel_spectrogram(pad_or_trim(window)) in float64: [n_mels, 3000]."""
    x = np.zeros(N_SAMPLES)
    n = min(len(window), N_SAMPLES)
    x[:n] = window[:n].astype(np.float64)
    x = np.pad(x, 200, mode="reflect")
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)
    frames = np.lib.stride_tricks.sliding_window_view(x, 400)[::160][:-1]  # drop the last frame
    power = np.abs(np.fft.rfft(frames * hann, axis=-1)) ** 2
    mel = slaney_filters(n_mels) @ power.T
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


def log_mel_windows(audio, n_mels):
    windows = max(1, -(-len(audio) // N_SAMPLES))
    return np.stack([log_mel_f64(audio[i * N_SAMPLES:(i + 1) * N_SAMPLES], n_mels) for i in range(windows)])


def faster_whisper_windows(audio, n_mels):
    from faster_whisper.feature_extractor import FeatureExtractor

    fe = FeatureExtractor(feature_size=n_mels)
    out = []
    for i in range(max(1, -(-len(audio) // N_SAMPLES))):
        w = np.zeros(N_SAMPLES, dtype=np.float32)
        chunk = audio[i * N_SAMPLES:(i + 1) * N_SAMPLES]
        w[:len(chunk)] = chunk
        out.append(fe(w, padding=0))
    return np.stack(out)


def read_wav_mono(path):
    """16-bit PCM or float WAV via sox-free Python code for PCM; float via numpy."""
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2, path
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
        ch, rate = w.getnchannels(), w.getframerate()
    return frames.reshape(-1, ch).mean(axis=1, dtype=np.float64).astype(np.float32), rate


def sox_to_16k_mono_f32(src):
    """Decode/resample/downmix with sox (its own decoders and `rate -v` resampler) to f32."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.raw"
        subprocess.run(["sox", str(src), "-t", "raw", "-e", "floating-point", "-b", "32", "-c", "1",
                        str(out), "rate", "-v", str(SR)], check=True)
        return np.fromfile(out, dtype="<f4")


def write_wav16(path, samples, rate=SR, channels=1):
    pcm = np.clip(np.round(np.asarray(samples) * 32768.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def make_audio():
    rng = np.random.default_rng(20261127)
    t = np.arange(2 * SR) / SR
    write_wav16(AUDIO / "silence_1s.wav", np.zeros(SR))
    write_wav16(AUDIO / "sine_440hz_2s.wav", 0.5 * np.sin(2 * np.pi * 440 * t))
    write_wav16(AUDIO / "clipping_noise_2s.wav", np.clip(rng.uniform(-1.5, 1.5, 2 * SR), -1, 1))
    write_wav16(AUDIO / "one_sample.wav", np.array([0.5]))
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "espeak.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(raw),
                        "The quick brown fox jumps over the lazy dog."], check=True)
        subprocess.run(["sox", str(raw), "-r", "16000", "-b", "16", "-c", "1",
                        str(AUDIO / "speech_espeak_16k.wav"), "rate", "-v"], check=True)
        # 44.1 kHz stereo, the right channel quieter and slightly delayed, as a real recording is.
        subprocess.run(["sox", str(raw), "-r", "44100", "-b", "16", str(Path(tmp) / "l.wav"), "rate", "-v"], check=True)
        subprocess.run(["sox", str(Path(tmp) / "l.wav"), str(Path(tmp) / "r.wav"), "vol", "0.5", "pad", "0.003", "0",
                        "trim", "0", str(sox_len(Path(tmp) / "l.wav"))], check=True)
        subprocess.run(["sox", "-M", str(Path(tmp) / "l.wav"), str(Path(tmp) / "r.wav"),
                        str(AUDIO / "speech_espeak_44k_stereo.wav")], check=True)
    speech = AUDIO / "speech_espeak_16k.wav"
    subprocess.run(["sox", str(speech), str(AUDIO / "speech_espeak_16k.flac")], check=True)
    subprocess.run(["sox", str(speech), "-C", "3", str(AUDIO / "speech_espeak_16k.ogg")], check=True)
    subprocess.run(["sox", str(speech), "-C", "128", str(AUDIO / "speech_espeak_16k.mp3")], check=True)


def sox_len(path):
    return subprocess.run(["soxi", "-D", str(path)], check=True, capture_output=True, text=True).stdout.strip()


def save_gz(path, array):
    buf = io.BytesIO()
    np.save(buf, array.astype("<f4"))
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(buf.getvalue())


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def main():
    AUDIO.mkdir(parents=True, exist_ok=True)
    MEL.mkdir(parents=True, exist_ok=True)
    if not (SAMPLES / "jfk.wav").exists():
        sys.exit("assets/samples/jfk.wav is missing (it is committed: check out the repository whole)")
    make_audio()
    jfk, _ = read_wav_mono(SAMPLES / "jfk.wav")
    sources = {
        # name: (16 kHz mono f32 reference input, how it was obtained)
        "jfk": (jfk, "assets/samples/jfk.wav read with Python's wave module"),
        "jfk_x3": (np.concatenate([jfk] * 3), "jfk.wav repeated 3 times (33 s, two windows)"),
        "silence_1s": (read_wav_mono(AUDIO / "silence_1s.wav")[0], "wave module"),
        "sine_440hz_2s": (read_wav_mono(AUDIO / "sine_440hz_2s.wav")[0], "wave module"),
        "clipping_noise_2s": (read_wav_mono(AUDIO / "clipping_noise_2s.wav")[0], "wave module"),
        "one_sample": (read_wav_mono(AUDIO / "one_sample.wav")[0], "wave module"),
        "speech_espeak_16k": (read_wav_mono(AUDIO / "speech_espeak_16k.wav")[0], "wave module"),
        "speech_espeak_44k_stereo": (sox_to_16k_mono_f32(AUDIO / "speech_espeak_44k_stereo.wav"),
                                     "sox downmix + `rate -v 16000` (very high quality) to f32"),
        "speech_espeak_16k_ogg": (sox_to_16k_mono_f32(AUDIO / "speech_espeak_16k.ogg"), "sox (libvorbis) decode"),
        "speech_espeak_16k_mp3": (sox_to_16k_mono_f32(AUDIO / "speech_espeak_16k.mp3"), "sox (libmad) decode"),
    }
    manifest = {"generator": "scripts/make-fixtures.py", "reference": "numpy float64 log_mel_f64",
                "cross_check": "faster_whisper.feature_extractor.FeatureExtractor (float32)", "fixtures": {}}
    for name, (audio, how) in sources.items():
        entry = {"input": how, "samples_16k": int(len(audio))}
        for n_mels in (80, 128):
            ref = log_mel_windows(audio, n_mels)
            fw = faster_whisper_windows(audio, n_mels)
            entry[f"n{n_mels}"] = {
                "shape": list(ref.shape),
                "faster_whisper_max_abs_diff": float(np.abs(ref - fw).max()),
                "min": float(ref.min()), "max": float(ref.max()),
            }
            save_gz(MEL / f"{name}.n{n_mels}.npy.gz", ref)
        manifest["fixtures"][name] = entry
        print(name, {k: v for k, v in entry.items() if k.startswith("n")})
    manifest["audio_sha256"] = {p.name: sha256(p) for p in sorted(AUDIO.iterdir())}
    (MEL / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
