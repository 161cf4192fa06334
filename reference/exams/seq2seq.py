"""Answer keys of the seq2seq exam questions: the reference's beam search over a table whose
finished hypotheses have the question's lengths and log-probabilities, and its mutants."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import torch

from grader.exam.keys import Key, Refs, answers

BOS, EOS, WORD = 0, 1, 2
UNLIKELY = -1e3  # the score of every other next token: never among the best three


def _rows(hypotheses: list[tuple[int, float]]) -> tuple[list, torch.Tensor]:
    """A table step on which a beam of 3 finishes exactly these (length, log p) hypotheses:
    hypothesis k is WORD + k repeated length − 1 times, then eos; its first token carries its
    whole log-probability and each later one 0. (Beam search reads these rows as given: they
    need not be normalised.)"""
    V = WORD + len(hypotheses)

    def row(scores: dict[int, float]) -> torch.Tensor:
        return torch.tensor([scores.get(v, UNLIKELY) for v in range(V)], dtype=torch.float64)

    rows = [([BOS], row({WORD + k: logp for k, (_, logp) in enumerate(hypotheses)}))]
    for k, (length, _) in enumerate(hypotheses):
        for t in range(1, length):
            rows.append(([BOS] + [WORD + k] * t, row({WORD + k if t < length - 1 else EOS: 0.0})))
    return rows, row({EOS: 0.0})


@answers("seq2seq.length_penalty")
def length_penalty(p: dict[str, Any], ref: Refs) -> Key:
    hypotheses = [(int(n), float(lp)) for n, lp in p["rows"]]
    rows, default = _rows(hypotheses)

    def values(m: ModuleType) -> dict[str, Any]:
        found = m.beam_search(m.make_table_step(rows, default), BOS, EOS, 3,
                              max(n for n, _ in hypotheses), p["alpha"])
        score = {tuple(tokens): s for tokens, s in found}
        order = [tuple([WORD + k] * (n - 1) + [EOS]) for k, (n, _) in enumerate(hypotheses)]
        best = order.index(tuple(found[0][0])) + 1
        return {"scores": [score[o] for o in order], "best": best}

    return ref.key("seq2seq", values, mutants=["no_length_penalty", "length_counts_bos",
                                               "length_penalty_plain_power"])
