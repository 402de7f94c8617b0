"""Keeps the dependency direction of DESIGN.md section 2 true by reading every import."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package -> top-level modules it must never import
FORBIDDEN = {
    "speech": {"dialogue", "assistant", "server", "websockets", "sqlite_utils"},
    "dialogue": {"speech", "assistant", "server", "websockets", "sqlite_utils", "torchaudio", "librosa"},
    "assistant": {"server", "websockets"},
}
# The terminal's --url mode is the one place in assistant allowed to speak websockets.
ALLOWED = {("assistant", "websockets"): {"assistant/ws_client.py"}}


def imported_top_levels(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def package_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_dependency_direction(package):
    files = package_files(package)
    assert files, f"package {package} has no Python files"
    problems = []
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        for name in imported_top_levels(path) & FORBIDDEN[package]:
            if rel in ALLOWED.get((package, name), set()):
                continue
            problems.append(f"{rel} imports {name}")
    assert not problems, "dependency direction broken:\n" + "\n".join(problems)


def test_checker_sees_violations(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nfrom websockets.asyncio import client\nimport sqlite_utils as s\n")
    assert {"websockets", "sqlite_utils"} <= imported_top_levels(bad)
