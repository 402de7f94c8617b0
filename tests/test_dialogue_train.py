"""Training loop on a tiny corpus: checkpoints, resume, CLI, export, and (slow) DDP through torchrun."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dialogue import Responder
from dialogue.corpora import write_jsonl
from dialogue.train import TrainConfig, export, main, train

PAIRS = [("hello", "Hi there."), ("how are you", "I am well."), ("bye", "Goodbye!"), ("thanks", "You're welcome.")]


@pytest.fixture()
def corpus(tmp_path):
    pairs = [{"context": [], "prompt": p, "reply": r, "source": "t"} for p, r in PAIRS] * 4
    t = write_jsonl(pairs, tmp_path / "train.jsonl")
    v = write_jsonl(pairs[:4], tmp_path / "valid.jsonl")
    return t, v


def tiny_config(corpus, out, **kw):
    t, v = corpus
    cfg = dict(train_path=str(t), valid_path=str(v), out_dir=str(out), model="tiny", vocab_size=300, epochs=2,
               batch_size=4, valid_every=3, log_every=2, warmup_steps=1, sample_prompts=["hello"], threads=1)
    cfg.update(kw)
    return TrainConfig(**cfg)


def test_train_writes_checkpoints_and_resumes(corpus, tmp_path):
    out = tmp_path / "run"
    best = train(tiny_config(corpus, out, max_steps=4))
    assert best == out / "best.pt" and (out / "last.pt").is_file()
    last = torch.load(out / "last.pt", weights_only=True)
    assert last["train_state"]["step"] == 4 and "optimizer" in last
    assert "optimizer" not in torch.load(best, weights_only=True)
    lines = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["valid_ppl"] > 1 and lines[-1]["samples"][0][0] == "hello"
    # resume continues the step count with the same tokenizer
    train(tiny_config(corpus, out, max_steps=6, resume=True))
    again = torch.load(out / "last.pt", weights_only=True)
    assert again["train_state"]["step"] == 6 and again["tokenizer"] == last["tokenizer"]
    assert not list(out.glob("*.tmp"))
    bot = Responder.load(best)
    assert bot.reply([], "hello")


def test_main_cli_and_export(corpus, tmp_path):
    t, v = corpus
    out = tmp_path / "cli"
    shipped = tmp_path / "ship" / "en.pt"
    rc = main(["--train", str(t), "--valid", str(v), "--out", str(out), "--model", "tiny", "--vocab-size", "300",
               "--max-steps", "3", "--batch-size", "4", "--valid-every", "2", "--threads", "1", "--cell", "gru",
               "--attention", "dot", "--export", str(shipped)])
    assert rc == 0 and shipped.is_file()
    ckpt = torch.load(shipped, weights_only=True)
    assert ckpt["config"]["cell"] == "gru" and "optimizer" not in ckpt
    assert next(iter(v for v in ckpt["state_dict"].values() if v.is_floating_point())).dtype == torch.float16
    assert Responder.load(shipped).reply([], "hello")


def test_bad_config_values(corpus, tmp_path):
    with pytest.raises(ValueError, match="tiny, small, base"):
        train(tiny_config(corpus, tmp_path / "x", model="huge"))
    with pytest.raises(ValueError, match="device"):
        train(tiny_config(corpus, tmp_path / "y", device="tpu"))
    with pytest.raises(ValueError, match="unknown TrainConfig keys"):
        TrainConfig.from_dict({"epoch": 3})


@pytest.mark.slow
def test_ddp_two_cpu_processes_with_torchrun(corpus, tmp_path):
    t, v = corpus
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "dialogue.train", "--train", str(t), "--valid", str(v), "--out", str(out), "--model", "tiny",
           "--vocab-size", "300", "--max-steps", "3", "--batch-size", "2", "--valid-every", "2", "--device", "cpu",
           "--threads", "1"]
    # own process group, so a hung worker is killed with the launcher instead of outliving the test
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _, stderr = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate()
        pytest.fail("torchrun timed out: " + stderr[-3000:])
    assert proc.returncode == 0, stderr[-3000:]
    last = torch.load(out / "last.pt", weights_only=True)
    assert last["train_state"]["step"] == 3
    assert Responder.load(out / "best.pt").reply([], "hello")


def test_average_checkpoints(corpus, tmp_path):
    from dialogue.train import average_checkpoints

    out = tmp_path / "avg"
    train(tiny_config(corpus, out, max_steps=2))
    first = out / "first.pt"
    (out / "last.pt").rename(first)
    train(tiny_config(corpus, out, max_steps=4))
    avg = average_checkpoints([first, out / "last.pt"], out / "avg.pt")
    a, b, m = (torch.load(p, weights_only=True)["state_dict"] for p in (first, out / "last.pt", avg))
    key = "embedding.weight"
    torch.testing.assert_close(m[key], (a[key] + b[key]) / 2)
    assert Responder.load(avg).reply([], "hello")
    with pytest.raises(ValueError, match="at least one"):
        average_checkpoints([], out / "x.pt")


def test_fine_tune_from_a_checkpoint(corpus, tmp_path):
    base = train(tiny_config(corpus, tmp_path / "base", max_steps=2))
    tuned = train(tiny_config(corpus, tmp_path / "ft", max_steps=2, init_from=str(base), model_overrides={"dropout": 0.3}))
    a, b = (torch.load(p, weights_only=True) for p in (base, tuned))
    assert b["tokenizer"] == a["tokenizer"] and b["config"]["dropout"] == 0.3
    assert b["train_state"]["step"] == 2
    with pytest.raises(ValueError, match="only dropout"):
        train(tiny_config(corpus, tmp_path / "bad", max_steps=1, init_from=str(base), model_overrides={"decoder_hidden": 8}))


def test_fine_tune_adds_the_action_symbols(corpus, tmp_path):
    from dialogue.actions import ACTION_SYMBOLS

    base = train(tiny_config(corpus, tmp_path / "base", max_steps=2, symbols=()))
    tuned = train(tiny_config(corpus, tmp_path / "ft", max_steps=2, init_from=str(base)))
    a, b = (Responder.load(p) for p in (base, tuned))
    assert len(b.tokenizer) == len(a.tokenizer) + len(ACTION_SYMBOLS)
    assert b.model.config.vocab_size == len(b.tokenizer)
    ids = b.tokenizer.encode("<clock.time>")
    assert b.tokenizer.id_to_piece(ids[-1]) == "<clock.time>"


def test_distill_loss_is_zero_for_the_teacher_itself_and_grows_with_difference():
    from dialogue.train import distill_loss

    torch.manual_seed(0)
    t = torch.randn(2, 3, 5)
    student = torch.cat([t, torch.full((2, 3, 2), -30.0)], -1)  # two extra symbols the teacher lacks, ~0 mass
    mask = torch.ones(2, 3, dtype=torch.bool)
    assert float(distill_loss(student, t, mask)) == pytest.approx(0.0, abs=1e-6)
    other = student + torch.randn_like(student)
    assert float(distill_loss(other, t, mask)) > 0.01
    assert float(distill_loss(other, t, torch.zeros_like(mask))) == 0.0  # nothing masked in, nothing to learn


def test_distillation_from_a_teacher_keeps_its_chat_and_learns_the_actions(corpus, tmp_path):
    """Fine-tuning on action pairs only with the teacher's chat distilled: chat stays closer to the teacher."""
    from dialogue.train import distill_loss, collate, encode_pairs

    teacher_path = train(tiny_config(corpus, tmp_path / "teacher", epochs=60, symbols=(), valid_every=1000))
    actions = [{"context": [], "prompt": "what time is it", "reply": "<clock.time>", "source": "a"},
               {"context": [], "prompt": "set a timer", "reply": "<timer.set>", "source": "a"}] * 8
    chat = [{"context": [], "prompt": p, "reply": "Okay.", "source": "t"} for p, _ in PAIRS]  # a drift from the teacher
    mixed = write_jsonl(actions + chat, tmp_path / "mixed.jsonl")
    runs = {}
    for name, extra in (("plain", {}), ("distilled", {"distill_from": str(teacher_path), "distill_weight": 3.0})):
        runs[name] = train(tiny_config((mixed, corpus[1]), tmp_path / name, epochs=8, init_from=str(teacher_path),
                                       context_augment=0.0, valid_every=1000, **extra))
    teacher = Responder.load(teacher_path)
    gaps = {}
    for name, path in runs.items():
        student = Responder.load(path)
        ex = encode_pairs([{"context": [], "prompt": p, "reply": r} for p, r in PAIRS], student.tokenizer,
                          TrainConfig(), 0.0, 0)
        src, lengths, tgt_in, tgt_out = collate(ex, list(range(len(ex))), "cpu")
        with torch.no_grad():
            gaps[name] = float(distill_loss(student.model(src, lengths, tgt_in), teacher.model(src, lengths, tgt_in),
                                            tgt_out != 0))
    assert gaps["distilled"] < gaps["plain"]


def test_distillation_refuses_a_teacher_with_another_tokenizer(corpus, tmp_path):
    base = train(tiny_config(corpus, tmp_path / "base", max_steps=1))
    other_pairs = [{"context": [], "prompt": "zebra quartz", "reply": "Vexing jumbo fjords.", "source": "t"}] * 8
    other = train(tiny_config((write_jsonl(other_pairs, tmp_path / "o.jsonl"), corpus[1]), tmp_path / "other",
                              max_steps=1, vocab_size=320))
    with pytest.raises(ValueError, match="same tokenizer|more than"):
        train(tiny_config(corpus, tmp_path / "bad", max_steps=1, init_from=str(base), distill_from=str(other)))
