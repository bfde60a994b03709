"""The official `openai` and `wyoming` clients against `npu-whisper serve` on 127.0.0.1.

Starts the server (tiny.en and base, an API key, Wyoming on), then checks that what the
clients get equals what `npu-whisper transcribe` prints for the same file and options: text,
srt, vtt, verbose_json with word times, translation, a given language; that the clients'
own error types come back for bad requests; that Wyoming's describe lists the models and
their languages and its transcripts equal the command line's for 16 kHz 16-bit, 24-bit and
44.1 kHz stereo audio; and that SIGTERM ends it with exit 0. Run by scripts/test-serve.

Usage: clients.py NPU_WHISPER_BIN REPO_ROOT
"""

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import wave

import warnings

import openai
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioChunkConverter, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error as WyomingError
from wyoming.info import Describe, Info

BIN, ROOT = sys.argv[1], sys.argv[2]
JFK = os.path.join(ROOT, "assets/samples/jfk.wav")
US_MALE = os.path.join(ROOT, "tests/fixtures/transcripts/us_male.flac")
GERMAN = os.path.join(ROOT, "tests/fixtures/transcripts/german.flac")
STEREO_44K = os.path.join(ROOT, "tests/fixtures/audio/speech_espeak_44k_stereo.wav")
KEY = "clients-test-key"
# openai marks the translations endpoint deprecated; it is still part of the API we serve.
warnings.filterwarnings("ignore", category=DeprecationWarning)
checks = 0


def check(condition, what):
    global checks
    if not condition:
        raise AssertionError(what)
    checks += 1


def cli(model, path, *flags, fmt="json"):
    """What `npu-whisper transcribe` prints for this file and these flags."""
    out = subprocess.run(
        [BIN, "transcribe", "--offline", "-q", "--model", model, "-f", fmt, *flags, path],
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out) if fmt == "json" else out


def start_server():
    key_file = tempfile.NamedTemporaryFile("w", delete=False)
    key_file.write(KEY + "\n")
    key_file.close()
    server = subprocess.Popen(
        [BIN, "serve", "--offline", "--port", "0", "--wyoming-port", "0",
         "--model", "tiny.en", "--model", "base", "--api-key-file", key_file.name],
        stderr=subprocess.PIPE, text=True,
    )
    http_port = wyoming_port = None
    logs = []
    deadline = time.time() + 60
    while http_port is None or wyoming_port is None:
        line = server.stderr.readline()
        if not line or time.time() > deadline:
            raise RuntimeError("the server did not start:\n" + "".join(logs))
        logs.append(line)
        if m := re.search(r"listening on http://127\.0\.0\.1:(\d+)", line):
            http_port = int(m.group(1))
        if m := re.search(r"wyoming on tcp://127\.0\.0\.1:(\d+)", line):
            wyoming_port = int(m.group(1))
    # Keep reading the log so the pipe never fills.
    threading.Thread(target=lambda: logs.extend(server.stderr), daemon=True).start()
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/health") as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.time() > deadline:
            raise RuntimeError("never ready:\n" + "".join(logs))
        time.sleep(0.05)
    return server, http_port, wyoming_port, logs


