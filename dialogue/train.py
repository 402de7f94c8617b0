"""Training for the reply model: tokenizer, batching by length, teacher forcing, validation perplexity.

Single process:   python -m dialogue.train --train data/dialogue/train.jsonl --valid data/dialogue/valid.jsonl
DDP (CPU gloo or CUDA nccl):
                  torchrun --nproc_per_node 2 -m dialogue.train --train ... --valid ...
Checkpoints under ``out_dir``: ``last.pt`` (everything, optimizer included, written atomically; used by
``--resume``) and ``best.pt`` (lowest validation perplexity). ``export()`` turns one into a shippable file.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .actions import ACTION_SYMBOLS, is_action
from .corpora import read_jsonl
from .decoding import DecodingOptions
from .model import Seq2Seq, Seq2SeqConfig
from .responder import Responder, atomic_save
from .text import build_source, normalize_input
from .tokenizer import BOS_ID, EOS_ID, PAD_ID, SEP_ID, Tokenizer

logger = logging.getLogger(__name__)

MODEL_PRESETS = {
    # name: Seq2SeqConfig overrides (vocab_size comes from the tokenizer)
    "tiny": dict(embed_dim=32, encoder_hidden=32, decoder_hidden=64, dropout=0.0),
    "small": dict(embed_dim=128, encoder_hidden=128, decoder_hidden=256, dropout=0.1),
    "base": dict(embed_dim=256, encoder_hidden=256, decoder_hidden=512, dropout=0.2),
}
SAMPLE_PROMPTS = (
    "hello",
    "how are you",
    "what is your name",
    "who made you",
    "are you a robot",
    "tell me a joke",
    "thank you",
    "what can you do",
    "goodbye",
)


@dataclass
class TrainConfig:
    train_path: str = "data/dialogue/train.jsonl"  # JSONL pairs {context, prompt, reply, source}
    valid_path: Optional[str] = "data/dialogue/valid.jsonl"  # held-out pairs (never trained on); None = no validation
    out_dir: str = "runs/dialogue"  # checkpoints and metrics.jsonl go here
    model: str = "base"  # size preset: "tiny" | "small" | "base"
    model_overrides: dict = field(default_factory=dict)  # Seq2SeqConfig fields that replace the preset's
    vocab_size: int = 8000  # sentencepiece pieces (upper bound for small corpora)
    epochs: int = 10  # passes over the training pairs
    max_steps: Optional[int] = None  # stop after this many optimizer steps (None = by epochs)
    time_limit_min: Optional[float] = None  # stop (and checkpoint) after this many minutes of training
    batch_size: int = 64  # pairs per batch per process
    lr: float = 2e-3  # Adam learning rate after warmup
    warmup_steps: int = 200  # linear warmup
    lr_decay: float = 0.5  # multiply lr by this when validation perplexity does not improve
    clip: float = 1.0  # gradient norm clipping
    label_smoothing: float = 0.1  # training loss only; validation perplexity is plain
    history_turns: int = 2  # previous turns joined into the encoder input
    max_source_tokens: int = 64  # encoder input is cut from the oldest side beyond this
    max_target_tokens: int = 48  # replies longer than this are truncated (end token kept)
    context_augment: float = 0.3  # share of single-turn pairs given a random earlier exchange as history
    valid_every: int = 500  # steps between validation + checkpoint
    log_every: int = 50  # steps between log lines
    sample_prompts: Sequence[str] = SAMPLE_PROMPTS  # greedy replies logged at each validation
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "cuda:N"
    threads: Optional[int] = None  # torch.set_num_threads per process (None = torch default)
    seed: int = 0  # data order, augmentation and init
    resume: bool = False  # continue from out_dir/last.pt when it exists
    init_from: Optional[str] = None  # fine-tune: weights, tokenizer and config of this checkpoint, fresh optimizer
    # whole-piece tokens the tokenizer must hold (the action tags); a fine-tuned model whose tokenizer
    # lacks some gets them appended, with new embedding rows
    symbols: Sequence[str] = ACTION_SYMBOLS
    # keep a teacher's chat while learning something else ("learning without forgetting"): on pairs whose
    # reply is chat, not action markup, the loss adds distill_weight x KL(teacher || model) per reply token.
    # The teacher's tokenizer must agree with this one on every piece it has (extra symbols may follow).
    distill_from: Optional[str] = None
    distill_weight: float = 1.0

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["sample_prompts"] = list(self.sample_prompts)
        d["symbols"] = list(self.symbols)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown TrainConfig keys {unknown}; valid keys: {sorted(names)}")
        return cls(**d)


# ----------------------------------------------------------------------- data
def encode_pairs(pairs: list[dict], tok: Tokenizer, cfg: TrainConfig, augment: float, seed: int) -> list[tuple[list[int], list[int]]]:
    """(src ids, reply ids + eos) per pair; some single-turn pairs get a random exchange as history."""
    rng = random.Random(seed)
    out = []
    for p in pairs:
        context = list(p.get("context") or [])
        if not context and augment > 0 and rng.random() < augment:
            other = pairs[rng.randrange(len(pairs))]
            context = [other["prompt"], other["reply"]]
        src = build_source(tok, context, p["prompt"], cfg.history_turns, cfg.max_source_tokens)
        tgt = tok.encode(p["reply"])[: cfg.max_target_tokens - 1] + [EOS_ID]
        out.append((src, tgt))
    return out


def make_batches(examples: list, batch_size: int, seed: int) -> list[list[int]]:
    """Index batches of similar source length (shuffled pools of 50 batches, then shuffled batches)."""
    rng = random.Random(seed)
    order = list(range(len(examples)))
    rng.shuffle(order)
    pool = batch_size * 50
    batches = []
    for i in range(0, len(order), pool):
        chunk = sorted(order[i : i + pool], key=lambda j: (len(examples[j][0]), len(examples[j][1])))
        batches += [chunk[k : k + batch_size] for k in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(examples: list, idx: list[int], device) -> tuple[torch.Tensor, ...]:
    srcs = [examples[i][0] for i in idx]
    tgts = [examples[i][1] for i in idx]
    B, S, T = len(idx), max(map(len, srcs)), max(map(len, tgts))
    src = torch.full((B, S), PAD_ID, dtype=torch.long)
    tgt_in = torch.full((B, T), PAD_ID, dtype=torch.long)
    tgt_out = torch.full((B, T), PAD_ID, dtype=torch.long)
    for b, (s, t) in enumerate(zip(srcs, tgts)):
        src[b, : len(s)] = torch.tensor(s)
        tgt_out[b, : len(t)] = torch.tensor(t)
        tgt_in[b, 0] = BOS_ID
        tgt_in[b, 1 : len(t)] = torch.tensor(t[:-1])
    lengths = torch.tensor([len(s) for s in srcs])
    return src.to(device), lengths, tgt_in.to(device), tgt_out.to(device)


# ------------------------------------------------------------------- helpers
def _device(name: str, local_rank: int) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        name = f"cuda:{local_rank}"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} but CUDA is not available; valid: 'auto', 'cpu'")
    if not (name == "cpu" or name.startswith("cuda")):
        raise ValueError(f"device={name!r}; valid: 'auto', 'cpu', 'cuda', 'cuda:N'")
    return torch.device(name)


def build_model_config(cfg: TrainConfig, vocab_size: int) -> Seq2SeqConfig:
    if cfg.model not in MODEL_PRESETS:
        raise ValueError(f"model={cfg.model!r}; valid presets: {', '.join(MODEL_PRESETS)}")
    return Seq2SeqConfig(**{**MODEL_PRESETS[cfg.model], **cfg.model_overrides, "vocab_size": vocab_size})


@torch.no_grad()
def evaluate(model: Seq2Seq, examples: list, batch_size: int, device) -> dict:
    """Validation loss per target token (end token included) and perplexity."""
    model.eval()
    total, count = 0.0, 0
    for idx in make_batches(examples, batch_size, seed=0):
        src, lengths, tgt_in, tgt_out = collate(examples, idx, device)
        logits = model(src, lengths, tgt_in)  # (B,T,V)
        loss = F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=PAD_ID, reduction="sum")
        total += float(loss)
        count += int((tgt_out != PAD_ID).sum())
    model.train()
    nll = total / max(count, 1)
    return {"valid_loss": nll, "valid_ppl": math.exp(min(nll, 50.0)), "valid_tokens": count}


def _checkpoint(model, tok, cfg, mcfg, optimizer, state: dict, metrics: dict) -> dict:
    responder = Responder(_unwrap(model), tok, cfg.history_turns, cfg.max_source_tokens, metrics=metrics)
    ckpt = responder.to_checkpoint()
    ckpt["train_config"] = json.loads(json.dumps(cfg.to_dict()))
    ckpt["train_state"] = dict(state)
    if optimizer is not None:
        ckpt["optimizer"] = optimizer.state_dict()
    return ckpt


def _unwrap(model):
    return model.module if hasattr(model, "module") else model


def _samples(model, tok, cfg) -> list[tuple[str, str]]:
    responder = Responder(_unwrap(model), tok, cfg.history_turns, cfg.max_source_tokens,
                          options=DecodingOptions(max_length=30))
    try:
        return [(p, responder.reply([], p)) for p in cfg.sample_prompts]
    finally:
        _unwrap(model).train()


def _load_teacher(path: str, tok: Tokenizer, device) -> Seq2Seq:
    """The frozen teacher for distillation; refuses one whose pieces mean other ids than ``tok``'s."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    teacher_tok = Tokenizer.from_bytes(ckpt["tokenizer"])
    if len(teacher_tok) > len(tok):
        raise ValueError(f"distill_from {path}: its tokenizer has {len(teacher_tok)} pieces, more than the model's {len(tok)}")
    for i in range(len(teacher_tok)):
        if teacher_tok.id_to_piece(i) != tok.id_to_piece(i):
            raise ValueError(f"distill_from {path}: piece {i} is {teacher_tok.id_to_piece(i)!r} there and "
                             f"{tok.id_to_piece(i)!r} here; distillation needs the same tokenizer")
    teacher = Seq2Seq(Seq2SeqConfig.from_dict(ckpt["config"]))
    teacher.load_state_dict({k: v.float() for k, v in ckpt["state_dict"].items()})
    teacher.to(device).eval()
    for q in teacher.parameters():
        q.requires_grad_(False)
    logger.info("distilling chat from %s (%d pieces)", path, len(teacher_tok))
    return teacher


