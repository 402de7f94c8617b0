"""Server capacity: N concurrent real-time voice sessions against the real server on this machine.

    .venv/bin/python bench/load_test.py [MANIFEST] [--sessions 1 16 32 64 100 150 200 300]
                                        [--utterances 3] [--no-batching] [--out bench/results/load_test]

For each N it starts a fresh server (`python server.py --port 0`, shipped models and default decoder
settings unless told otherwise) in a subprocess and N asyncio websocket clients in this process. Each
client opens a session (client VAD), streams recordings from the manifest (default
../shared/data/speech/test.jsonl; generated speech-like audio when there is none, or with
--generated) at real-time pace in 100 ms frames, sends `audio.end` after each, and waits for the
final transcript and the whole reply before the next recording. Clients start spread over --ramp
seconds, so their frames do not arrive in lock step.

Measured on the client side, per utterance:
- first partial: wall time from the speech onset (found in the recording by its energy; the frame
  that holds it is sent when its audio would have been recorded) to the first non-empty partial,
- end of speech -> final: `audio.end` sent -> `transcript.final` received,
- final -> first reply token: `transcript.final` received -> first `reply.delta` received,
and per run: failures by kind (busy, overloaded and other error codes, timeouts, lost or reordered
events by `seq`, connections closed early), the server's CPU (% of one core, from /proc; its reply
processes included) and peak RSS (the same processes).

Targets: every session completes, p95 end of speech -> final <= 300 ms, p95 first partial <= 400 ms,
p95 final -> first reply token <= 150 ms, no lost or reordered events. The result names the largest
N that meets them all. Writes OUT.json and OUT.png.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from websockets.asyncio.client import connect  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

SR = 16000
FRAME_MS = 100
DEFAULT_MANIFEST = ROOT.parent / "shared" / "data" / "speech" / "test.jsonl"
DEFAULT_SESSIONS = (1, 16, 32, 64, 100, 150, 200, 300)
TARGETS = {"endpoint_to_final_ms": 300.0, "first_partial_ms": 400.0, "final_to_first_token_ms": 150.0}
FINAL_TIMEOUT = 15.0  # seconds after audio.end without a final: a timeout
REPLY_TIMEOUT = 30.0  # seconds after the final without reply.done: a timeout


# ---- audio -----------------------------------------------------------------------------------

@dataclass
class Recording:
    pcm: list[bytes]  # 100 ms PCM16 frames
    onset: float  # seconds from the start to the speech onset
    seconds: float


def speech_onset(audio: np.ndarray) -> float:
    """Seconds to the first 10 ms window clearly above the recording's noise floor."""
    win = SR // 100
    n = audio.size // win
    if n == 0:
        return 0.0
    rms = np.sqrt(np.mean(audio[: n * win].reshape(n, win).astype(np.float64) ** 2, axis=1))
    floor, peak = np.percentile(rms, 10), np.percentile(rms, 99)
    above = np.nonzero(rms > floor + 0.1 * (peak - floor))[0]
    return float(above[0] * win / SR) if above.size else 0.0


def _recording(audio: np.ndarray) -> Recording:
    pcm16 = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    step = SR * FRAME_MS // 1000
    return Recording([pcm16[i:i + step].tobytes() for i in range(0, pcm16.size, step)], speech_onset(audio),
                     audio.size / SR)


