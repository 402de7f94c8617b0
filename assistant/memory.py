"""Conversation memory: conversations and their turns in SQLite, through sqlite-utils.

- Migrations are applied on open; `schema_migrations` records each applied version.
- WAL mode, so readers (the `assistant history` command, exports) never block the server.
- One transaction per exchange: the user turn and the assistant turn are written together, so a
  crash never leaves half an exchange.
- Safe across threads: one connection opened with `check_same_thread=False`, every use under a lock.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

from .config import DEFAULT_DB_PATH

__all__ = ["Memory", "UserTurn", "AssistantTurn", "ConversationNotFound", "SCHEMA_VERSION"]

log = logging.getLogger(__name__)

ROLES = ("user", "assistant")
SOURCES = ("voice", "text")


class ConversationNotFound(LookupError):
    """No stored conversation has this id."""

    def __init__(self, conversation_id: str):
        super().__init__(f"no conversation with id {conversation_id!r}")
        self.conversation_id = conversation_id


@dataclass
class UserTurn:
    text: str  # what the person said (final transcript) or typed
    source: str = "text"  # "voice" | "text"
    utterance_id: str | None = None  # the protocol's utterance_id for spoken turns
    audio_seconds: float | None = None  # length of the utterance audio
    asr_confidence: float | None = None  # transcript confidence, 0..1
    asr_words: list[dict[str, Any]] | None = None  # [{word, start, end, confidence}]
    created_at: str | None = None  # ISO timestamp; now when None


@dataclass
class AssistantTurn:
    text: str  # the reply text that was delivered (only that part when interrupted or cancelled)
    finish_reason: str  # "eos" | "length" | "cancelled" | "interrupted"
    reply_id: str | None = None  # the protocol's reply_id
    confidence: float | None = None  # mean token log-probability of the reply
    latencies: dict[str, float | None] = field(default_factory=dict)  # ms: first_partial, endpoint_to_final, ...
    created_at: str | None = None  # ISO timestamp; now when None


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="microseconds")


# ---- migrations: append only; never edit one that has shipped ------------------------------

def _m1_conversations_and_turns(db: sqlite_utils.Database) -> None:
    db["conversations"].create(
        {"id": str, "title": str, "created_at": str, "updated_at": str, "metadata": str},
        pk="id",
    )
    db["turns"].create(
        {
            "id": int,
            "conversation_id": str,
            "exchange": int,  # 1, 2, ... within the conversation; both turns of an exchange share it
            "role": str,  # user | assistant
            "text": str,
            "created_at": str,
            "source": str,  # user turns: voice | text
            "utterance_id": str,
            "audio_seconds": float,
            "asr_confidence": float,
            "asr_words": str,  # JSON list
            "reply_id": str,
            "finish_reason": str,
            "reply_confidence": float,
            "latencies": str,  # JSON object, milliseconds
        },
        pk="id",
        foreign_keys=[("conversation_id", "conversations", "id")],
        not_null={"conversation_id", "exchange", "role", "text", "created_at"},
    )
    db["turns"].create_index(["conversation_id", "exchange", "id"])
    db["conversations"].create_index(["updated_at"])


def _m2_skills(db: sqlite_utils.Database) -> None:
    """The skills' state (assistant.skills), in this file so that it survives a restart with the turns.

    Times of timers are epoch seconds (REAL), so that due timers are one comparison with any clock."""
    db["timers"].create(
        {
            "id": int,
            "conversation_id": str,  # where it was set, and where it is announced
            "owner": str,
            "kind": str,  # timer | alarm (reminders are alarms with a label)
            "label": str,
            "duration": float,  # seconds a timer was set for; NULL for alarms
            "created_at": float,
            "due_at": float,
            "fired_at": float,
            "delivered_at": float,
            "cancelled_at": float,
        },
        pk="id",
        not_null={"conversation_id", "owner", "kind", "created_at", "due_at"},
    )
    db["timers"].create_index(["due_at"])
    db["timers"].create_index(["owner", "kind"])
    db["list_items"].create(
        {"id": int, "owner": str, "list": str, "item": str, "created_at": str},
        pk="id",
        not_null={"owner", "list", "item", "created_at"},
    )
    db["list_items"].create_index(["owner", "list"])
    db["user_facts"].create(
        {"owner": str, "fact": str, "value": str, "updated_at": str},
        pk=("owner", "fact"),
        not_null={"value", "updated_at"},
    )


MIGRATIONS: list[tuple[int, str, Callable[[sqlite_utils.Database], None]]] = [
    (1, "conversations and turns", _m1_conversations_and_turns),
    (2, "skills: timers, lists, user facts", _m2_skills),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


class Memory:
    """The conversation store. `Memory(path)` opens (creating and migrating) the database."""

    def __init__(self, path: str | Path = DEFAULT_DB_PATH):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: no implicit transactions; `_transaction` issues BEGIN/COMMIT itself.
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30.0)
        self._lock = threading.RLock()
        self.db = sqlite_utils.Database(conn)
        self._closed = False
        with self._lock:
            if self.path != ":memory:":
                self.db.enable_wal()
            self.db.execute("PRAGMA foreign_keys = ON")
            self.db.execute("PRAGMA synchronous = NORMAL")  # safe with WAL; a crash loses no committed exchange
            self._migrate()

    # ---- plumbing ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite_utils.Database]:
        """One SQLite transaction under the lock: all or nothing."""
        with self._lock:
            self._check_open()
            conn = self.db.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"Memory({self.path!r}) is closed")

    def _migrate(self) -> None:
        if "schema_migrations" not in self.db.table_names():
            self.db["schema_migrations"].create({"version": int, "name": str, "applied_at": str}, pk="version")
        applied = {row["version"] for row in self.db["schema_migrations"].rows}
        newest = max(applied, default=0)
        if newest > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} has schema version {newest}, newer than this code knows ({SCHEMA_VERSION}); "
                "upgrade the assistant package"
            )
        for version, name, migrate in MIGRATIONS:
            if version in applied:
                continue
            with self._transaction() as db:
                migrate(db)
                db.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                    [version, name, _now()],
                )
            log.info("applied migration %d (%s) to %s", version, name, self.path)

    @property
    def schema_version(self) -> int:
        with self._lock:
            row = self.db.execute("SELECT max(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)

    def transaction(self) -> contextlib.AbstractContextManager[sqlite_utils.Database]:
        """One transaction under the lock, for code that keeps its own tables here (assistant.skills)."""
        return self._transaction()

    def query(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """The rows of one read query, under the lock (a consistent snapshot)."""
        with self._lock:
            self._check_open()
            return list(self.db.query(sql, list(params)))

    def close(self) -> None:
        """Checkpoint the WAL into the main file and close. Idempotent."""
        with self._lock:
            if self._closed:
                return
            if self.path != ":memory:":
                try:
                    self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                except sqlite3.Error as exc:  # another reader holds the WAL; the data is committed anyway
                    log.warning("WAL checkpoint skipped: %s", exc)
            self.db.conn.close()
            self._closed = True

    def __enter__(self) -> "Memory":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- conversations -----------------------------------------------------------------------

    def create_conversation(self, title: str | None = None, metadata: dict[str, Any] | None = None,
                            conversation_id: str | None = None) -> str:
        """Store a new, empty conversation and return its id."""
        conversation_id = conversation_id or uuid.uuid4().hex
        now = _now()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO conversations (id, title, created_at, updated_at, metadata) VALUES (?, ?, ?, ?, ?)",
                [conversation_id, title, now, now, json.dumps(metadata or {})],
            )
        return conversation_id

    def has_conversation(self, conversation_id: str) -> bool:
        with self._lock:
            self._check_open()
            row = self.db.execute("SELECT 1 FROM conversations WHERE id = ?", [conversation_id]).fetchone()
        return row is not None

    def get_conversation(self, conversation_id: str) -> dict[str, Any]:
        """The conversation row with `turn_count`; `ConversationNotFound` when unknown."""
        with self._lock:
            self._check_open()
            rows = list(self.db.query(
                "SELECT c.*, (SELECT count(*) FROM turns t WHERE t.conversation_id = c.id) AS turn_count "
                "FROM conversations c WHERE c.id = ?",
                [conversation_id],
            ))
        if not rows:
            raise ConversationNotFound(conversation_id)
        return self._conversation_row(rows[0])

    def list_conversations(self, limit: int = 50, offset: int = 0, include_empty: bool = False
                           ) -> list[dict[str, Any]]:
        """Most recently updated first, each with `turn_count` and the `last_text` said.

        Conversations without turns (a session opened and nothing said) are left out unless
        `include_empty`."""
        if limit <= 0 or offset < 0:
            raise ValueError(f"limit={limit}, offset={offset}; need limit > 0 and offset >= 0")
        where = "" if include_empty else "WHERE EXISTS (SELECT 1 FROM turns t WHERE t.conversation_id = c.id) "
        with self._lock:
            self._check_open()
            rows = list(self.db.query(
                "SELECT c.*, "
                "(SELECT count(*) FROM turns t WHERE t.conversation_id = c.id) AS turn_count, "
                "(SELECT text FROM turns t WHERE t.conversation_id = c.id ORDER BY t.id DESC LIMIT 1) AS last_text "
                f"FROM conversations c {where}ORDER BY c.updated_at DESC, c.rowid DESC LIMIT ? OFFSET ?",
                [limit, offset],
            ))
        return [self._conversation_row(row) for row in rows]

    @staticmethod
    def _conversation_row(row: dict[str, Any]) -> dict[str, Any]:
        row = dict(row)
        row["metadata"] = json.loads(row["metadata"]) if row.get("metadata") else {}
        return row

    # ---- turns -------------------------------------------------------------------------------

    def add_exchange(self, conversation_id: str, user: UserTurn, reply: AssistantTurn,
                     create: bool = True) -> tuple[int, int]:
        """Write one exchange (the user turn and the assistant turn) in one transaction.

        With `create=True` an unknown `conversation_id` is created in the same transaction.
        Returns the two turn ids.
        """
        if user.source not in SOURCES:
            raise ValueError(f"user.source={user.source!r}; valid choices: {', '.join(SOURCES)}")
        now = _now()
        with self._transaction() as db:
            exists = db.execute("SELECT 1 FROM conversations WHERE id = ?", [conversation_id]).fetchone()
            if not exists:
                if not create:
                    raise ConversationNotFound(conversation_id)
                db.execute(
                    "INSERT INTO conversations (id, title, created_at, updated_at, metadata) VALUES (?, ?, ?, ?, ?)",
                    [conversation_id, user.text[:80], now, now, "{}"],
                )
            elif not db.execute("SELECT title FROM conversations WHERE id = ?", [conversation_id]).fetchone()[0]:
                db.execute("UPDATE conversations SET title = ? WHERE id = ?", [user.text[:80], conversation_id])
            row = db.execute(
                "SELECT coalesce(max(exchange), 0) + 1 FROM turns WHERE conversation_id = ?", [conversation_id]
            ).fetchone()
            exchange = int(row[0])
            user_id = db.execute(
                "INSERT INTO turns (conversation_id, exchange, role, text, created_at, source, utterance_id, "
                "audio_seconds, asr_confidence, asr_words) VALUES (?, ?, 'user', ?, ?, ?, ?, ?, ?, ?)",
                [conversation_id, exchange, user.text, user.created_at or now, user.source, user.utterance_id,
                 user.audio_seconds, user.asr_confidence,
                 json.dumps(user.asr_words) if user.asr_words is not None else None],
            ).lastrowid
            reply_id = db.execute(
                "INSERT INTO turns (conversation_id, exchange, role, text, created_at, reply_id, finish_reason, "
                "reply_confidence, latencies) VALUES (?, ?, 'assistant', ?, ?, ?, ?, ?, ?)",
                [conversation_id, exchange, reply.text, reply.created_at or now, reply.reply_id,
                 reply.finish_reason, reply.confidence, json.dumps(reply.latencies or {})],
            ).lastrowid
            db.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", [now, conversation_id])
        return int(user_id), int(reply_id)

    def recent_turns(self, conversation_id: str, limit: int = 6) -> list[dict[str, Any]]:
        """The last `limit` turns of a conversation, oldest first (empty for an unknown id)."""
        if limit < 0:
            raise ValueError(f"limit={limit}; must be >= 0")
        if limit == 0:
            return []
        with self._lock:
            self._check_open()
            rows = list(self.db.query(
                "SELECT * FROM turns WHERE conversation_id = ? ORDER BY id DESC LIMIT ?",
                [conversation_id, limit],
            ))
        return [self._turn_row(row) for row in reversed(rows)]

    def history(self, conversation_id: str, limit: int = 6) -> list[str]:
        """The texts of the last `limit` turns, oldest first: the dialogue model's `history`."""
        return [turn["text"] for turn in self.recent_turns(conversation_id, limit)]

    @staticmethod
    def _turn_row(row: dict[str, Any]) -> dict[str, Any]:
        row = dict(row)
        row["asr_words"] = json.loads(row["asr_words"]) if row.get("asr_words") else None
        row["latencies"] = json.loads(row["latencies"]) if row.get("latencies") else None
        return row

    def export_conversation(self, conversation_id: str) -> dict[str, Any]:
        """The whole conversation as JSON-able data: {"conversation": {...}, "turns": [...]}.

        Raises `ConversationNotFound` for an unknown id.
        """
        with self._lock:  # one consistent snapshot of both queries
            conversation = self.get_conversation(conversation_id)
            turns = [self._turn_row(row) for row in self.db.query(
                "SELECT * FROM turns WHERE conversation_id = ? ORDER BY id", [conversation_id]
            )]
        return {"format": "assistant-conversation", "version": 1, "conversation": conversation, "turns": turns}

    def stats(self) -> dict[str, int]:
        with self._lock:
            self._check_open()
            conversations = self.db.execute("SELECT count(*) FROM conversations").fetchone()[0]
            turns = self.db.execute("SELECT count(*) FROM turns").fetchone()[0]
        return {"conversations": int(conversations), "turns": int(turns)}

    def check_integrity(self) -> list[str]:
        """Problems found (empty when consistent): SQLite's own check plus "every exchange has both turns"."""
        problems: list[str] = []
        with self._lock:
            self._check_open()
            result = self.db.execute("PRAGMA integrity_check").fetchone()[0]
            if result != "ok":
                problems.append(f"integrity_check: {result}")
            for row in self.db.execute(
                "SELECT conversation_id, exchange, group_concat(role) FROM turns "
                "GROUP BY conversation_id, exchange HAVING count(*) != 2 OR sum(role = 'user') != 1"
            ).fetchall():
                problems.append(f"conversation {row[0]} exchange {row[1]} has turns {row[2]}")
        return problems

    def damage(self) -> list[str]:
        """SQLite's own `PRAGMA integrity_check` findings (empty when the file is sound)."""
        with self._lock:
            self._check_open()
            try:
                rows = [row[0] for row in self.db.execute("PRAGMA integrity_check").fetchall()]
            except sqlite3.DatabaseError as exc:  # damage bad enough that the check cannot read the file
                return [str(exc)]
        return [] if rows == ["ok"] else rows

    def backup(self, path: str | Path) -> dict[str, int]:
        """Copy the database to `path` with SQLite's online backup API: one consistent snapshot even
        while other connections write (those wait for the copy, at most the busy timeout). The copy is
        written to a temporary file and renamed into place, so `path` is never a half copy. Returns the
        stats of the copy."""
        if self.path == ":memory:":
            raise ValueError("an in-memory database has no file to back up")
        target = Path(path)
        if target.exists() and target.resolve() == Path(self.path).resolve():
            raise ValueError(f"the backup {target} is the database itself; give another path")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        partial.unlink(missing_ok=True)
        dest = sqlite3.connect(str(partial))
        try:
            with self._lock:
                self._check_open()
                self.db.conn.backup(dest)  # all pages in one step: a single read transaction
            damage = dest.execute("PRAGMA integrity_check").fetchone()[0]
            if damage != "ok":
                raise RuntimeError(f"the backup copy failed its integrity check: {damage}")
            stats = {"conversations": int(dest.execute("SELECT count(*) FROM conversations").fetchone()[0]),
                     "turns": int(dest.execute("SELECT count(*) FROM turns").fetchone()[0])}
        except BaseException:
            dest.close()
            partial.unlink(missing_ok=True)
            raise
        dest.close()
        partial.replace(target)
        log.info("backed up %s to %s (%d conversations, %d turns)", self.path, target, stats["conversations"],
                 stats["turns"])
        return stats
