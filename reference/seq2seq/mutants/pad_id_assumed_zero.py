"""Mutant: the teacher-forcing loss treats id 0 as padding whatever pad_id is."""

# expect: classic mistake: the teacher-forcing loss treats id 0 as padding


from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

Step = Callable[[list[list[int]]], torch.Tensor]


def greedy_decode(step: Step, bos: int, eos: int, max_len: int) -> tuple[list[int], float]:
    """Emit the most likely next token (ties: the smallest id) until eos or max_len tokens.

    Returns (tokens after bos, eos included if emitted; the sum of their log-probabilities).
    """
    prefix, total = [bos], 0.0
    for _ in range(max_len):
        logp = step([prefix])[0]  # (V,)
        token = int(torch.argmax(logp))  # the first maximum: the smallest id among ties
        prefix.append(token)
        total += float(logp[token])
        if token == eos:
            break
    return prefix[1:], total


def length_penalty(length: int, alpha: float) -> float:
    """GNMT's length penalty lp(Y) = ((5 + |Y|) / 6) ** alpha."""
    return ((5.0 + length) / 6.0) ** alpha


def beam_search(step: Step, bos: int, eos: int, beam: int, max_len: int,
                alpha: float = 0.0) -> list[tuple[list[int], float]]:
    """Beam search that sets finished hypotheses aside; see the statement for every rule.

    Returns the `beam` finished hypotheses as (tokens after bos, log-prob / lp(len(tokens))),
    best first; equal scores keep the order in which the hypotheses finished.
    """
    alive: list[tuple[list[int], float]] = [([bos], 0.0)]  # one start, not `beam` copies of it
    finished: list[tuple[list[int], float]] = []  # (tokens after bos, log-prob), as they finish
    for t in range(1, max_len + 1):
        logp = step([prefix for prefix, _ in alive])  # (A, V)
        V = logp.shape[1]
        totals = torch.tensor([s for _, s in alive], dtype=logp.dtype)[:, None] + logp  # (A, V)
        flat = totals.reshape(-1)  # hypothesis-major: ties go to the earlier hypothesis, then
        # to the smaller token id, which a stable sort keeps (torch.topk promises no order)
        best = torch.sort(flat, descending=True, stable=True).indices[: beam - len(finished)]
        alive_next = []
        for index in best.tolist():
            i, token = divmod(index, V)
            hypothesis = (alive[i][0] + [token], float(flat[index]))
            if token == eos or t == max_len:
                finished.append((hypothesis[0][1:], hypothesis[1]))  # set aside: the beam narrows
            else:
                alive_next.append(hypothesis)
        alive = alive_next
        if not alive:
            break
    scored = [(tokens, score / length_penalty(len(tokens), alpha)) for tokens, score in finished]
    return sorted(scored, key=lambda h: -h[1])  # stable: ties keep the order of finishing


def teacher_forcing_loss(logits: torch.Tensor, targets: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Mean cross-entropy of logits[b, t] against targets[b, t] over the non-padding targets.

    logits: (B, T, V), targets: (B, T) int64 → a 0-d tensor of logits' dtype.
    """
    logp = torch.log_softmax(logits, dim=-1)  # (B, T, V), stable for large logits
    nll = -logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (B, T)
    keep = targets != 0  # (B, T)
    return torch.where(keep, nll, torch.zeros_like(nll)).sum() / keep.sum()


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
