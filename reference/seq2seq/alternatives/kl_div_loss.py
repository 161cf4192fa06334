"""Alternative: the loss as the Annotated Transformer writes it (KLDivLoss against one-hot
targets, padding rows zeroed by hand); decoding written apart from the reference."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

Step = Callable[[list[list[int]]], torch.Tensor]


def greedy_decode(step: Step, bos: int, eos: int, max_len: int) -> tuple[list[int], float]:
    """Greedy decoding: argmax (its first maximum, so the smallest id among ties) each step."""
    out: list[int] = []
    logp_sum = 0.0
    while len(out) < max_len and (not out or out[-1] != eos):
        scores = step([[bos, *out]])
        best = scores[0].argmax().item()
        logp_sum += scores[0, best].item()
        out.append(best)
    return out, logp_sum


def length_penalty(length: int, alpha: float) -> float:
    """GNMT: ((5 + length) / 6) to the power alpha."""
    return math.pow((5 + length) / 6, alpha)


def beam_search(step: Step, bos: int, eos: int, beam: int, max_len: int,
                alpha: float = 0.0) -> list[tuple[list[int], float]]:
    """Beam search that sets finished hypotheses aside, as the statement's rules say."""
    hyps, sums = [[bos]], [0.0]
    ended: list[tuple[list[int], float]] = []
    t = 0
    while hyps and t < max_len:
        t += 1
        scores = step(hyps)
        scores = torch.tensor(sums, dtype=scores.dtype).unsqueeze(1) + scores
        vocab = scores.size(1)
        flat = scores.flatten()  # row-major: an earlier hypothesis first, then a smaller token
        order = torch.argsort(-flat, stable=True)[: beam - len(ended)]
        grown = [(hyps[k // vocab] + [k % vocab], flat[k].item()) for k in order.tolist()]
        last = t == max_len
        ended += [(h[1:], v) for h, v in grown if last or h[-1] == eos]
        hyps = [h for h, _ in grown if not (last or h[-1] == eos)]
        sums = [v for h, v in grown if not (last or h[-1] == eos)]
    penalised = [(tokens, value / length_penalty(len(tokens), alpha)) for tokens, value in ended]
    # sorted() is stable with reverse=True too: equal scores keep their order of finishing
    return sorted(penalised, key=lambda pair: pair[1], reverse=True)


def teacher_forcing_loss(logits: torch.Tensor, targets: torch.Tensor, pad_id: int) -> torch.Tensor:
    """The Annotated Transformer's loss with no label smoothing: KLDivLoss (summed) of the
    log-softmax against one-hot targets whose padding rows are zeroed by hand, over the count of
    real targets."""
    V = logits.shape[-1]
    logp = torch.log_softmax(logits, dim=-1).reshape(-1, V)  # (B·T, V)
    flat = targets.reshape(-1)  # (B·T,)
    true = torch.zeros_like(logp).scatter_(1, flat.unsqueeze(1), 1.0)  # one-hot
    true[flat == pad_id] = 0.0  # padding contributes nothing
    loss = torch.nn.KLDivLoss(reduction="sum")(logp, true)
    return loss / (flat != pad_id).sum()


# ------------------------------------------------------------- provided: step functions to decode


def make_rnn_step(weights: dict[str, torch.Tensor], source: Sequence[int]) -> Step:
    """A small recurrent encoder–decoder as a step function (provided: do not change).

    The encoder reads source: h ← tanh(src_emb[x] enc_W + h enc_U + enc_b) from h = 0. The
    decoder starts from the encoder's last h and reads a prefix the same way with tgt_emb, dec_W,
    dec_U, dec_b; its next-token log-probabilities are log_softmax(s out_W + out_b).

    weights: src_emb (Vs, H), tgt_emb (V, H), enc_W, enc_U, dec_W, dec_U (H, H), enc_b, dec_b
    (H,), out_W (H, V), out_b (V,). step(prefixes) → (len(prefixes), V).
    """
    w = weights
    h = torch.zeros_like(w["enc_b"])  # (H,)
    for x in source:
        h = torch.tanh(w["src_emb"][x] @ w["enc_W"] + h @ w["enc_U"] + w["enc_b"])

    def step(prefixes: list[list[int]]) -> torch.Tensor:
        rows = []
        for prefix in prefixes:
            s = h
            for y in prefix:
                s = torch.tanh(w["tgt_emb"][y] @ w["dec_W"] + s @ w["dec_U"] + w["dec_b"])
            rows.append(torch.log_softmax(s @ w["out_W"] + w["out_b"], dim=-1))  # (V,)
        return torch.stack(rows)  # (N, V)

    return step


def make_table_step(rows: Sequence[tuple[Sequence[int], torch.Tensor]],
                    default: torch.Tensor) -> Step:
    """A step function read from a table (provided: do not change): the log-probabilities after
    a prefix are the row listed for that exact prefix (bos included), else `default` (V,)."""
    table = {tuple(prefix): row for prefix, row in rows}

    def step(prefixes: list[list[int]]) -> torch.Tensor:
        return torch.stack([table.get(tuple(p), default) for p in prefixes])  # (N, V)

    return step
