"""Small shared helpers: atomic JSONL writes, tool checks with apt-get installs."""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable

__all__ = ["write_jsonl_atomic", "write_text_atomic", "read_jsonl", "ensure_tools", "apt_install", "fetch_deb", "write_flac_16k"]

log = logging.getLogger(__name__)
_apt_updated = False


def write_text_atomic(path: Path, text: str) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_jsonl_atomic(path: Path, rows: Iterable[dict]) -> None:
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                log.warning("skipping a broken line in %s", path)
    return rows


def apt_install(packages: list[str]) -> None:
    """apt-get install the Debian packages (needs root, or sudo without a password)."""
    global _apt_updated
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log.warning("installing Debian packages: %s (apt-get; needs root)", " ".join(packages))
    if not _apt_updated:
        subprocess.run(prefix + ["apt-get", "update"], check=False, env=env)
        _apt_updated = True
    subprocess.run(prefix + ["apt-get", "install", "-y", "--no-install-recommends", *packages], check=True, env=env)


def ensure_tools(tools: dict[str, str], required: bool = True) -> list[str]:
    """Make sure each executable in `tools` (name -> Debian package) is on PATH; apt-get the missing ones.

    Returns the tools that are available afterwards. With required=True a failed install raises
    RuntimeError naming the package to install by hand.
    """
    missing = {t: p for t, p in tools.items() if shutil.which(t) is None}
    if missing:
        log.warning("missing tools %s: installing Debian packages %s", sorted(missing), sorted(set(missing.values())))
        try:
            apt_install(sorted(set(missing.values())))
        except (subprocess.CalledProcessError, FileNotFoundError) as exc:
            msg = (f"could not install {sorted(set(missing.values()))} ({exc}); install them with "
                   f"`sudo apt-get install {' '.join(sorted(set(missing.values())))}` and rerun")
            if required:
                raise RuntimeError(msg) from exc
            log.warning(msg)
    return [t for t in tools if shutil.which(t) is not None]


def fetch_deb(package: str, downloads: Path, marker: str | None = None) -> Path:
    """apt-get download + dpkg -x `package` into downloads/<package>/ (no install, no root needed for the
    unpack); returns that folder. Done once: a `.unpacked` file (or the package path `marker`) says so."""
    root = downloads / package
    if (root / ".unpacked").exists() or (marker and (root / marker).exists()):
        return root
    downloads.mkdir(parents=True, exist_ok=True)
    debs = sorted(downloads.glob(f"{package}_*.deb"))
    if not debs:
        log.info("apt-get download %s", package)
        subprocess.run(["apt-get", "download", package], cwd=downloads, check=True)
        debs = sorted(downloads.glob(f"{package}_*.deb"))
    subprocess.run(["dpkg", "-x", str(debs[-1]), str(root)], check=True)
    (root / ".unpacked").write_text(debs[-1].name + "\n")
    return root


def write_flac_16k(path: Path, x, sr: int):
    """Mono float audio at any rate -> 16 kHz PCM_16 FLAC at `path` (atomically: temporary file + rename),
    peaks above 0.999 scaled down rather than clipped. Returns the 16 kHz samples."""
    import numpy as np
    import soundfile as sf
    from scipy.signal import resample_poly

    x = np.asarray(x, dtype=np.float32)
    if sr != 16000:
        g = int(np.gcd(16000, sr))
        x = resample_poly(x, 16000 // g, sr // g).astype(np.float32)
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if peak > 0.999:
        x = x * (0.999 / peak)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.flac")
    sf.write(tmp, x, 16000, subtype="PCM_16", format="FLAC")
    tmp.replace(path)
    return x
