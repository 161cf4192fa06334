"""Exam questions on sequence to sequence: ranking finished beam hypotheses with GNMT's length
penalty."""

from __future__ import annotations

from typing import Any

import numpy as np

from grader.exam.bank import question
from grader.exam.parts import Array, Integer


@question(
    "seq2seq.length_penalty",
    title="Length penalty in beam search",
    parts=[Array("scores", "the three scores, A, B, C", shape=(3,)),
           Integer("best", "the hypothesis returned first (1 for A, 2 for B, 3 for C)")],
    text="""
Beam search finished three hypotheses. |Y| counts the tokens after [BOS], [EOS] included; log p
is the sum of their log-probabilities:

{{ rows|table(["A", "B", "C"], ["|Y|", "log p"]) }}

Each is scored log p / lp(Y) with GNMT's length penalty lp(Y) = ((5 + |Y|) / 6)^α and
α = {{ alpha }}; the highest score is returned first.

Give the three scores and the number of the hypothesis returned first.
""",
)
def length_penalty(rng: np.random.Generator) -> dict[str, Any]:
    while True:
        lengths = np.sort(rng.choice(np.arange(2, 16), size=3, replace=False))
        logp = -np.round(lengths * rng.uniform(0.25, 0.6, size=3), 1)
        alpha = float(rng.choice([0.6, 0.8, 1.0, 1.2]))
        scores = logp / ((5 + lengths) / 6) ** alpha
        # The penalty must change the winner, and no two scores may be near a tie.
        if np.argmax(logp) != np.argmax(scores) and np.min(np.diff(np.sort(scores))) > 0.05:
            return {"rows": np.stack([lengths, logp], axis=1), "alpha": alpha}
