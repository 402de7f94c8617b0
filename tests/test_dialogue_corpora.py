"""Corpus readers and filters on small files built here (no network, no ../shared)."""

import json
import zipfile

import pytest

from dialogue import corpora
from dialogue.corpora import (
    CRISIS_REPLY,
    filter_pairs,
    has_emoji,
    has_markup,
    has_profanity,
    parse_chatterbot_yaml,
    read_chatterbot,
    read_chitchat,
    read_jsonl,
    read_personalitychat,
    read_pyjokes,
    read_sgd,
    sgd_reply_ok,
    split_pairs,
    write_jsonl,
)

YAML = """categories:
- greetings
conversations:
- - Hello
  - Hi there
- - How are you doing?
  - 'I''m doing well, thanks.'
  - That is good to hear.
- - Tell me a long story
  - This answer is folded
    over two lines.
- - Show code
  - |
    def f():
        return 1
"""


def test_parse_chatterbot_yaml():
    convs = parse_chatterbot_yaml(YAML)
    assert convs[0] == ["Hello", "Hi there"]
    assert convs[1] == ["How are you doing?", "I'm doing well, thanks.", "That is good to hear."]
    assert convs[2][1] == "This answer is folded over two lines."
    assert has_markup(convs[3][1])  # code block is dropped by the filters


def _wheel(path, files):
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return path


def test_read_default_corpora_from_archives(tmp_path):
    _wheel(tmp_path / "chatterbot_corpus-1.3.3-py2.py3-none-any.whl", {
        "chatterbot_corpus/data/english/greetings.yml": YAML,
        "chatterbot_corpus/data/english/coding.yml": "conversations:\n- - what is python\n  - a language\n",
        "chatterbot_corpus/data/english/tech_support.yml": "conversations:\n- - my pc is slow\n  - restart it\n- - my pc is slow\n  - restart it\n",
        "chatterbot_corpus/data/french/greetings.yml": "conversations:\n- - bonjour\n  - salut\n",
    })
    pairs = read_chatterbot(tmp_path)
    prompts = [p["prompt"] for p in pairs]
    assert "Hello" in prompts and "what is python" not in prompts and "bonjour" not in prompts
    assert prompts.count("my pc is slow") == 1  # tech_support de-duplicated
    three = [p for p in pairs if p["prompt"] == "I'm doing well, thanks."][0]
    assert three["context"] == ["How are you doing?"]

    chat = {"c1": {"messages": [[{"text": "hi", "sender": "a"}], [{"text": "hey", "sender": "b"}, {"text": "whats up", "sender": "b"}],
                                [{"text": "not much, im tired " + "very " * 20, "sender": "a"}]]}}
    _wheel(tmp_path / "chitchat_dataset-0.9.0-py3-none-any.whl", {"chitchat_dataset/dataset.json": json.dumps(chat)})
    chat_pairs = read_chitchat(tmp_path)
    assert chat_pairs == [{"context": [], "prompt": "hi", "reply": "hey what's up", "source": "chitchat"}]

    _wheel(tmp_path / "pyjokes-0.8.3-py3-none-any.whl", {
        "pyjokes/jokes_en.py": 'neutral = [\n "Joke one.",\n "Joke two.",\n]\nchuck = ["Chuck joke."]\n'})
    jokes = read_pyjokes(tmp_path, prompts_per_joke=2)
    assert len(jokes) == 4 and {j["reply"] for j in jokes} == {"Joke one.", "Joke two."}


def test_missing_archive_says_how_to_fetch(tmp_path):
    with pytest.raises(FileNotFoundError, match="pip download --no-deps"):
        read_pyjokes(tmp_path)


def test_personalitychat_crlf_and_crisis_line(tmp_path):
    rows = ["Question\tAnswer\tSource\tMetadata",
            "How old are you?\tI don't really have an age.\tqna_chitchat_Friendly\teditorial:chitchat",
            "I want to die\tYou can call 1-800-273-8255 any time.\tqna_chitchat_Friendly\teditorial:chitchat"]
    (tmp_path / "qna_chitchat_friendly.tsv").write_bytes(("\r\n".join(rows) + "\r\n").encode())
    pairs = read_personalitychat(tmp_path, ["friendly"])
    assert pairs[0]["prompt"] == "How old are you?" and pairs[0]["reply"] == "I don't really have an age."
    assert pairs[1]["reply"] == CRISIS_REPLY and "988" in CRISIS_REPLY
    assert not any(p["reply"].endswith("\r") for p in pairs)
    with pytest.raises(FileNotFoundError, match="qna_chitchat_friendly.tsv"):
        read_personalitychat(tmp_path, ["witty"])