def distill_loss(logits: torch.Tensor, teacher_logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over ``mask``ed tokens of KL(teacher || model); the teacher's vocabulary is a prefix of the model's."""
    vt = teacher_logits.size(-1)
    log_p = F.log_softmax(logits.float(), dim=-1)[..., :vt]
    log_q = F.log_softmax(teacher_logits.float(), dim=-1)
    kl = (log_q.exp() * (log_q - log_p)).sum(-1)  # (B,T)
    m = mask.to(kl.dtype)
    return (kl * m).sum() / m.sum().clamp(min=1.0)


# ---------------------------------------------------------------------- train
def train(config: TrainConfig) -> Path:
    """Train (or resume) and return the path of the best checkpoint (``last.pt`` without validation)."""
    cfg = config
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = _device(cfg.device, local_rank)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    distributed = world > 1
    if distributed:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            torch.cuda.set_device(device)
    is_main = rank == 0
    out_dir = Path(cfg.out_dir)
    last_path, best_path = out_dir / "last.pt", out_dir / "best.pt"
    if is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)

    train_pairs = read_jsonl(Path(cfg.train_path))
    valid_pairs = read_jsonl(Path(cfg.valid_path)) if cfg.valid_path else []
    if not train_pairs:
        raise ValueError(f"{cfg.train_path} holds no pairs")

    resume_ckpt = None
    if cfg.resume and last_path.is_file():
        resume_ckpt = torch.load(last_path, map_location="cpu", weights_only=True)
        tok = Tokenizer.from_bytes(resume_ckpt["tokenizer"])
        mcfg = Seq2SeqConfig.from_dict(resume_ckpt["config"])
        logger.info("resuming from %s (step %d)", last_path, resume_ckpt["train_state"]["step"])
    elif cfg.init_from:
        init = torch.load(cfg.init_from, map_location="cpu", weights_only=True)
        tok = Tokenizer.from_bytes(init["tokenizer"])
        base = dict(init["config"])
        changed = {k: v for k, v in cfg.model_overrides.items() if base.get(k) != v}
        if set(changed) - {"dropout"}:
            raise ValueError(f"init_from keeps the model's shape; only dropout may change, got {sorted(changed)}")
        mcfg = Seq2SeqConfig.from_dict({**base, **changed})
        logger.info("fine-tuning from %s with %s", cfg.init_from, changed or "the same config")
        grown = tok.with_symbols(cfg.symbols)
        if len(grown) != len(tok):
            logger.info("tokenizer: %d new symbols (ids %d-%d)", len(grown) - len(tok), len(tok), len(grown) - 1)
            tok = grown  # the model grows to match once its trained weights are in
    else:
        if cfg.resume:
            logger.warning("--resume given but %s does not exist; starting fresh", last_path)
        proto = [None]
        if is_main:
            texts = [p["reply"] for p in train_pairs] + [normalize_input(p["prompt"]) for p in train_pairs]
            texts += [normalize_input(c) for p in train_pairs for c in p.get("context") or []]
            proto = [Tokenizer.train(texts, vocab_size=cfg.vocab_size, seed=cfg.seed, symbols=cfg.symbols).to_bytes()]
        if distributed:
            dist.broadcast_object_list(proto, src=0)
        tok = Tokenizer.from_bytes(proto[0])
        mcfg = build_model_config(cfg, len(tok))

    train_ex = encode_pairs(train_pairs, tok, cfg, cfg.context_augment, cfg.seed)
    valid_ex = encode_pairs(valid_pairs, tok, cfg, 0.0, cfg.seed)
    teacher, is_chat = None, None
    if cfg.distill_from:
        teacher = _load_teacher(cfg.distill_from, tok, device)
        is_chat = torch.tensor([not is_action(p["reply"]) for p in train_pairs])

    model = Seq2Seq(mcfg).to(device)
    if resume_ckpt is not None:
        model.load_state_dict({k: v.float() for k, v in resume_ckpt["state_dict"].items()})
    elif cfg.init_from:
        model.load_state_dict({k: v.float() for k, v in init["state_dict"].items()})
        mcfg = model.grow_vocab(len(tok)).config
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    state = {"step": 0, "epoch": 0, "batch": 0, "best_ppl": float("inf"), "lr_scale": 1.0, "seconds": 0.0}
    digest = hashlib.sha1(Path(cfg.valid_path).read_bytes()).hexdigest() if cfg.valid_path else None
    if resume_ckpt is not None:
        optimizer.load_state_dict(resume_ckpt["optimizer"])
        state.update(resume_ckpt["train_state"])
        if state.get("valid_digest") != digest:
            # perplexities on another validation file are not comparable: start "best" afresh
            logger.warning("validation data changed since the checkpoint; best perplexity restarts")
            state["best_ppl"] = float("inf")
    state["valid_digest"] = digest
    if is_main:
        logger.info(
            "model %s: %d parameters; %d train / %d valid pairs; %d pieces; device %s; world %d",
            mcfg.to_dict(), model.num_parameters(), len(train_ex), len(valid_ex), len(tok), device, world,
        )
    net = model
    if distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)

    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        tqdm = None

    def set_lr():
        warm = min(1.0, (state["step"] + 1) / max(1, cfg.warmup_steps))
        for g in optimizer.param_groups:
            g["lr"] = cfg.lr * warm * state["lr_scale"]

    def validate_and_save(final: bool = False):
        metrics = {"step": state["step"], "epoch": state["epoch"]}
        if valid_ex:
            metrics.update(evaluate(model, valid_ex, cfg.batch_size, device))
        improved = valid_ex and metrics["valid_ppl"] < state["best_ppl"]
        if valid_ex and not improved and not final:
            state["lr_scale"] *= cfg.lr_decay
        if improved:
            state["best_ppl"] = metrics["valid_ppl"]
        metrics["lr"] = optimizer.param_groups[0]["lr"]
        metrics["samples"] = _samples(model, tok, cfg)
        ckpt = _checkpoint(model, tok, cfg, mcfg, optimizer, state, metrics)
        atomic_save(ckpt, last_path)
        if improved:
            del ckpt["optimizer"]
            atomic_save(ckpt, best_path)
        with open(out_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(metrics) + "\n")
        logger.info(
            "step %d epoch %d valid_ppl %.2f (best %.2f) lr %.2e%s",
            state["step"], state["epoch"], metrics.get("valid_ppl", float("nan")), state["best_ppl"],
            metrics["lr"], " saved best" if improved else "",
        )
        for prompt, reply in metrics["samples"]:
            logger.info("  > %s -> %s", prompt, reply)

    started = time.time() - state["seconds"]
    stop = False
    model.train()
    tokens_since, t_log = 0, time.time()
    while state["epoch"] < cfg.epochs and not stop:
        batches = make_batches(train_ex, cfg.batch_size, seed=cfg.seed + state["epoch"])
        batches = batches[rank::world]
        if distributed:  # every rank must run the same number of steps
            n = torch.tensor([len(batches)])
            dist.all_reduce(n, op=dist.ReduceOp.MIN)
            batches = batches[: int(n)]
        bar = None
        if tqdm is not None and is_main:
            bar = tqdm(total=len(batches), initial=state["batch"], desc=f"epoch {state['epoch'] + 1}/{cfg.epochs}",
                       mininterval=30, dynamic_ncols=True, leave=False)
        for bi in range(state["batch"], len(batches)):
            src, lengths, tgt_in, tgt_out = collate(train_ex, batches[bi], device)
            set_lr()
            logits = net(src, lengths, tgt_in)  # (B,T,V)
            loss = F.cross_entropy(
                logits.flatten(0, 1), tgt_out.flatten(), ignore_index=PAD_ID, label_smoothing=cfg.label_smoothing
            )
            if teacher is not None:
                vt = teacher.config.vocab_size
                # chat rows whose input the teacher can read (a history with action markup it cannot)
                rows = is_chat[batches[bi]].to(device) & (src < vt).all(1) & (tgt_in < vt).all(1)
                if rows.any():
                    with torch.no_grad():
                        t_logits = teacher(src[rows], lengths[rows.cpu()], tgt_in[rows])
                    mask = tgt_out[rows] != PAD_ID
                    loss = loss + cfg.distill_weight * distill_loss(logits[rows], t_logits, mask)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            optimizer.step()
            state["step"] += 1
            state["batch"] = bi + 1
            state["seconds"] = time.time() - started
            tokens_since += int((tgt_out != PAD_ID).sum())
            if bar is not None:
                bar.update(1)
            if is_main and state["step"] % cfg.log_every == 0:
                rate = tokens_since / max(1e-6, time.time() - t_log)
                logger.info("step %d epoch %d loss %.3f lr %.2e %.0f tgt tok/s", state["step"], state["epoch"] + 1,
                            loss.item(), optimizer.param_groups[0]["lr"], rate * world)
                tokens_since, t_log = 0, time.time()
            out_of_time = cfg.time_limit_min is not None and state["seconds"] > cfg.time_limit_min * 60
            out_of_steps = cfg.max_steps is not None and state["step"] >= cfg.max_steps
            if distributed:
                flag = torch.tensor([int(out_of_time or out_of_steps)])
                dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                out_of_time, out_of_steps = bool(flag), bool(flag)
            if out_of_time or out_of_steps:
                stop = True
                break
            if state["step"] % cfg.valid_every == 0:
                if is_main:
                    validate_and_save()
                if distributed:
                    lr_scale = torch.tensor([state["lr_scale"]])
                    dist.broadcast(lr_scale, src=0)
                    state["lr_scale"] = float(lr_scale)
        if bar is not None:
            bar.close()
        if not stop:
            state["epoch"] += 1
            state["batch"] = 0
    if is_main:
        validate_and_save(final=True)
    if distributed:
        dist.barrier()
    result = best_path if best_path.is_file() else last_path
    if is_main:
        logger.info("done: %d steps in %.1f min; best valid ppl %.2f; %s", state["step"], state["seconds"] / 60,
                    state["best_ppl"], result)
    return result


# -------------------------------------------------------------------- average
def average_checkpoints(paths: Sequence[Path], out_path: Path) -> Path:
    """Mean of the weights of checkpoints of one run (same config and tokenizer); metadata from the first."""
    if not paths:
        raise ValueError("average_checkpoints needs at least one checkpoint path")
    ckpts = [torch.load(p, map_location="cpu", weights_only=True) for p in paths]
    first = ckpts[0]
    for p, c in zip(paths[1:], ckpts[1:]):
        if c["config"] != first["config"] or c["tokenizer"] != first["tokenizer"]:
            raise ValueError(f"{p} has another config or tokenizer than {paths[0]}; only one run's checkpoints average")
    state = {}
    for k, v in first["state_dict"].items():
        state[k] = sum(c["state_dict"][k].float() for c in ckpts) / len(ckpts) if v.is_floating_point() else v
    out = {k: v for k, v in first.items() if k not in ("optimizer", "state_dict")}
    out["state_dict"] = state
    out["averaged_from"] = [str(p) for p in paths]
    return atomic_save(out, Path(out_path))


# --------------------------------------------------------------------- export
def export(checkpoint: Path, out_path: Path, options: Optional[DecodingOptions] = None, half: bool = True,
           metrics: Optional[dict] = None) -> Path:
    """A training checkpoint -> a shippable weights-only file (float16 storage by default).

    ``options`` become the model's default decoding options; ``metrics`` are merged into its metrics
    (e.g. {"language": "en"}, which the assistant reports).
    """
    responder = Responder.load(checkpoint)
    if options is not None:
        responder.options = options
    responder.metrics = {k: v for k, v in responder.metrics.items() if k != "samples"}
    responder.metrics.setdefault("language", "en")
    responder.metrics.update(metrics or {})
    return responder.save(out_path, half=half)


# ------------------------------------------------------------------------ CLI
def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="train-dialogue", description="Train the LSTM reply model.")
    d = TrainConfig()
    ap.add_argument("--train", default=d.train_path, help="training pairs JSONL (scripts/prepare_dialogue_data.py)")
    ap.add_argument("--valid", default=d.valid_path, help="held-out pairs JSONL ('' for none)")
    ap.add_argument("--out", default=d.out_dir, help="run folder for checkpoints and metrics")
    ap.add_argument("--model", default=d.model, choices=sorted(MODEL_PRESETS), help="model size preset")
    ap.add_argument("--embed-dim", type=int, help="override the preset's embedding size")
    ap.add_argument("--encoder-hidden", type=int, help="override hidden units per encoder direction")
    ap.add_argument("--decoder-hidden", type=int, help="override decoder hidden units")
    ap.add_argument("--encoder-layers", type=int)
    ap.add_argument("--decoder-layers", type=int)
    ap.add_argument("--cell", choices=["lstm", "gru", "lstm_peephole"])
    ap.add_argument("--attention", choices=["dot", "general", "concat"])
    ap.add_argument("--dropout", type=float)
    ap.add_argument("--no-tie", action="store_true", help="separate output layer instead of tied embeddings")
    ap.add_argument("--vocab-size", type=int, default=d.vocab_size)
    ap.add_argument("--epochs", type=int, default=d.epochs)
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--time-limit", type=float, default=None, help="minutes of training before stopping")
    ap.add_argument("--batch-size", type=int, default=d.batch_size)
    ap.add_argument("--lr", type=float, default=d.lr)
    ap.add_argument("--warmup-steps", type=int, default=d.warmup_steps)
    ap.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    ap.add_argument("--history-turns", type=int, default=d.history_turns)
    ap.add_argument("--valid-every", type=int, default=d.valid_every)
    ap.add_argument("--log-every", type=int, default=d.log_every)
    ap.add_argument("--device", default=d.device, help="auto | cpu | cuda | cuda:N")
    ap.add_argument("--threads", type=int, default=None, help="torch threads per process")
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    ap.add_argument("--init-from", default=None, help="fine-tune from this checkpoint (fresh optimizer; --dropout may change)")
    ap.add_argument("--distill-from", default=None,
                    help="teacher checkpoint whose chat replies the model keeps (KL on chat pairs); same tokenizer")
    ap.add_argument("--distill-weight", type=float, default=d.distill_weight, help="weight of the distillation term")
    ap.add_argument("--export", type=Path, default=None, help="after training, write the best model here (fp16)")
    return ap


def config_from_args(args) -> TrainConfig:
    overrides = {}
    for name in ("embed_dim", "encoder_hidden", "decoder_hidden", "encoder_layers", "decoder_layers", "cell",
                 "attention", "dropout"):
        value = getattr(args, name)
        if value is not None:
            overrides[name] = value
    if args.no_tie:
        overrides["tie_embeddings"] = False
    return TrainConfig(
        train_path=args.train, valid_path=args.valid or None, out_dir=args.out, model=args.model,
        model_overrides=overrides, vocab_size=args.vocab_size, epochs=args.epochs, max_steps=args.max_steps,
        time_limit_min=args.time_limit, batch_size=args.batch_size, lr=args.lr, warmup_steps=args.warmup_steps,
        label_smoothing=args.label_smoothing, history_turns=args.history_turns, valid_every=args.valid_every,
        log_every=args.log_every, device=args.device, threads=args.threads, seed=args.seed, resume=args.resume,
        init_from=args.init_from,
        distill_from=args.distill_from,
        distill_weight=args.distill_weight,
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    best = train(config_from_args(args))
    if args.export is not None and int(os.environ.get("RANK", "0")) == 0:
        path = export(best, args.export)
        logger.info("exported %s", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
