"""The reward model over a small causal LM (Qwen3-0.6B or similar), for a GPU: the same losses.

Each (conversation, rubric, answer) is rendered as one text (:func:`render`); the LM's last
hidden state at the final token, through ``tanh(Linear)``, is the representation ``h`` (where GPRC
acts) and linear heads give the overall and per-dimension scores, exactly as in
:mod:`.model`. Training takes one conversation at a time (all its answers in one batch): the
Bradley-Terry loss on its ordered pairs, the dimension heads on theirs, GPRC on its good / medium
/ poor triples (:mod:`.losses`). Saved without pickle: the LM by ``save_pretrained``
(safetensors) and the head as ``head.safetensors`` + ``head.json``.

On CPU the tests run it on a tiny random Qwen3 (:mod:`heartgrpo.model.tiny`) for two steps; its
figures are not quality figures.

    >>> render([{"role": "user", "content": "hi"}], "hello", [("Greets", 1.0)])[:29]
    'Conversation:\\nuser: hi\\n\\nRubri'
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from heartgrpo.judge.reward_model.dimensions import DIMENSIONS
from heartgrpo.judge.reward_model.features import relevant_answer
from heartgrpo.judge.reward_model.losses import bt_loss, gprc_loss
from heartgrpo.judge.reward_model.pairs import ordered_pairs, ordered_triples

__all__ = ["HEAD_FILE", "build_head", "render", "score_texts", "train_transformer_head"]

HEAD_FILE = "head.safetensors"


def render(conversation: Sequence[dict], answer: str, rubric: Sequence[tuple[str, float]]) -> str:
    """The text the LM reads: the conversation, the rubric (points and criterion), then the answer without repeats and filler (:func:`.features.relevant_answer`)."""
    conv = "\n".join(f"{m['role']}: {m['content']}" for m in conversation)
    rub = "\n".join(f"[{p:+g}] {c}" for c, p in rubric)
    text = relevant_answer(answer, list(conversation), [{"criterion": c, "points": p} for c, p in rubric])
    return f"Conversation:\n{conv}\n\nRubric:\n{rub}\n\nAnswer:\n{text}"


def build_head(hidden_size: int, rep: int = 64, heads: int = 1 + len(DIMENSIONS)) -> Any:
    """``torch.nn.ModuleDict`` with ``proj`` (hidden -> rep, then tanh) and ``out`` (rep -> heads)."""
    import torch

    return torch.nn.ModuleDict({"proj": torch.nn.Linear(hidden_size, rep), "out": torch.nn.Linear(rep, heads)})


def _forward(lm: Any, head: Any, tok: Any, texts: Sequence[str], max_length: int, device: str) -> tuple[Any, Any]:
    """``(h, scores)`` of ``texts``: the last real token's final hidden state through the head."""
    import torch

    tok.padding_side = "left"  # the last position is then every text's last real token
    batch = tok(list(texts), return_tensors="pt", padding=True, truncation=True, max_length=max_length).to(device)
    out = lm(**batch, output_hidden_states=True)
    last = out.hidden_states[-1][:, -1, :].float()
    h = torch.tanh(head["proj"](last))
    return h, head["out"](h)


def score_texts(lm: Any, head: Any, tok: Any, texts: Sequence[str], max_length: int = 2048, device: str = "cpu",
                batch_size: int = 8) -> list[float]:
    """Overall score per text (no gradient)."""
    import torch

    out: list[float] = []
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            out.extend(float(s) for s in _forward(lm, head, tok, texts[i:i + batch_size], max_length, device)[1][:, 0])
    return out


def train_transformer_head(graded: str | Path, out_dir: str | Path, base_model: str | Path, *, device: str = "cuda",
                           gprc_weight: float = 1.0, dim_weight: float = 0.3, epochs: int = 1, lr: float = 1e-5,
                           head_lr: float = 1e-3, max_length: int = 2048, max_steps: int | None = None,
                           conversations: str | Path | None = None, conversations_limit: int | None = None,
                           seed: int = 0) -> dict[str, Any]:
    """Fine-tune ``base_model`` with the head on ``graded`` (the dev split), one conversation a step;
    saves the LM and the head in ``out_dir``. ``max_steps`` stops early (the CPU test)."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from heartgrpo.judge.reward_model.data import Answers
    from heartgrpo.judge.reward_model.pairs import members
    from heartgrpo.judge.reward_model.run import sample_conversations, targets
    from heartgrpo.judge.verifier.examples import load_graded

    t0 = time.perf_counter()
    torch.manual_seed(seed)
    answers = sample_conversations(Answers.from_examples(load_graded(graded, conversations)), conversations_limit)
    groups, ref, dim_refs, keep = targets(answers)
    answers = answers.subset(keep)
    texts = [render(g[0].conversation, g[0].response, [(e.criterion, e.points) for e in g]) for g in answers.examples]
    tok = AutoTokenizer.from_pretrained(str(base_model))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    lm = AutoModelForCausalLM.from_pretrained(str(base_model), dtype=dtype).to(device)
    head = build_head(lm.config.hidden_size).to(device)
    opt = torch.optim.AdamW([{"params": lm.parameters(), "lr": lr}, {"params": head.parameters(), "lr": head_lr}])
    order = list(members(groups).values())
    losses, steps = [], 0
    for _ in range(epochs):
        random.Random(seed + steps).shuffle(order)
        for idx in order:
            g = [groups[i] for i in idx]
            pairs = torch.tensor(ordered_pairs(g, [ref[i] for i in idx]), device=device)
            if not len(pairs):
                continue
            h, s = _forward(lm, head, tok, [texts[i] for i in idx], max_length, device)
            dims = [torch.tensor(ordered_pairs(g, [dim_refs[d][i] for i in idx]), device=device) for d in DIMENSIONS]
            loss = (bt_loss(s[:, 0], pairs) + dim_weight * sum(bt_loss(s[:, k + 1], p) for k, p in enumerate(dims)) / len(dims)
                    + gprc_weight * gprc_loss(h, torch.tensor(ordered_triples(g, [ref[i] for i in idx]), device=device)))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss))
            steps += 1
            if max_steps is not None and steps >= max_steps:
                break
        if max_steps is not None and steps >= max_steps:
            break
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lm.save_pretrained(out / "lm")
    tok.save_pretrained(out / "lm")
    save_file({k: v.detach().float().cpu().contiguous() for k, v in head.state_dict().items()}, str(out / HEAD_FILE))
    info = {"base_model": str(base_model), "device": device, "steps": steps, "gprc_weight": gprc_weight,
            "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None,
            "answers": len(groups), "conversations": len(set(groups)), "seconds": round(time.perf_counter() - t0, 1),
            "rep": head["proj"].out_features, "heads": ["overall", *DIMENSIONS], "max_length": max_length}
    (out / "head.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info
