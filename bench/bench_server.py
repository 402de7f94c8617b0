"""Server latency benchmark: a real server, real websocket clients, audio paced like a microphone.

    .venv/bin/python bench/bench_server.py [--utterances 5] [--sessions 1 4 8]

Measures, from the server's own `metrics` events (processing time, not the pacing):
end of speech -> transcript.final and transcript.final -> first reply.delta, per
number of concurrent sessions, with the shipped models. Targets (issue 5): under
100 ms and under 50 ms with one session on the 2-core machine.
Audio: a sentence spoken by espeak-ng when it is installed, else a speech-like
synthetic signal (latency does not depend on the words).
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from websockets.sync.client import connect  # noqa: E402

from assistant import Assistant, AssistantConfig  # noqa: E402
from bench_speech import speechlike  # noqa: E402
from server import ServerOptions, ServerThread  # noqa: E402
from speech import float_to_pcm16, load_audio  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def utterance() -> np.ndarray:
    if shutil.which("espeak-ng"):
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "q.wav"
            subprocess.run(["espeak-ng", "-w", str(wav), "what time is it in london"], check=True)
            speech = load_audio(wav)
    else:
        speech = speechlike(1.8)
    silence = np.zeros(16000, dtype=np.float32)  # 1 s: longer than the endpointer's silence
    return np.concatenate([silence[:4000], speech, silence])


def one_client(url: str, audio: np.ndarray, utterances: int, out: list, frame_ms: int = 20) -> None:
    frame = 16 * frame_ms
    with connect(url, max_size=2**22) as ws:
        ws.recv()  # server.info
        ws.send(json.dumps({"type": "session.start", "vad": {"mode": "server"}}))
        for _ in range(utterances):
            start = time.perf_counter()
            for k, i in enumerate(range(0, audio.size, frame)):
                ws.send(float_to_pcm16(audio[i : i + frame]))
                time.sleep(max(0.0, start + (k + 1) * frame_ms / 1000 - time.perf_counter()))  # real time
            deadline = time.time() + 30
            while time.time() < deadline:
                event = json.loads(ws.recv(timeout=30))
                if event["type"] == "metrics" and event.get("utterance_id"):
                    out.append(event)
                    break


def run(url: str, sessions: int, utterances: int, audio: np.ndarray) -> dict:
    events: list = []
    threads = [threading.Thread(target=one_client, args=(url, audio, utterances, events)) for _ in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    def stat(key):
        values = [e[key] for e in events if e.get(key) is not None]
        if not values:
            return None
        return {"median": statistics.median(values), "p90": float(np.percentile(values, 90)), "n": len(values)}

    return {
        "sessions": sessions,
        "endpoint_to_final_ms": stat("endpoint_to_final_ms"),
        "final_to_first_token_ms": stat("final_to_first_token_ms"),
        "first_partial_ms": stat("first_partial_ms"),
        "rtf": statistics.median(e["compute_seconds"] / e["audio_seconds"] for e in events if e.get("audio_seconds")),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--utterances", type=int, default=5)
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        assistant = Assistant.load(AssistantConfig(db_path=str(Path(tmp) / "bench.db")))
        server = ServerThread(assistant, ServerOptions(port=0)).start()
        try:
            audio = utterance()
            rows = [run(server.ws_url, n, args.utterances, audio) for n in args.sessions]
        finally:
            server.stop()
            assistant.close()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "server.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("| sessions | end of speech -> final (median / p90 ms) | final -> first token (median / p90 ms) | RTF |")
    print("|---:|---:|---:|---:|")
    for r in rows:
        a, b = r["endpoint_to_final_ms"], r["final_to_first_token_ms"]
        fmt = lambda s: f"{s['median']:.0f} / {s['p90']:.0f}" if s else "n/a"  # noqa: E731
        print(f"| {r['sessions']} | {fmt(a)} | {fmt(b)} | {r['rtf']:.3f} |")


if __name__ == "__main__":
    main()
