"""Answers files are untrusted data: how answers are read, limited, compared and explained."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.exam.answers import (
    MAX_BYTES,
    AnswersError,
    answer_files,
    read_answers,
    student_from_name,
)
from grader.exam.parts import Array, Choice, Integer, Integers, Number, fmt, parse_number


@pytest.mark.parametrize("raw, value", [
    ("0.75", 0.75), (" -3e-4 ", -3e-4), ("−1.5", -1.5), ("3/4", 0.75), ("-1/8", -0.125),
    (2, 2.0), (0.5, 0.5), ("1.5×10⁻³", 1.5e-3), ("2x10^-5", 2e-5), ("+.5", 0.5),
])
def test_numbers_are_read_in_the_forms_people_write(raw, value):
    assert parse_number(raw) == pytest.approx(value)


@pytest.mark.parametrize("raw, says", [
    ("", "no answer"), ("0,75", "decimal"), ("1/0", "divides by zero"), ("abc", "could not read"),
    ("50%", "without %"), (True, "expected a number"), ({"x": 1}, "found dict"), ("nan", "could not read"),
    (float("inf"), "finite"), ("__import__('os')", "could not read"), ("9" * 3000, "at most"),
])
def test_bad_numbers_are_rejected_with_a_reason(raw, says):
    with pytest.raises(ValueError, match=says):
        parse_number(raw)


def test_arrays_accept_lists_and_typed_text_and_check_the_shape():
    part = Array("A", "A", shape=(2, 3))
    expected = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    for raw in (expected, [["1", "2", "3"], ["4", "5", "6"]], "1 2 3; 4 5 6", "[1, 2, 3]\n[4, 5, 6]",
                [1, 2, 3, 4, 5, 6]):
        assert part.parse(raw) == expected
    with pytest.raises(ValueError, match="expected a 2×3 table, you gave a 3×2 table"):
        part.parse([[1, 2], [3, 4], [5, 6]])
    with pytest.raises(ValueError, match="rows of different lengths"):
        part.parse([[1, 2, 3], [4, 5]])
    with pytest.raises(ValueError, match="entry 2"):
        part.parse([[1, "x", 3], [4, 5, 6]])
    with pytest.raises(ValueError, match="nested too deeply"):
        part.parse([[[[[1]]]]])


def test_a_list_of_values_may_be_typed_as_a_row_or_a_column():
    part = Array("w", "w", shape=(2,))
    for raw in ("1.2, 3", "1.2 ; 3", "1.2\n3", [[1.2], [3]], [[1.2, 3]], [1.2, 3]):
        assert part.parse(raw) == [1.2, 3.0], raw
    with pytest.raises(ValueError, match="expected 2 values, you gave 3 values"):
        part.parse("1, 2, 3")
    with pytest.raises(ValueError, match="expected 2 values, you gave a 3×1 table"):
        part.parse("1; 2; 3")
    with pytest.raises(ValueError, match="expected a 2×2 table, you gave a 1×4 table"):
        Array("A", "A", shape=(2, 2)).parse([[1, 2, 3, 4]])


def test_array_credit_is_the_share_of_entries_within_tolerance():
    part = Array("A", "A", shape=(2, 2))
    g = part.grade([[1.0, 2.0], [3.0, 9.0]], [[1.0, 2.001], [3.0, 4.0]])
    assert g.fraction == 0.75
    assert "3 of 4 entries right" in g.message and "(2, 2)" in g.message and "4" in g.message


def test_numbers_pass_within_tolerance_only():
    part = Number("x", "x")
    assert part.grade(0.6673, 0.66666).fraction == 1  # three significant figures are enough
    miss = part.grade(0.67, 0.6)
    assert miss.fraction == 0 and "expected 0.6, you gave 0.67" in miss.message
    tiny = Number("v", "v", atol=1e-9)
    assert tiny.grade(0.0, 2.5e-5).fraction == 0  # a small key still needs a right answer


def test_exact_parts():
    assert Integer("n", "n").parse("14") == 14
    with pytest.raises(ValueError, match="whole number"):
        Integer("n", "n").parse("14.5")
    unordered = Integers("v", "v", ordered=False)
    assert unordered.grade(unordered.parse("5, 3, 4"), [3, 4, 5]).fraction == 1
    ordered = Integers("s", "s")
    assert ordered.grade(ordered.parse([3, 3, 2]), [3, 2, 3]).fraction == 0
    exact = Array("C", "C", shape=(2,), exact=True)
    with pytest.raises(ValueError, match="whole number"):
        exact.parse([1.5, 2])


def test_choices_are_letters():
    part = Choice("c", "c")
    assert [part.parse(x) for x in ("b", " (C) ", "A.")] == ["B", "C", "A"]
    for bad in ("AB", "Z", 1, ""):
        with pytest.raises(ValueError):
            part.parse(bad)
    assert part.grade("B", "C").message == "the answer is (C), you chose (B)"


def test_numbers_are_printed_for_people():
    assert fmt(-0.000012345) == "−1.234×10⁻⁵"
    assert fmt(2.0) == "2" and fmt(-3) == "−3" and fmt(1 / 3, 6) == "0.333333"
    assert parse_number(fmt(-0.000012345)) == pytest.approx(-1.234e-5)


# ------------------------------------------------------------------------------ answers files


def _write(tmp_path: Path, name: str, data) -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_a_well_formed_file_is_read(tmp_path):
    doc = {"format": "dl-grader-exam-answers/1", "exam": "midterm", "student": "ada",
           "paper": "abc", "answers": {"q1": {"a": "1.5", "b": [1, 2]}}}
    af = read_answers(_write(tmp_path, "midterm-ada.json", doc))
    assert (af.exam, af.student, af.paper) == ("midterm", "ada", "abc")
    assert af.answers == {"q1": {"a": "1.5", "b": [1, 2]}}


@pytest.mark.parametrize("content, says", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    (json.dumps({"student": "ada"}), "no \"answers\" object"),
    (json.dumps({"answers": {"q1": [1, 2]}}), "must be an object"),
    (json.dumps({"answers": {}, "student": ["x"]}), "short text"),
    ('{"answers": {"q1": {"a": NaN}}}', "not a number an answer can hold"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply|not valid JSON"),
])
def test_malformed_files_say_what_is_wrong(tmp_path, content, says):
    with pytest.raises(AnswersError, match=says):
        read_answers(_write(tmp_path, "ada.json", content))


def test_oversized_and_binary_files_are_refused(tmp_path):
    big = _write(tmp_path, "big.json", '{"answers": {}, "x": "' + "a" * MAX_BYTES + '"}')
    with pytest.raises(AnswersError, match="at most 256 KiB"):
        read_answers(big)
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(AnswersError, match="not UTF-8"):
        read_answers(binary)


def test_file_names_suggest_students(tmp_path):
    assert student_from_name(Path("midterm-ada.json"), "midterm") == "ada"
    assert student_from_name(Path("midterm-ada (1).json"), "midterm") == "ada"
    assert student_from_name(Path("ben_answers.json"), "midterm") == "ben"


def test_answer_files_skip_links_and_hidden_files(tmp_path):
    (tmp_path / "sub").mkdir()
    _write(tmp_path, "a.json", "{}")
    _write(tmp_path / "sub", "b.json", "{}")
    _write(tmp_path, ".hidden.json", "{}")
    (tmp_path / "link.json").symlink_to("/etc/passwd")
    files, notes = answer_files(tmp_path)
    assert [p.name for p in files] == ["a.json", "b.json"]
    assert any("link.json" in n for n in notes)
