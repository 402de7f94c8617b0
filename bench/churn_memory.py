"""Server memory over many connect / random frames / disconnect cycles: a leak, or a warm-up plateau?

    python bench/churn_memory.py [--cycles 2000] [--concurrency 8] [--every 100] [--out bench/results/churn_memory.json]

Starts `python -m server` (the shipped models unless --speech-model/--dialogue-model say otherwise) on a
temporary database, warms it up with one typed turn, then runs `--cycles` client cycles, `--concurrency` at a
time. Each cycle connects and leaves at a random point (before session.start, mid-utterance, mid-reply, after
malformed frames), half of them with a websocket close and half by dropping the TCP connection. After every
`--every` cycles it waits for the server to report 0 sessions and records the server's resident memory
(VmRSS), threads and open files. The verdict compares the growth rate of the first and the second half: a
leak grows at the same rate all along; a warm-up (allocator arenas, caches, first use of code paths) grows
early and then stays flat.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[1]
LONG_REPLY = {"strategy": "sample", "seed": 1, "temperature": 1.0, "min_length": 40, "max_length": 40}


def proc_status(pid: int) -> dict[str, float]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "Threads"):
            fields[key] = float(value.split()[0])
    return {"rss_mb": round(fields["VmRSS"] / 1024, 1), "threads": int(fields["Threads"]),
            "open_files": len(os.listdir(f"/proc/{pid}/fd"))}


def speech_audio(seconds: float, seed: int) -> bytes:
    sr = 16000
    t = np.arange(int(seconds * sr)) / sr
    f0 = 140 + 30 * np.sin(2 * np.pi * 1.5 * t + seed)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    voiced = sum(np.sin(k * phase) / k for k in range(1, 8)) * (0.4 + 0.6 * np.sin(2 * np.pi * 3 * t) ** 2)
    return (0.25 * voiced / np.abs(voiced).max() * 32767).astype("<i2").tobytes()


AUDIO = speech_audio(1.0, 0)
GARBAGE = [b"\x01", b"\x00" * 642, "{", '{"type": 3}', "[]", '{"type": "audio.end"}', '{"type": "warp"}',
           '{"type": "session.update", "vad": {"silence_ms": "x"}}', '{"type": "text.input", "text": ""}']


def cycle(url: str, rng: random.Random) -> str:
    ws = connect(url, open_timeout=10, ping_interval=None, legacy=True)
    point = rng.choice(["before_info", "before_start", "mid_utterance", "mid_reply", "after_garbage"])
    try:
        if point != "before_info":
            if json.loads(ws.recv(timeout=10))["type"] == "error":
                return "busy"
        if point in ("mid_utterance", "mid_reply", "after_garbage"):
            ws.send(json.dumps({"type": "session.start", "vad": {"mode": rng.choice(["client", "server"])},
                                "reply": LONG_REPLY}))
        if point == "mid_utterance":
            n = rng.randrange(1, 25)
            for i in range(n):
                ws.send(AUDIO[i * 1280:(i + 1) * 1280])
        elif point == "mid_reply":
            ws.send(json.dumps({"type": "text.input", "text": "tell me something"}))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and json.loads(ws.recv(timeout=10))["type"] != "reply.delta":
                pass
        elif point == "after_garbage":
            for _ in range(rng.randrange(1, 8)):
                ws.send(rng.choice(GARBAGE))
        return point
    finally:
        if rng.random() < 0.5:
            try:
                ws.socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            ws.recv_events_thread.join(5)
            ws.socket.close()
        else:
            try:
                ws.close()
            except OSError:
                pass


def run_cycles(url: str, count: int, concurrency: int, seed: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    lock = threading.Lock()
    shares = [count // concurrency + (k < count % concurrency) for k in range(concurrency)]

    def worker(k: int) -> None:
        rng = random.Random(seed * 7919 + k)
        for _ in range(shares[k]):
            what = cycle(url, rng)
            with lock:
                counts[what] = counts.get(what, 0) + 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return counts


def wait_sessions_zero(http: str, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        sessions = json.load(urllib.request.urlopen(http + "/healthz", timeout=10))["sessions"]
        if sessions == 0 or time.monotonic() > deadline:
            return sessions
        time.sleep(0.05)


def slope(samples: list[dict]) -> float:
    """MB per 1,000 cycles, least squares."""
    x = np.array([s["cycles"] for s in samples], float)
    y = np.array([s["rss_mb"] for s in samples], float)
    return float(np.polyfit(x, y, 1)[0] * 1000) if len(samples) >= 2 else 0.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cycles", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--every", type=int, default=100, help="cycles between memory samples")
    p.add_argument("--speech-model", default="en")
    p.add_argument("--dialogue-model", default="en")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--leak-threshold", type=float, default=5.0,
                   help="MB per 1,000 cycles in the second half above which the verdict is 'leak'")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "churn_memory.json"))
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "server", "--port", "0", "--db", str(Path(tmp) / "churn.db"),
                   "--speech-model", args.speech_model, "--dialogue-model", args.dialogue_model,
                   "--threads", "1", "--log-level", "WARNING"]
        proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                env={**os.environ, "ASSISTANT_TOKEN": ""})
        try:
            line = proc.stdout.readline()
            if "http://127.0.0.1:" not in line:
                print(f"the server did not start: {line!r}", file=sys.stderr)
                return 1
            port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
            url, http = f"ws://127.0.0.1:{port}/v1/ws", f"http://127.0.0.1:{port}"
            with connect(url, open_timeout=30, ping_interval=None) as ws:  # warm-up: one typed turn
                ws.recv()
                ws.send(json.dumps({"type": "session.start"}))
                ws.send(json.dumps({"type": "text.input", "text": "hello"}))
                while json.loads(ws.recv(timeout=60))["type"] != "metrics":
                    pass
            wait_sessions_zero(http)
            samples = [{"cycles": 0, "seconds": 0.0, **proc_status(proc.pid)}]
            print(f"{0:>6} cycles  {samples[0]['rss_mb']:8.1f} MB", flush=True)
            counts: dict[str, int] = {}
            t0 = time.monotonic()
            done = 0
            while done < args.cycles:
                n = min(args.every, args.cycles - done)
                for key, value in run_cycles(url, n, args.concurrency, args.seed + done).items():
                    counts[key] = counts.get(key, 0) + value
                done += n
                left = wait_sessions_zero(http)
                samples.append({"cycles": done, "seconds": round(time.monotonic() - t0, 1),
                                "sessions_left": left, **proc_status(proc.pid)})
                print(f"{done:>6} cycles  {samples[-1]['rss_mb']:8.1f} MB  threads {samples[-1]['threads']}  "
                      f"files {samples[-1]['open_files']}", flush=True)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()

    half = len(samples) // 2
    first, second = slope(samples[:half + 1]), slope(samples[half:])
    verdict = "leak" if second > args.leak_threshold else "plateau"
    result = {
        "benchmark": "churn_memory",
        "command": "python bench/churn_memory.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "models": {"speech": args.speech_model, "dialogue": args.dialogue_model},
        "cycles": args.cycles, "concurrency": args.concurrency, "outcomes": counts,
        "rss_start_mb": samples[0]["rss_mb"], "rss_end_mb": samples[-1]["rss_mb"],
        "rss_peak_mb": max(s["rss_mb"] for s in samples),
        "growth_mb_per_1000_cycles": {"first_half": round(first, 2), "second_half": round(second, 2)},
        "leak_threshold_mb_per_1000_cycles": args.leak_threshold,
        "verdict": verdict,
        "samples": samples,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"RSS {result['rss_start_mb']} -> {result['rss_end_mb']} MB (peak {result['rss_peak_mb']}); growth "
          f"{first:.1f} then {second:.1f} MB per 1,000 cycles: {verdict}; written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
