"""The wire protocol: parsing with stable error codes, event encoding, and the documented tables."""
import json
import re
from pathlib import Path

import pytest

from assistant import protocol
from assistant.protocol import CLIENT_MESSAGES, ERROR_CODES, SERVER_EVENTS, ProtocolError, parse

ROOT = Path(__file__).resolve().parents[1]


# ---- parsing -------------------------------------------------------------------------------

def test_parse_session_start_keeps_known_fields_and_ignores_unknown():
    msg = parse(json.dumps({
        "type": "session.start", "protocol": 1, "conversation_id": "abc", "future_field": 3,
        "audio": {"sample_rate": 16000, "encoding": "pcm16"},
        "asr": {"partials": True, "hotwords": ["kitchen"]}, "vad": {"mode": "client", "silence_ms": 500},
        "reply": {"strategy": "greedy", "max_length": 20},
    }))
    assert msg.type == "session.start"
    assert msg.get("conversation_id") == "abc"
    assert msg.get("asr")["hotwords"] == ["kitchen"]
    assert msg.get("reply") == {"strategy": "greedy", "max_length": 20}
    assert "future_field" not in msg.data


def test_parse_binary_frames():
    frame = parse(b"\x00\x01" * 160)
    assert isinstance(frame, protocol.AudioFrame)
    assert frame.num_samples == 160 and frame.duration_ms == pytest.approx(10.0)


@pytest.mark.parametrize("frame, code", [
    ("{not json", "bad_json"),
    ("[1, 2]", "bad_message"),
    ('{"text": "no type"}', "bad_message"),
    ('{"type": 5}', "bad_message"),
    ('{"type": "launch.rockets"}', "unknown_type"),
    ('{"type": "binary"}', "unknown_type"),
    ('{"type": "text.input"}', "bad_field"),
    ('{"type": "text.input", "text": 42}', "bad_field"),
    ('{"type": "session.start", "asr": {"hotwords": "notalist"}}', "bad_field"),
    ('{"type": "session.start", "vad": {"mode": "psychic"}}', "bad_field"),
    ('{"type": "session.start", "asr": {"partials": "yes"}}', "bad_field"),
    ('{"type": "session.start", "protocol": 2}', "unsupported_protocol"),
    ('{"type": "session.start", "audio": {"sample_rate": 44100}}', "unsupported_audio"),
    ('{"type": "session.start", "audio": {"encoding": "opus"}}', "unsupported_audio"),
    ('{"type": "text.input", "text": "' + "x" * 3000 + '"}', "too_large"),
    ("{" * 100000, "too_large"),
    (b"\x00" * 33000, "too_large"),
    (b"\x00" * 3, "bad_audio"),
    (b"", "bad_audio"),
])
def test_malformed_frames_have_stable_codes(frame, code):
    with pytest.raises(ProtocolError) as info:
        parse(frame)
    assert info.value.code == code
    assert info.value.code in ERROR_CODES
    assert info.value.message


def test_limits_are_parameters():
    with pytest.raises(ProtocolError) as info:
        parse(b"\x00" * 400, max_audio_bytes=320)
    assert info.value.code == "too_large"
    with pytest.raises(ProtocolError):
        parse('{"type": "text.input", "text": "hello"}', max_text_chars=3)


def test_events_dump_with_seq_and_reject_unknown_fields():
    seq = protocol.Sequencer()
    first = json.loads(seq.dump(protocol.event("pong")))
    second = json.loads(seq.dump(protocol.error_event("bad_json", "nope")))
    assert first == {"type": "pong", "seq": 1}
    assert second == {"type": "error", "code": "bad_json", "message": "nope", "fatal": False, "seq": 2}
    with pytest.raises(AssertionError):
        protocol.event("reply.delta", reply_id="r", text="x", colour="red")


# ---- the documented tables match the code ---------------------------------------------------

def _top_level_names(cell: str) -> list[str]:
    """Backticked names outside {...}, [...] and (...)."""
    depth, out, i = 0, [], 0
    while i < len(cell):
        ch = cell[i]
        if ch in "{[(":
            depth += 1
        elif ch in "}])":
            depth -= 1
        elif ch == "`":
            end = cell.index("`", i + 1)
            if depth == 0:
                out.append(cell[i + 1:end])
            i = end
        i += 1
    return out


def _nested_names(cell: str) -> dict[str, list[str]]:
    """`name` {`a`, `b`} or `name` [{`a`}] -> {"name": ["a", "b"]}."""
    return {m.group(1): re.findall(r"`([^`]+)`", m.group(2))
            for m in re.finditer(r"`([^`]+)`\s*\[?\{([^}]*)\}", cell)}


def _tables(text: str) -> dict[str, list[list[str]]]:
    """Markdown tables keyed by their header row (cells joined by '|')."""
    tables: dict[str, list[list[str]]] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|") and i + 1 < len(lines) and re.match(r"^\|\s*-{3}", lines[i + 1]):
            header = "|".join(c.strip() for c in line.strip().strip("|").split("|"))
            rows = []
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                rows.append([c.strip() for c in row.strip().strip("|").split("|")])
            tables.setdefault(header, rows)
    return tables


def _check_tables(text: str, where: str) -> None:
    tables = _tables(text)
    assert "type|fields|meaning" in tables, f"{where}: no client message table"
    assert "type|fields" in tables, f"{where}: no server event table"
    for header, specs in (("type|fields|meaning", CLIENT_MESSAGES), ("type|fields", SERVER_EVENTS)):
        documented: dict[str, str] = {}
        for cells in tables[header]:
            types = re.findall(r"`([^`]+)`", cells[0]) or [cells[0]]
            for kind in types:
                documented[kind] = cells[1]
        assert sorted(documented) == sorted(specs), f"{where}: {header} table types differ from protocol.py"
        for kind, cell in documented.items():
            spec = specs[kind]
            if kind == "binary":
                assert "PCM16" in cell
                continue
            names = [f.name for f in spec.fields]
            assert _top_level_names(cell) == names, f"{where}: fields of {kind}"
            for sub_name, sub_fields in _nested_names(cell).items():
                assert sub_fields == [f.name for f in spec.field(sub_name).fields], f"{where}: {kind}.{sub_name}"
    if "code|sent when" in tables:
        codes = [re.findall(r"`([^`]+)`", cells[0])[0] for cells in tables["code|sent when"]]
        assert codes == list(ERROR_CODES), f"{where}: error codes differ from protocol.py"


def test_docs_protocol_tables_match_code():
    text = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
    assert protocol.markdown_tables() in text, "regenerate docs/protocol.md from markdown_tables()"
    _check_tables(text, "docs/protocol.md")


def test_readme_protocol_tables_match_code():
    """The README points to docs/protocol.md (checked above); any protocol table it still carries must match."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/protocol.md" in text, "README.md must link the protocol (docs/protocol.md)"
    if "| type | fields |" in text:
        _check_tables(text, "README.md")


def test_every_event_field_kind_is_known():
    for specs in (CLIENT_MESSAGES, SERVER_EVENTS):
        for spec in specs.values():
            for item in spec.fields:
                assert item.kind in {"string", "integer", "number", "boolean", "object", "strings", "list", "any"}