def test_sgd_drops_concrete_facts(tmp_path):
    assert sgd_reply_ok("What time would you like the alarm?")
    for bad in ["Their phone number is 408-247-8880.", "It costs $45 per night.", "The address is 377 Santana Row.",
                "Your table is booked for 7 pm.", "How about Sushi Zone in Palo Alto?"]:
        assert not sgd_reply_ok(bad), bad
    rows = ["split\tdialogue_id\tservices\tuser\tsystem",
            "dev\t1\tR\tFind me a place to eat.\tWhat city should I search in?",
            "dev\t1\tR\tWhat's the number?\tIt is 408-247-8880."]
    (tmp_path / "sgd_user_system_le15w.tsv").write_text("\n".join(rows) + "\n")
    assert [p["reply"] for p in read_sgd(tmp_path)] == ["What city should I search in?"]


def test_filters():
    assert has_profanity("what the fuck") and not has_profanity("a classic shape")
    assert has_emoji("great 😀") and has_emoji("nice :)") and not has_emoji("time: 10")
    assert has_markup("<b>hi</b>") and has_markup("see https://x.org") and not has_markup("hello there")
    pairs = [
        {"context": [], "prompt": "hi", "reply": "hello there", "source": "t"},
        {"context": [], "prompt": "hi", "reply": "hello there", "source": "t"},  # duplicate
        {"context": [], "prompt": "hi", "reply": "Hi!", "source": "t"},  # echo
        {"context": [], "prompt": "hi", "reply": "damn it", "source": "t"},  # profanity
        {"context": [], "prompt": "hi 😀", "reply": "ok", "source": "t"},  # emoji
        {"context": [], "prompt": "hi", "reply": "word " * 40, "source": "t"},  # too long
        {"context": [], "prompt": "yo", "reply": "hello there", "source": "t"},
    ]
    kept = filter_pairs(pairs, max_per_reply=1)
    assert [(p["prompt"], p["reply"]) for p in kept] == [("hi", "Hello there.")]


def test_split_holds_out_whole_prompts_and_jsonl_round_trip(tmp_path):
    pairs = [{"context": [], "prompt": f"prompt {i % 50}", "reply": f"reply {i}", "source": "t"} for i in range(500)]
    train, valid = split_pairs(pairs, 0.1, seed=0)
    assert len(train) + len(valid) == 500 and valid
    assert not {p["prompt"] for p in train} & {p["prompt"] for p in valid}
    path = write_jsonl(valid, tmp_path / "v.jsonl")
    assert read_jsonl(path) == valid
    (tmp_path / "bad.jsonl").write_text('{"prompt": "x"}\n')
    with pytest.raises(ValueError, match="reply"):
        read_jsonl(tmp_path / "bad.jsonl")


def test_prepare_writes_splits(tmp_path):
    folder = tmp_path / "shared" / "sgd_short"
    folder.mkdir(parents=True)
    rows = ["split\tdialogue_id\tservices\tuser\tsystem"] + [f"dev\t{i}\tR\tplease help with thing {i}\tWhich day would you like {i % 7}?" if i % 2 else f"dev\t{i}\tR\tplease help with thing {i}\tWhich city would you like?" for i in range(60)]
    (folder / "sgd_user_system_le15w.tsv").write_text("\n".join(rows) + "\n")
    t, v = corpora.prepare(tmp_path / "out", downloads=None, extra=[tmp_path / "shared"], valid_fraction=0.2)
    assert read_jsonl(t) and read_jsonl(v)
    with pytest.raises(FileNotFoundError, match="personalitychat_en"):
        corpora.prepare(tmp_path / "out2", downloads=None, extra=[tmp_path])


def test_curate_drops_joke_refusals_and_core_pairs_follow_the_split(tmp_path):
    pairs = [{"context": [], "prompt": "tell me a joke", "reply": "I'm not really that funny.", "source": "pc"},
             {"context": [], "prompt": "you are boring", "reply": "I'm not really that funny.", "source": "pc"}]
    assert [p["prompt"] for p in corpora.curate(pairs)] == ["you are boring"]
    core = corpora.assistant_core_pairs(repeats=1)
    assert {"prompt": "cancel that", "reply": "Okay, cancelled.", "context": [], "source": "assistant_core"} in core
    assert all(corpora.is_clean(p["reply"], 30) for p in core)