def openai_checks(port):
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0)

    ids = sorted(m.id for m in client.models.list())
    check(ids == ["base", "tiny.en", "whisper-1"], f"models: {ids}")
    check(client.models.retrieve("whisper-1").id == "whisper-1", "whisper-1 answers as itself")

    for path in (JFK, US_MALE):
        expected = cli("tiny.en", path)
        with open(path, "rb") as f:
            got = client.audio.transcriptions.create(model="tiny.en", file=f)
        check(got.text == expected["text"].strip(), f"json text of {path}: {got.text!r}")
        with open(path, "rb") as f:
            text = client.audio.transcriptions.create(model="tiny.en", file=f, response_format="text")
        check(text.strip() == expected["text"].strip(), f"text of {path}: {text!r}")
        for fmt in ("srt", "vtt"):
            with open(path, "rb") as f:
                cues = client.audio.transcriptions.create(model="tiny.en", file=f, response_format=fmt)
            check(cues == cli("tiny.en", path, fmt=fmt), f"{fmt} of {path}: {cues!r}")
    print(f"openai: json, text, srt and vtt equal the command line's for 2 files", flush=True)

    # stream=true: the client's stream yields the deltas, then the whole text, and the deltas
    # joined are the text the same request gives without streaming.
    for path in (JFK, US_MALE):
        with open(path, "rb") as f:
            whole = client.audio.transcriptions.create(model="tiny.en", file=f).text
        with open(path, "rb") as f:
            events = list(client.audio.transcriptions.create(model="tiny.en", file=f, stream=True))
        deltas = [e.delta for e in events if e.type == "transcript.text.delta"]
        done = [e for e in events if e.type == "transcript.text.done"]
        check(len(done) == 1 and events[-1] is done[0], f"one done event, last: {events}")
        check("".join(deltas) == whole == done[0].text, f"stream {deltas!r} != {whole!r}")
        print(f"openai: stream=true on {os.path.basename(path)}: {len(deltas)} deltas {deltas!r}; joined == non-streamed {whole!r}", flush=True)

    expected = cli("tiny.en", JFK, "--word-timestamps")
    with open(JFK, "rb") as f:
        verbose = client.audio.transcriptions.create(
            model="tiny.en", file=f, response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
        )
    check(verbose.language == "english", f"language {verbose.language}")
    check(abs(verbose.duration - 11.0) < 1e-6, f"duration {verbose.duration}")
    want_words = [(w["word"].strip(), w["start"], w["end"]) for s in expected["segments"] for w in s["words"]]
    got_words = [(w.word, w.start, w.end) for w in verbose.words]
    check(got_words == want_words, f"words {got_words} != {want_words}")
    want_segments = [(s["start"], s["end"], s["text"]) for s in expected["segments"]]
    got_segments = [(s.start, s.end, s.text) for s in verbose.segments]
    check(got_segments == want_segments, f"segments {got_segments}")
    print(f"openai: verbose_json has the command line's {len(got_words)} word times and {len(got_segments)} segments", flush=True)

    expected = cli("base", GERMAN, "--task", "translate")
    with open(GERMAN, "rb") as f:
        translated = client.audio.translations.create(model="base", file=f)
    check(translated.text == expected["text"].strip(), f"translation {translated.text!r}")
    expected = cli("base", GERMAN, "--language", "de")
    with open(GERMAN, "rb") as f:
        german = client.audio.transcriptions.create(model="base", file=f, language="de", response_format="verbose_json")
    check(german.text == expected["text"].strip() and german.language == "german", f"german {german.text!r}")
    print(f"openai: translation and a given language equal the command line's ({translated.text!r})", flush=True)

    bad = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="wrong", max_retries=0)
    for call, error in [
        (lambda: bad.audio.transcriptions.create(model="tiny.en", file=open(JFK, "rb")), openai.AuthenticationError),
        (lambda: client.audio.transcriptions.create(model="large-v9", file=open(JFK, "rb")), openai.NotFoundError),
        (lambda: client.audio.transcriptions.create(model="tiny.en", file=("x.mp3", b"not audio at all" * 100)), openai.BadRequestError),
    ]:
        try:
            call()
            check(False, f"{error.__name__} expected")
        except error as e:
            check("\n" not in e.message, f"one line: {e.message!r}")
    print("openai: AuthenticationError, NotFoundError and BadRequestError as the client raises them", flush=True)


def pcm_of(path):
    with wave.open(path, "rb") as w:
        return w.getframerate(), w.getsampwidth(), w.getnchannels(), w.readframes(w.getnframes())


