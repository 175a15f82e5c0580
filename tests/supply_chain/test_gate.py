"""scripts/vulnerability_gate.py: pip-audit for real against an OSV API on 127.0.0.1, Trivy reports as
Trivy writes them, and the allowlist's every rule (reason, expiry, package) with exact findings."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.repo_copy import ROOT
from tests.supply_chain.advisories import PYYAML, advisory, trivy_finding
from tests.supply_chain.locks import image_packages

GATE = ROOT / "scripts" / "vulnerability_gate.py"
TODAY = "2026-12-02"
CVSS4_CRITICAL = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H"  # the gate rates only v3
spec = importlib.util.spec_from_file_location("vulnerability_gate", GATE)
gate = sys.modules["vulnerability_gate"] = importlib.util.module_from_spec(spec)  # dataclasses look it up
spec.loader.exec_module(gate)


def run(*args, osv=None, cwd=ROOT):
    env = {"PATH": str(Path(sys.executable).parent), "OSV_API_URL": osv.url if osv else "http://127.0.0.1:9"}
    return subprocess.run([sys.executable, str(GATE), *map(str, args)], env=env, capture_output=True, text=True,
                          cwd=cwd)


def audited(tmp_path, osv) -> Path:
    report = tmp_path / "pip-audit.json"
    done = run("audit", "--output", report, ROOT / "requirements.lock", osv=osv)
    assert done.returncode == 0, done.stderr
    return report


def allowlist(tmp_path, *entries) -> Path:
    path = tmp_path / "allowlist.yaml"
    path.write_text(json.dumps({"allow": list(entries)}))  # JSON is YAML
    return path


def judge(tmp_path, osv, *reports, allow=()):
    args = ["judge", "--today", TODAY, "--allowlist", allowlist(tmp_path, *allow), "--summary", tmp_path / "gate.md"]
    for kind, path in reports:
        args += [f"--{kind}", path]
    return run(*args, osv=osv)


def test_pip_audit_asks_osv_about_every_locked_package_and_keeps_its_report(tmp_path, osv_api):
    osv_api.records.append(advisory(fixed=PYYAML))  # fixed in the locked version: not a finding
    report = json.loads(audited(tmp_path, osv_api).read_text())
    locked = image_packages()
    assert {d["name"]: d["version"] for d in report["dependencies"]} == locked
    assert sorted(osv_api.queries) == sorted(locked.items())
    assert all(d["vulns"] == [] for d in report["dependencies"])
    done = judge(tmp_path, osv_api, ("pip-audit", tmp_path / "pip-audit.json"))
    assert done.returncode == 0 and "## Vulnerability gate: passed" in done.stdout
    assert "No known vulnerability" in (tmp_path / "gate.md").read_text()


def test_a_high_finding_fails_with_its_row_and_an_allowlisted_one_passes(tmp_path, osv_api):
    osv_api.records.append(advisory(fixed="99.0"))
    report = audited(tmp_path, osv_api)
    failed = judge(tmp_path, osv_api, ("pip-audit", report))
    assert failed.returncode == 1
    row = f"| pip-audit | pyyaml | {PYYAML} | CVE-2026-90001 (GHSA-tw00-test-0001) | HIGH | 99.0 | blocks |"
    assert row in failed.stdout.splitlines()
    assert "failed: 1 HIGH/CRITICAL or unrated finding(s) outside the allowlist" in failed.stdout
    entry = {"id": "GHSA-tw00-test-0001", "package": "pyyaml", "reason": "only the full loader is affected",
             "expires": "2027-01-31"}
    passed = judge(tmp_path, osv_api, ("pip-audit", report), allow=[entry])
    assert passed.returncode == 0, passed.stdout
    assert "| HIGH | 99.0 | allowed until 2027-01-31: only the full loader is affected |" in passed.stdout


def test_an_expired_or_other_package_entry_does_not_cover_the_finding(tmp_path, osv_api):
    osv_api.records.append(advisory(fixed="99.0", severity="CRITICAL"))
    report = audited(tmp_path, osv_api)
    expired = {"id": "CVE-2026-90001", "reason": "accepted last year", "expires": "2026-12-02"}  # expires today
    done = judge(tmp_path, osv_api, ("pip-audit", report), allow=[expired])
    assert done.returncode == 1
    assert "| CRITICAL | 99.0 | blocks: its allowlist entry expired on 2026-12-02 |" in done.stdout
    elsewhere = {"id": "CVE-2026-90001", "package": "numpy", "reason": "numpy's copy only", "expires": "2027-06-30"}
    done = judge(tmp_path, osv_api, ("pip-audit", report), allow=[elsewhere])
    assert done.returncode == 1 and "| blocks |" in done.stdout
    assert "Allowlist entry CVE-2026-90001 matched no finding" in done.stdout


def test_severity_comes_from_the_osv_record_and_below_high_never_blocks(tmp_path, osv_api):
    """pip-audit reports no severity: the gate reads GitHub's label, else rates the CVSS v3 vector (also when
    the label is empty or unknown)."""
    osv_api.records += [advisory("pyyaml", severity="MODERATE", number=1),
                        advisory("requests", severity=None, cvss="CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:H/I:N/A:N",
                                 number=2),
                        advisory("numpy", severity=" low ", number=3)]
    done = judge(tmp_path, osv_api, ("pip-audit", audited(tmp_path, osv_api)))
    assert done.returncode == 0, done.stdout
    rows = [line for line in done.stdout.splitlines() if line.startswith("| pip-audit")]
    assert [row.split(" | ")[1::3] for row in rows] == [["pyyaml", "MEDIUM"], ["requests", "MEDIUM"], ["numpy", "LOW"]]
    assert all(row.endswith("| listed (below HIGH) |") for row in rows)


@pytest.mark.parametrize("record", [
    advisory(severity=None),  # no label, no vector
    advisory(severity=None, cvss="CVSS:3.1/AV:N/AC:L"),  # a vector that cannot be read
    {**advisory(severity=None), "severity": [{"type": "CVSS_V4", "score": CVSS4_CRITICAL}]},
])
def test_a_finding_the_gate_cannot_rate_fails_closed(tmp_path, osv_api, record):
    osv_api.records.append(record)
    done = judge(tmp_path, osv_api, ("pip-audit", audited(tmp_path, osv_api)))
    assert done.returncode == 1
    assert "| UNKNOWN | 99.0 | blocks: no severity could be read, so it counts as HIGH until triaged |" in done.stdout


@pytest.mark.parametrize("label", [None, "", " high ", "important"])
def test_an_empty_or_unknown_label_falls_back_to_the_cvss_vector(tmp_path, osv_api, label):
    record = advisory(cvss="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")
    record["database_specific"] = {"severity": label}
    osv_api.records.append(record)
    done = judge(tmp_path, osv_api, ("pip-audit", audited(tmp_path, osv_api)))
    severity = "HIGH" if label == " high " else "CRITICAL"  # a readable label wins; else the 9.8 of the vector
    assert done.returncode == 1 and f"| {severity} | 99.0 | blocks |" in done.stdout


@pytest.mark.parametrize("vector, score", [
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8),
    ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", 6.1),
    ("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:N/A:N", 5.5),
    ("CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:H", 9.9),
    ("CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:H/I:N/A:N", 5.3),
    ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N", 0.0),
])
def test_cvss3_base_scores_match_the_specification_calculator(vector, score):
    assert gate.cvss3_base_score(vector) == score


def test_a_trivy_finding_in_the_image_fails_and_a_package_scoped_entry_allows_it(tmp_path, osv_api):
    report = tmp_path / "trivy.json"
    report.write_text(json.dumps({"SchemaVersion": 2, "ArtifactName": "tweetops:ci", "Results": [
        {"Target": "tweetops:ci (debian 12.12)", "Class": "os-pkgs", "Type": "debian",
         "Vulnerabilities": [trivy_finding(), trivy_finding("libc6", "2.36-9", "LOW", "CVE-2026-40002")]},
        {"Target": "Python", "Class": "lang-pkgs", "Type": "python-pkg"}]}))
    done = judge(tmp_path, osv_api, ("trivy", report))
    assert done.returncode == 1
    assert "| trivy: debian | openssl | 3.0.17-1~deb12u2 | CVE-2026-40001 | CRITICAL | no fix yet | blocks |" \
        in done.stdout
    assert "| trivy: debian | libc6 | 2.36-9 | CVE-2026-40002 | LOW | no fix yet | listed (below HIGH) |" in done.stdout
    entry = {"id": "CVE-2026-40001", "package": "openssl", "reason": "no TLS server in the image",
             "expires": "2027-01-01"}
    assert judge(tmp_path, osv_api, ("trivy", report), allow=[entry]).returncode == 0


@pytest.mark.parametrize("entry, message", [
    ({"id": "CVE-1", "expires": "2027-01-01"}, "allowlist entry 1 (CVE-1) needs a `reason`"),
    ({"id": "CVE-1", "reason": "  ", "expires": "2027-01-01"}, "needs a `reason`"),
    ({"id": "CVE-1", "reason": "r"}, "needs `expires` as a date (YYYY-MM-DD)"),
    ({"id": "CVE-1", "reason": "r", "expires": "next year"}, "needs `expires` as a date (YYYY-MM-DD)"),
    ({"reason": "r", "expires": "2027-01-01"}, "needs an `id`"),
    ({"id": "CVE-1", "reason": "r", "expires": "2027-01-01", "until": "x"}, "has unknown keys: until"),
])
def test_an_allowlist_entry_without_reason_or_expiry_is_refused_in_one_sentence(tmp_path, osv_api, entry, message):
    report = tmp_path / "trivy.json"
    report.write_text(json.dumps({"SchemaVersion": 2, "Results": []}))
    done = judge(tmp_path, osv_api, ("trivy", report), allow=[entry])
    assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("kind, report", [
    ("pip-audit", {}), ("pip-audit", []), ("pip-audit", {"dependencies": None}),
    ("pip-audit", {"dependencies": [{"name": "pyyaml", "vulns": [{"id": "X"}]}]}),
    ("pip-audit", {"dependencies": [{"name": "pyyaml", "version": "1", "vulns": [{"aliases": []}]}]}),
    ("trivy", {}), ("trivy", {"bomFormat": "CycloneDX", "components": []}),
    ("trivy", {"SchemaVersion": 2, "Results": [{"Vulnerabilities": [{"VulnerabilityID": "CVE-1"}]}]}),
    ("trivy", {"SchemaVersion": 2, "Results": ["a string"]}), ("trivy", None),
])
def test_a_report_of_the_wrong_shape_is_one_sentence_and_exit_2(tmp_path, osv_api, kind, report):
    """An empty object or an SBOM is not a clean scan: it passed as one before."""
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    done = judge(tmp_path, osv_api, (kind, path))
    assert done.returncode == 2 and "is not a" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_the_allowlist_matches_package_names_as_pypi_does_and_pipes_stay_in_their_cell(tmp_path, osv_api):
    report = tmp_path / "trivy.json"
    report.write_text(json.dumps({"SchemaVersion": 2, "Results": [{"Type": "python-pkg", "Vulnerabilities": [
        trivy_finding("PyYAML", "6.0|3", "HIGH", "CVE-2026-40003")]}]}))
    entry = {"id": "CVE-2026-40003", "package": "pyyaml", "reason": "a | b\nc", "expires": "2027-01-01"}
    done = judge(tmp_path, osv_api, ("trivy", report), allow=[entry])
    assert done.returncode == 0, done.stdout
    assert "| trivy: python-pkg | PyYAML | 6.0\\|3 | CVE-2026-40003 | HIGH | no fix yet | allowed until 2027-01-01: " \
           "a \\| b c |" in done.stdout


@pytest.mark.parametrize("text, message", [
    ("allow:\n  - id: CVE-1\n    reason: r\n    expires: 2027-02-30\n", "cannot be read (day is out of range"),
    ("allow:\n  - id: CVE-1\n    reason: r\n    expires: 2027-01-01\n    package: [a, b]\n",
     "`package` must be one package name"),
    ("allow:\n  - 1: x\n    id: CVE-1\n", "has unknown keys: 1"),
])
def test_a_malformed_allowlist_is_one_sentence(tmp_path, osv_api, text, message):
    report = tmp_path / "trivy.json"
    report.write_text(json.dumps({"SchemaVersion": 2, "Results": []}))
    (tmp_path / "bad.yaml").write_text(text)
    done = run("judge", "--trivy", report, "--allowlist", tmp_path / "bad.yaml", osv=osv_api)
    assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_missing_reports_and_an_unreachable_osv_api_are_one_sentence_and_exit_2(tmp_path):
    done = run("judge", "--trivy", tmp_path / "none.json", "--allowlist", allowlist(tmp_path))
    assert done.returncode == 2 and done.stderr.strip().endswith("the Trivy step wrote no report.")
    done = run("audit", "--output", tmp_path / "out.json", ROOT / "requirements.lock")  # nothing on port 9
    assert done.returncode == 2 and done.stderr.startswith("error: pip-audit wrote no report")
    assert not (tmp_path / "out.json").exists()
    (tmp_path / "bad.json").write_text("{not json")
    done = run("judge", "--pip-audit", tmp_path / "bad.json", "--allowlist", allowlist(tmp_path))
    assert done.returncode == 2 and "is not a pip-audit JSON report" in done.stderr


def test_the_projects_allowlist_is_valid():
    assert gate.read_allowlist(ROOT / "security" / "allowlist.yaml") == []
