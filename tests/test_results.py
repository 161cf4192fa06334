"""Result files: the JSON layout people read, and what it costs to write."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from grader.results.model import (SubmissionResult, TestResult, dumps_readable, load_result,
                            write_json_atomic)
from grader.results.scoring import topic_results

SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=8) | \
    st.floats(allow_nan=False)
KEYS = st.text(max_size=6) | st.integers() | st.booleans() | st.none() | \
    st.floats(allow_nan=False, allow_infinity=False)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) |
                      st.dictionaries(KEYS, inner, max_size=4), max_leaves=30)


@settings(deadline=None, max_examples=300)
@given(VALUES, st.integers(0, 4))
def test_readable_json_reads_back_as_json_writes_it(value, depth: int) -> None:
    assert json.loads(dumps_readable(value, depth)) == json.loads(json.dumps(value))


def test_a_result_file_has_one_test_per_line(tmp_path: Path) -> None:
    tests = tuple(TestResult(topic="toy", name=f"test_{i}", nodeid=f"toy/hidden::test_{i}",
                             kind="hidden", outcome="passed", score=1.0, max_score=1.0,
                             message='quotes " and\nnew lines', details={"k": [1, 2]})
                  for i in range(3))
    result = SubmissionResult(submission="ada", topics=topic_results(list(tests), ["toy"]),
                              tests=tests, seed=1, sandbox=(), started="", duration=1.0)
    path = tmp_path / "result.json"
    write_json_atomic(path, result.to_dict())
    lines = path.read_text().splitlines()
    assert sum(1 for line in lines if '"nodeid": "toy/hidden::test_' in line) == 3
    assert lines[0] == "{" and lines[-1] == "}"
    assert load_result(path) == result