async def wyoming_transcribe(port, rate, width, channels, pcm, **transcribe):
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Transcribe(**transcribe).event())
        await client.write_event(AudioStart(rate=rate, width=width, channels=channels).event())
        step = 1024 * width * channels
        for i in range(0, len(pcm), step):
            await client.write_event(AudioChunk(rate=rate, width=width, channels=channels, audio=pcm[i:i + step]).event())
        await client.write_event(AudioStop().event())
        while True:
            event = await asyncio.wait_for(client.read_event(), timeout=60)
            if event is None:
                raise AssertionError("connection closed before the transcript")
            if Transcript.is_type(event.type):
                return Transcript.from_event(event)
            if WyomingError.is_type(event.type):
                raise AssertionError(f"error event: {event.data}")


async def wyoming_checks(port):
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Describe().event())
        info = Info.from_event(await asyncio.wait_for(client.read_event(), timeout=10))
    (asr,) = info.asr
    models = {m.name: m for m in asr.models}
    check(sorted(models) == ["base", "tiny.en"], f"wyoming models {sorted(models)}")
    check(models["tiny.en"].languages == ["en"] and "de" in models["base"].languages, "languages")
    print(f"wyoming: describe -> info with {sorted(models)}, base has {len(models['base'].languages)} languages", flush=True)

    rate, width, channels, pcm = pcm_of(JFK)
    expected = cli("tiny.en", JFK)["text"].strip()
    got = await wyoming_transcribe(port, rate, width, channels, pcm, language="en")
    check(got.text == expected, f"16 kHz 16-bit: {got.text!r} != {expected!r}")
    # The protocol's own converter to 24-bit: the same samples, so the same text.
    wide = AudioChunkConverter(width=3).convert(AudioChunk(rate=rate, width=width, channels=channels, audio=pcm))
    got = await wyoming_transcribe(port, rate, 3, channels, wide.audio)
    check(got.text == expected, f"24-bit: {got.text!r}")
    expected_base = cli("base", JFK)["text"].strip()
    got = await wyoming_transcribe(port, rate, width, channels, pcm, name="base")
    check(got.text == expected_base, f"model base by name: {got.text!r}")
    rate, width, channels, pcm = pcm_of(STEREO_44K)
    expected = cli("tiny.en", STEREO_44K)["text"].strip()
    got = await wyoming_transcribe(port, rate, width, channels, pcm)
    check(got.text == expected and expected, f"44.1 kHz stereo: {got.text!r} != {expected!r}")
    print(f"wyoming: transcripts equal the command line's at 16 kHz 16-bit, 24-bit, 44.1 kHz stereo, and by model name ({got.text!r})", flush=True)

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"this is not an event\n")
    await writer.drain()
    line = await asyncio.wait_for(reader.readline(), timeout=10)
    check(json.loads(line)["type"] == "error", f"garbage: {line!r}")
    rest = await asyncio.wait_for(reader.read(), timeout=10)
    check(b"not JSON" in rest, f"error text: {rest!r}")
    writer.close()
    print("wyoming: a line that is not an event gets an error event and the connection closes", flush=True)

    rate, width, channels, pcm = pcm_of(JFK)
    try:
        await wyoming_transcribe(port, rate, width, channels, pcm[:32000], name="nosuch")
        check(False, "an unknown model name must be an error")
    except AssertionError as e:
        check("unknown_model" in str(e), f"unknown model: {e}")
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(AudioStop().event())
        event = await asyncio.wait_for(client.read_event(), timeout=10)
        check(WyomingError.is_type(event.type) and event.data.get("code") == "no_audio", f"lone audio-stop: {event}")
    print("wyoming: an unknown model name and an audio-stop without audio-start get error events", flush=True)


def main():
    server, http_port, wyoming_port, logs = start_server()
    try:
        openai_checks(http_port)
        asyncio.run(wyoming_checks(wyoming_port))
    except BaseException:
        server.kill()
        print("".join(logs[-40:]), file=sys.stderr)
        raise
    server.send_signal(signal.SIGTERM)
    code = server.wait(timeout=60)
    check(code == 0, f"exit {code} after SIGTERM")
    print(f"clients.py: {checks} checks passed; SIGTERM -> exit 0 (openai {openai.__version__})")


main()
