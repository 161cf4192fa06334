"""JUnit XML from a student's view of a result: one testsuite per topic, for CI systems to render."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from grader.results.model import Outcome, TestResult, write_text_atomic
from grader.results.visibility import StudentView, seen

# XML 1.0 cannot carry most control characters, and a student's print() can produce any of them.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _testcase(suite: ET.Element, t: TestResult) -> None:
    case = ET.SubElement(suite, "testcase", name=_clean(t.name), classname=f"{t.topic}.{t.kind}",
                         time=f"{t.duration:.3f}")
    message = _clean(t.message)
    if t.outcome == Outcome.FAILED:
        ET.SubElement(case, "failure", message=_first_line(message), type="failed").text = message
    elif t.outcome in (Outcome.ERROR, Outcome.TIMEOUT):
        ET.SubElement(case, "error", message=_first_line(message), type=t.outcome).text = message
    elif t.outcome in (Outcome.SKIPPED, Outcome.NOT_GRADED):
        ET.SubElement(case, "skipped", message=_first_line(message) or t.outcome)
    if t.output:
        ET.SubElement(case, "system-out").text = _clean(t.output)


def junit_xml(view: StudentView) -> str:
    """The whole document; suites are named ``<topic>`` and cases ``<topic>.<kind>``/``<test>``."""
    result = seen(view)
    root = ET.Element("testsuites", name=_clean(result.submission),
                      time=f"{result.duration:.3f}")
    for topic in result.topics:
        tests = [t for t in result.tests if t.topic == topic.topic]
        suite = ET.SubElement(
            root, "testsuite", name=topic.topic, tests=str(len(tests)),
            failures=str(sum(t.outcome == Outcome.FAILED for t in tests)),
            errors=str(sum(t.outcome in (Outcome.ERROR, Outcome.TIMEOUT) for t in tests)),
            skipped=str(sum(t.outcome in (Outcome.SKIPPED, Outcome.NOT_GRADED) for t in tests)),
            time=f"{sum(t.duration for t in tests):.3f}")
        props = ET.SubElement(suite, "properties")
        for name, value in (("score", f"{topic.score:g}"), ("max_score", f"{topic.max_score:g}"),
                            ("seed", str(result.seed)), ("note", topic.note)):
            ET.SubElement(props, "property", name=name, value=_clean(value))
        for t in tests:
            _testcase(suite, t)
    if result.error:
        # Grading itself broke: one errored case so that the CI view shows it, not a green run.
        suite = ET.SubElement(root, "testsuite", name="grader", tests="1", failures="0",
                              errors="1", skipped="0", time="0")
        case = ET.SubElement(suite, "testcase", name="grading", classname="grader")
        ET.SubElement(case, "error", message=_first_line(_clean(result.error)),
                      type="grader_error").text = _clean(result.error)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_junit(view: StudentView, path: Path) -> None:
    write_text_atomic(path, junit_xml(view))
