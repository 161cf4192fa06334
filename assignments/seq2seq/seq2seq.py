"""Sequence to sequence: greedy and beam-search decoding over a step function, GNMT's length
penalty, and the teacher-forcing loss (PyTorch)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

# step(prefixes) → (len(prefixes), V) log-probabilities of the next token after each prefix;
# a prefix is a list of Python ints that starts with bos.
Step = Callable[[list[list[int]]], torch.Tensor]


def greedy_decode(step: Step, bos: int, eos: int, max_len: int) -> tuple[list[int], float]:
    """Greedy decoding: start from [bos]; append the most likely next token, y_t = argmax_v
    log p(v | y_<t) (ties: the smallest id), until eos is emitted or max_len tokens were emitted.

    Returns (tokens after bos, eos included if it was emitted; Σ_t log p(y_t | y_<t)) as
    (list of ints, float).
    """
    # TODO: implement greedy_decode.
    raise NotImplementedError("greedy_decode: not implemented yet")


def length_penalty(length: int, alpha: float) -> float:
    """GNMT's length penalty: lp(Y) = ((5 + |Y|) / 6) ** alpha, |Y| = length (1 when alpha = 0)."""
    # TODO: implement length_penalty.
    raise NotImplementedError("length_penalty: not implemented yet")


def beam_search(step: Step, bos: int, eos: int, beam: int, max_len: int,
                alpha: float = 0.0) -> list[tuple[list[int], float]]:
    """Beam search with finished hypotheses set aside (the statement gives every rule).

    Start from the one hypothesis [bos] with log-prob 0. At each step t = 1 … max_len, extend
    every live hypothesis by every token (its log-prob + log p(v | prefix)), keep the best
    beam − (number finished) candidates (ties: earlier hypothesis, then smaller token id); a
    kept candidate that ends with eos, or any kept one at t = max_len, is finished and set
    aside; stop when none is alive. Score = log-prob / length_penalty(len(tokens), alpha).

    Returns the beam finished hypotheses as [(tokens after bos, score), ...], best score first
    (equal scores: in the order they finished).
    """
    # TODO: implement beam_search.
    raise NotImplementedError("beam_search: not implemented yet")


def teacher_forcing_loss(logits: torch.Tensor, targets: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Cross-entropy under teacher forcing, averaged over the non-padding targets:

        loss = Σ_{b,t: targets[b,t] ≠ pad_id} −log softmax(logits[b, t])[targets[b, t]]
               / #{(b, t): targets[b, t] ≠ pad_id}

    logits: (B, T, V), the decoder's scores at each position given the gold prefix;
    targets: (B, T) int64. Returns a 0-d tensor of logits' dtype; stable for logits of 1e4.
    """
    # TODO: implement teacher_forcing_loss.
    raise NotImplementedError("teacher_forcing_loss: not implemented yet")


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
