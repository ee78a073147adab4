"""--junit: one test case per threshold, valid against the JUnit schema."""

from __future__ import annotations

import os
import pathlib
import xml.etree.ElementTree as ET

import pytest
import xmlschema

from conftest import run_json

XSD = os.environ.get("JUNIT_XSD", "")


@pytest.fixture(scope="module")
def schema():
    assert XSD and pathlib.Path(XSD).is_file(), (
        "JUNIT_XSD must name junit-10.xsd (tests/output/run.sh fetches it)"
    )
    return xmlschema.XMLSchema(XSD)


def cases(path: pathlib.Path) -> dict[str, ET.Element]:
    root = ET.parse(path).getroot()
    return {c.get("name"): c for c in root.iter("testcase")}


def test_thresholds_become_test_cases_with_measured_values(gcannon, target, tmp_path, schema):
    report = tmp_path / "gate.xml"
    code, result = run_json(
        [
            gcannon, target, "-c", "4", "-d", "1s", "--junit", str(report),
            "--threshold", "p99 < 10s",
            "--threshold", "rps > 1000000000000",
            "--threshold", "errors == 0",
        ]
    )
    assert code == 1, "a failed threshold exits 1"
    schema.validate(str(report))
    found = cases(report)
    assert set(found) == {"run", "p99 < 10s", "rps > 1000000000000", "errors == 0"}
    failed = {n: c.find("failure") for n, c in found.items() if c.find("failure") is not None}
    assert set(failed) == {"rps > 1000000000000"}
    measured = next(v["measured"] for v in result["thresholds"] if v["expr"] == "rps > 1000000000000")
    assert measured in failed["rps > 1000000000000"].get("message")
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite.get("tests") == "4" and suite.get("failures") == "1"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert int(props["responses"]) == result["responses"]


def test_a_run_with_no_good_response_fails_its_run_case(gcannon, target, tmp_path, schema):
    report = tmp_path / "bad.xml"
    code, result = run_json([gcannon, target + "status/503", "-c", "2", "-d", "500ms", "--junit", str(report)])
    assert code == 1 and result["status"]["5xx"] > 0
    schema.validate(str(report))
    failure = cases(report)["run"].find("failure")
    assert failure is not None and "no successful response" in failure.get("message")


def test_an_unwritable_path_fails_before_any_load(gcannon, target, tmp_path):
    import subprocess

    out = subprocess.run(
        [gcannon, target, "-d", "1s", "--junit", str(tmp_path / "missing" / "x.xml")],
        capture_output=True, text=True, timeout=30,
    )
    assert out.returncode == 2
    assert "--junit" in out.stderr and "missing" in out.stderr
    assert "requests in" not in out.stdout