def generated(count: int = 8) -> list[Recording]:
    """Speech-like audio (harmonics with syllable-rate envelope) between short silences."""
    out = []
    for seed in range(count):
        rng = np.random.default_rng(seed)
        seconds = 1.5 + 0.25 * (seed % 4)
        t = np.arange(int(seconds * SR)) / SR
        f0 = 120 + 40 * np.sin(2 * np.pi * 0.3 * t + seed)
        phase = 2 * np.pi * np.cumsum(f0) / SR
        voice = sum(np.sin(k * phase) / k for k in range(1, 8)) * (0.3 + 0.7 * np.sin(2 * np.pi * 3 * t) ** 2)
        voice = 0.25 * voice / np.abs(voice).max()
        audio = np.concatenate([np.zeros(SR // 4), voice, np.zeros(SR // 4)])
        out.append(_recording((audio + rng.normal(0, 0.0005, audio.size)).astype(np.float32)))
    return out


def from_manifest(path: Path, limit: int, seed: int = 0) -> list[Recording]:
    from speech import load_audio

    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    lines = [x for x in lines if x.get("duration", 0) <= 8.0]  # a live turn, not a monologue
    random.Random(seed).shuffle(lines)
    return [_recording(load_audio(path.parent / item["audio"])) for item in lines[:limit]]


# ---- the server ------------------------------------------------------------------------------

class ServerProcess:
    """`python server.py --port 0 ...` in a subprocess; its port from the ready line, CPU and RSS from /proc."""

    def __init__(self, args: list[str], db: Path):
        cmd = [sys.executable, str(ROOT / "server.py"), "--port", "0", "--db", str(db), "--log-level", "WARNING",
               *args]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.port = None
        self.output: list[str] = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            found = re.search(r"ready: open http://[^:]+:(\d+)/", line)
            if found:
                self.port = int(found.group(1))
                break
        if self.port is None:
            self.stop()
            raise RuntimeError("the server did not start:\n" + "".join(self.output[-30:]))
        threading.Thread(target=self._read_rest, daemon=True).start()

    def _read_rest(self) -> None:
        for line in self.proc.stdout:
            self.output.append(line)
            del self.output[:-200]

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/ws"

    def health(self) -> dict | None:
        import urllib.request

        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=5) as answer:
                return json.loads(answer.read())
        except Exception:  # noqa: BLE001 - a missed sample
            return None

    def pids(self) -> list[int]:
        """The server and its child processes (the reply processes)."""
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            try:
                for task in Path(f"/proc/{pid}/task").iterdir():
                    todo += [int(x) for x in (task / "children").read_text().split()]
            except OSError:
                pass
        return found

    def cpu_seconds(self) -> float:
        """CPU seconds of the server and its children so far (a child that ended no longer counts)."""
        total = 0.0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        return total

    def rss_mb(self) -> float:
        """Resident memory of the server and its children."""
        total = 0.0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) / 1024
            except OSError:
                continue
        return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---- one client ------------------------------------------------------------------------------

@dataclass
class ClientResult:
    first_partial_ms: list[float] = field(default_factory=list)
    endpoint_to_final_ms: list[float] = field(default_factory=list)
    final_to_first_token_ms: list[float] = field(default_factory=list)
    server_endpoint_to_final_ms: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    utterances_done: int = 0
    completed: bool = False

    def fail(self, kind: str) -> None:
        self.failures[kind] = self.failures.get(kind, 0) + 1


class _Receiver:
    """Reads one connection's events, checking `seq`; hands them to whoever waits."""

    def __init__(self, ws, result: ClientResult):
        self.ws, self.result = ws, result
        self.seq = 0
        self.queue: asyncio.Queue = asyncio.Queue()
        self.first_partial_at: float | None = None
        self.speech_at = float("inf")  # wall time of the current recording's speech onset
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            async for frame in self.ws:
                now = time.perf_counter()
                evt = json.loads(frame)
                seq = evt.get("seq")
                if seq != self.seq + 1:
                    self.result.fail("lost" if isinstance(seq, int) and seq > self.seq + 1 else "reordered")
                self.seq = max(self.seq, seq if isinstance(seq, int) else self.seq)
                kind = evt.get("type")
                if kind == "transcript.partial":
                    if self.first_partial_at is None and evt.get("text") and now >= self.speech_at:
                        self.first_partial_at = now
                    continue  # only the first one matters here
                if kind == "error" and evt.get("code") in ("overloaded", "rate_limited"):
                    self.result.fail(evt["code"])
                    continue
                await self.queue.put((now, evt))
        except ConnectionClosed:
            pass
        await self.queue.put((time.perf_counter(), None))

    async def until(self, kinds: tuple[str, ...], timeout: float) -> tuple[float, dict] | None:
        """The next event of one of `kinds`; None on timeout or close (counted); fatal errors end the wait."""
        deadline = time.perf_counter() + timeout
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                self.result.fail("timeout")
                return None
            try:
                at, evt = await asyncio.wait_for(self.queue.get(), left)
            except asyncio.TimeoutError:
                self.result.fail("timeout")
                return None
            if evt is None:
                self.result.fail("closed")
                return None
            if evt["type"] == "error":
                self.result.fail(evt.get("code", "error"))
                if evt.get("fatal"):
                    return None
                continue
            if evt["type"] in kinds:
                return at, evt


async def one_client(url: str, recordings: list[Recording], utterances: int, delay: float, offset: int,
                     result: ClientResult, pause: float = 0.0) -> None:
    await asyncio.sleep(delay)
    try:
        ws = await connect(url, open_timeout=30, close_timeout=5, max_size=2 ** 22, compression=None)
    except Exception as exc:  # noqa: BLE001 - any refusal is a failure of this run
        result.fail(f"connect:{type(exc).__name__}")
        return
    try:
        rx = _Receiver(ws, result)
        got = await rx.until(("server.info",), 30)
        if got is None:
            return
        await ws.send(json.dumps({"type": "session.start", "protocol": 1, "vad": {"mode": "client"}}))
        if await rx.until(("session.started",), 30) is None:
            return
        for u in range(utterances):
            if u and pause:
                await asyncio.sleep(pause)  # the person listens to the reply before speaking again
            rec = recordings[(offset + u) % len(recordings)]
            rx.first_partial_at = None
            t0 = time.perf_counter()
            rx.speech_at = t0 + rec.onset  # a partial before it (noise heard as words) does not count
            for k, frame in enumerate(rec.pcm):
                # frame k holds audio [k, k+1) * 100 ms: sent when that audio would have been recorded
                await asyncio.sleep(max(0.0, t0 + (k + 1) * FRAME_MS / 1000 - time.perf_counter()))
                await ws.send(frame)
            await ws.send(json.dumps({"type": "audio.end"}))
            ended = time.perf_counter()
            got = await rx.until(("transcript.final",), FINAL_TIMEOUT)
            if got is None:
                return
            final_at, _ = got
            result.endpoint_to_final_ms.append((final_at - ended) * 1000)
            if rx.first_partial_at is not None:
                result.first_partial_ms.append((rx.first_partial_at - (t0 + rec.onset)) * 1000)
            else:
                result.fail("no_partial")
            got = await rx.until(("reply.delta", "reply.done"), REPLY_TIMEOUT)
            if got is None:
                return
            if got[1]["type"] == "reply.delta":
                result.final_to_first_token_ms.append((got[0] - final_at) * 1000)
                if await rx.until(("reply.done",), REPLY_TIMEOUT) is None:
                    return
            got = await rx.until(("metrics",), REPLY_TIMEOUT)
            if got is None:
                return
            if got[1].get("endpoint_to_final_ms") is not None:
                result.server_endpoint_to_final_ms.append(got[1]["endpoint_to_final_ms"])
            result.utterances_done += 1
        await ws.send(json.dumps({"type": "session.end"}))
        await rx.until(("session.ended",), 30)
        result.completed = True
    except ConnectionClosed:
        result.fail("closed")
    finally:
        await ws.close()
        try:
            await asyncio.wait_for(rx.task, 5)
        except (asyncio.TimeoutError, NameError):
            pass


# ---- one run ---------------------------------------------------------------------------------

def percentiles(values: list[float]) -> dict | None:
    if not values:
        return None
    a = np.asarray(values)
    return {"p50": round(float(np.percentile(a, 50)), 1), "p95": round(float(np.percentile(a, 95)), 1),
            "p99": round(float(np.percentile(a, 99)), 1), "max": round(float(a.max()), 1), "n": int(a.size)}


async def _clients(url: str, sessions: int, recordings: list[Recording], utterances: int, ramp: float,
                   server: ServerProcess, pause: float) -> tuple[list[ClientResult], dict]:
    results = [ClientResult() for _ in range(sessions)]
    rng = random.Random(sessions)
    tasks = [asyncio.create_task(one_client(url, recordings, utterances, rng.uniform(0, ramp), i, r, pause))
             for i, r in enumerate(results)]
    cpu0, wall0, rss, own0 = server.cpu_seconds(), time.perf_counter(), server.rss_mb(), time.process_time()
    samples, loads = [], []
    while not all(t.done() for t in tasks):
        await asyncio.sleep(0.5)
        rss = max(rss, server.rss_mb())
        samples.append((time.perf_counter(), server.cpu_seconds()))
        loads.append(await asyncio.to_thread(server.health))
    await asyncio.gather(*tasks, return_exceptions=True)
    wall = time.perf_counter() - wall0
    cpu = server.cpu_seconds() - cpu0
    # the busiest 5 s (all sessions streaming): the mean hides the ramp-up and the tail
    peak = 0.0
    for i, (t, c) in enumerate(samples):
        j = next((j for j in range(i, len(samples)) if samples[j][0] - t >= 5.0), None)
        if j is not None:
            peak = max(peak, (samples[j][1] - c) / (samples[j][0] - t))
    measured = {}  # what the server's admission check saw (/healthz), busiest moment
    for key in ("worker_utilization", "search_utilization", "audio_lag_seconds"):
        values = [x["load"][key] for x in loads if x and key in x.get("load", {})]
        measured[f"server_{key}_max"] = round(max(values), 3) if values else None
    return results, {**measured, "wall_seconds": round(wall, 1), "server_cpu_percent_mean": round(100 * cpu / wall, 1),
                     "client_cpu_percent_mean": round(100 * (time.process_time() - own0) / wall, 1),
                     "server_cpu_percent_peak_5s": round(100 * peak, 1), "server_rss_mb_peak": round(rss, 1)}


def run_one(sessions: int, recordings: list[Recording], utterances: int, server_args: list[str],
            ramp: float | None = None, pause: float = 0.0) -> dict:
    ramp = min(5.0, 0.02 * sessions) if ramp is None else ramp
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(["--max-sessions", str(max(sessions * 2, 16)), *server_args], Path(tmp) / "load.db")
        try:
            results, usage = asyncio.run(_clients(server.url, sessions, recordings, utterances, ramp, server, pause))
        finally:
            server.stop()
    failures: dict[str, int] = {}
    for r in results:
        for kind, count in r.failures.items():
            failures[kind] = failures.get(kind, 0) + count
    row = {
        "sessions": sessions,
        "completed_sessions": sum(r.completed for r in results),
        "utterances": sum(r.utterances_done for r in results),
        "first_partial_ms": percentiles([x for r in results for x in r.first_partial_ms]),
        "endpoint_to_final_ms": percentiles([x for r in results for x in r.endpoint_to_final_ms]),
        "final_to_first_token_ms": percentiles([x for r in results for x in r.final_to_first_token_ms]),
        "server_endpoint_to_final_ms": percentiles([x for r in results for x in r.server_endpoint_to_final_ms]),
        "failures": failures,
        **usage,
    }
    row["meets_targets"] = meets_targets(row)
    return row


def meets_targets(row: dict) -> bool:
    if row["completed_sessions"] != row["sessions"] or row["failures"]:
        return False
    return all(row[name] is not None and row[name]["p95"] <= limit for name, limit in TARGETS.items())


def plot(rows: list[dict], path: Path, title: str) -> None:
    try:
        import matplotlib
    except ImportError:  # matplotlib is a bench extra (`pip install -e '.[bench]'`); the JSON is the result
        print(f"no plot: matplotlib is not installed (pip install -e '.[bench]'); {path} not written")
        return

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, cpu_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    xs = [r["sessions"] for r in rows]
    for (name, label), color in zip([("endpoint_to_final_ms", "end of speech -> final"),
                                     ("first_partial_ms", "speech start -> first partial"),
                                     ("final_to_first_token_ms", "final -> first reply token")],
                                    ("tab:blue", "tab:orange", "tab:green")):
        ys = [r[name]["p95"] if r[name] else np.nan for r in rows]
        ax.plot(xs, ys, "o-", color=color, label=f"p95 {label}")
        ax.axhline(TARGETS[name], color=color, linestyle=":", linewidth=1)
    for r in rows:
        if r["failures"] or r["completed_sessions"] != r["sessions"]:
            ax.annotate("fail", (r["sessions"], 1), color="red", ha="center", fontsize=8)
    ax.set_yscale("log")
    ax.set_xlabel("concurrent sessions")
    ax.set_ylabel("ms (dotted: targets)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    cpu_ax.plot(xs, [r["server_cpu_percent_peak_5s"] for r in rows], "o-", label="server CPU, busiest 5 s (%)")
    cpu_ax.plot(xs, [r["server_cpu_percent_mean"] for r in rows], "o--", label="server CPU, mean (%)")
    rss_ax = cpu_ax.twinx()
    rss_ax.plot(xs, [r["server_rss_mb_peak"] for r in rows], "s-", color="gray", label="server RSS (MB)")
    cpu_ax.set_xlabel("concurrent sessions")
    cpu_ax.set_ylabel("% of one core")
    rss_ax.set_ylabel("MB")
    cpu_ax.legend(loc="upper left", fontsize=8)
    rss_ax.legend(loc="lower right", fontsize=8)
    cpu_ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", nargs="?", default=None, help=f"JSONL manifest (default {DEFAULT_MANIFEST})")
    parser.add_argument("--generated", action="store_true", help="generated speech-like audio, no manifest")
    parser.add_argument("--sessions", type=int, nargs="+", default=list(DEFAULT_SESSIONS))
    parser.add_argument("--utterances", type=int, default=3, help="recordings each session speaks, one by one")
    parser.add_argument("--recordings", type=int, default=64, help="distinct recordings taken from the manifest")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds each client waits after a reply before "
                                                                  "its next recording (default 0: speaks again at once)")
    parser.add_argument("--ramp", type=float, default=None, help="seconds over which clients connect "
                                                                 "(default min(5, 0.02 N))")
    parser.add_argument("--no-batching", action="store_true", help="server without cross-session batching")
    parser.add_argument("--stop-after-failures", type=int, default=2,
                        help="stop after this many Ns in a row miss the targets (0: run them all)")
    parser.add_argument("--server-arg", action="append", default=[], help="extra server argument (repeatable), "
                                                                          "e.g. --server-arg=--threads=1")
    parser.add_argument("--out", default=None, help="output path without suffix (default bench/results/"
                                                    "load_test, or load_test_no_batching)")
    parser.add_argument("--note", default="", help="free text stored with the results (machine, background load)")
    args = parser.parse_args(argv)

    manifest = Path(args.manifest) if args.manifest else DEFAULT_MANIFEST
    if args.generated or not manifest.is_file():
        if not args.generated:
            print(f"(no manifest at {manifest}: generated audio)", flush=True)
        recordings, source = generated(), "generated"
    else:
        recordings, source = from_manifest(manifest, args.recordings), str(manifest)
    server_args = list(args.server_arg) + (["--no-batching"] if args.no_batching else [])
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / (
        "load_test_no_batching" if args.no_batching else "load_test")
    rows, misses = [], 0
    print("| N | done | first partial p50/p95 | end->final p50/p95/p99 | final->token p50/p95 | failures | "
          "CPU peak % | RSS MB |", flush=True)
    for n in args.sessions:
        row = run_one(n, recordings, args.utterances, server_args, args.ramp, args.pause)
        rows.append(row)
        fmt = lambda s, keys=("p50", "p95"): "/".join(f"{s[k]:.0f}" for k in keys) if s else "n/a"  # noqa: E731
        print(f"| {n} | {row['completed_sessions']} | {fmt(row['first_partial_ms'])} | "
              f"{fmt(row['endpoint_to_final_ms'], ('p50', 'p95', 'p99'))} | {fmt(row['final_to_first_token_ms'])} | "
              f"{row['failures'] or '-'} | {row['server_cpu_percent_peak_5s']:.0f} | {row['server_rss_mb_peak']:.0f} |",
              flush=True)
        misses = 0 if row["meets_targets"] else misses + 1
        if args.stop_after_failures and misses >= args.stop_after_failures:
            print(f"(stopping: {misses} sizes in a row miss the targets)", flush=True)
            break
    passing = [r["sessions"] for r in rows if r["meets_targets"]]
    report = {
        "audio": source, "recordings": len(recordings), "utterances_per_session": args.utterances,
        "frame_ms": FRAME_MS, "pause_seconds": args.pause, "batching": not args.no_batching, "server_args": server_args,
        "targets_ms_p95": TARGETS, "machine": f"{os.cpu_count()} CPUs, {_cpu_name()}", "note": args.note,
        "max_sessions_meeting_targets": max(passing) if passing else None,
        "runs": rows,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    plot(rows, out.with_suffix(".png"), f"{'batched' if not args.no_batching else 'no batching'}, "
                                        f"{report['machine']}; max N meeting targets: "
                                        f"{report['max_sessions_meeting_targets']}")
    print(f"largest N meeting the targets: {report['max_sessions_meeting_targets']}; wrote {out}.json/.png")
    return report


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
