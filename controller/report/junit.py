"""`junit.xml`: one test suite `gwlab.<scenario>`, one test case per expectation, for Jenkins/GitLab."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from controller.report.data import profile_text
from controller.results import RunReport

# Characters XML 1.0 cannot carry at all (daemon output sometimes has them).
_XML_ILLEGAL = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str) -> str:
    return _XML_ILLEGAL.sub("\ufffd", text)


def _seconds(ms: float) -> str:
    return f"{max(ms, 0.0) / 1000:.3f}" if math.isfinite(ms) else "0.000"


def _timestamp(started: str) -> str | None:
    """JUnit's timestamp: ISO 8601 without a zone (UTC), to the second."""
    try:
        when = datetime.fromisoformat(started)
    except ValueError:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when.isoformat(timespec="seconds")


def junit_tree(report: RunReport) -> ET.Element:
    """<testsuites><testsuite name="gwlab.<scenario>"> with one <testcase> per expectation.

    A run the controller failed without any failed expectation (it stopped early, say) gets one
    extra failing test case "run", so that CI never shows such a run green.
    """
    cases: list[ET.Element] = []
    failed = 0
    for exp in report.expectations:
        case = ET.Element(
            "testcase",
            {
                "classname": _xml_text(report.lab),
                "name": _xml_text(f"step {exp.step}: {exp.description}"),
                "time": _seconds(exp.duration_ms),
            },
        )
        if not exp.passed:
            failed += 1
            detail = _xml_text(exp.detail or "expectation not met")
            failure = ET.SubElement(
                case, "failure", {"message": detail.splitlines()[0] if detail else "", "type": exp.kind}
            )
            failure.text = detail
        cases.append(case)
    if not report.passed and failed == 0:
        failed += 1
        case = ET.Element("testcase", {"classname": _xml_text(report.lab), "name": "run", "time": "0.000"})
        detail = _xml_text("\n".join(report.notes) or "the run failed")
        failure = ET.SubElement(case, "failure", {"message": detail.splitlines()[0], "type": "run"})
        failure.text = detail
        cases.append(case)

    counts = {"tests": str(len(cases)), "failures": str(failed), "errors": "0", "skipped": "0"}
    time = _seconds(report.duration_ms)
    root = ET.Element("testsuites", {"name": "gwlab", **counts, "time": time})
    suite_attrs = {"name": _xml_text(f"gwlab.{report.scenario}"), **counts, "time": time}
    if (stamp := _timestamp(report.started)) is not None:
        suite_attrs["timestamp"] = stamp
    suite = ET.SubElement(root, "testsuite", suite_attrs)
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("lab", report.lab),
        ("scenario", report.scenario),
        ("profile", report.profile),
        ("profile_text", profile_text(report.profile)),
        ("started", report.started),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": _xml_text(value)})
    suite.extend(cases)
    if report.notes:
        ET.SubElement(suite, "system-out").text = _xml_text("\n".join(report.notes))
    return root


def junit_xml(report: RunReport) -> str:
    root = junit_tree(report)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
