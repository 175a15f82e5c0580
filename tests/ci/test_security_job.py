"""ci_validation.yml's security job, run for real in a scratch copy: a finding fails it, an allowlisted one does not.

pip-audit runs for real over every lock file against an OSV API on 127.0.0.1 (tests/servers/osv.py), which
holds the advisories each test gives it; Trivy cannot run here, so its report holds the findings a test
gives it (tests/ci/workflow_runner.py). Training, the image build, its smoke test and the SBOM extraction
are skipped, as if they passed: tests/e2e/test_image.py runs the same commands against a real daemon.
"""
from __future__ import annotations

import json

import pytest

from tests.ci.test_workflows import CI, PROVEN_BY_IMAGE_TEST, scratch_clone
from tests.ci.workflow_runner import WorkflowRun
from tests.repo_copy import ROOT
from tests.servers.osv import running_osv_api
from tests.supply_chain.advisories import PYYAML, advisory, trivy_finding
from tests.supply_chain.locks import LOCKS, read_lock

GATE = "Security gate: no HIGH or CRITICAL finding outside security/allowlist.yaml"
UPLOAD = "Upload the security reports and the SBOM"
IMAGE_STEPS = {name: PROVEN_BY_IMAGE_TEST for name in (
    "Train and publish a model to bake", "Build the image with the champion", "Smoke-test the running container",
    "Extract the image's SBOM (CycloneDX, baked in at build time)")}


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    return scratch_clone(tmp_path_factory.mktemp("clone"))


def security_job(root, records=(), trivy=(), allow=()):
    """Run the job with these OSV advisories, Trivy findings and allowlist entries; (run, gate summary)."""
    (root / "security" / "allowlist.yaml").write_text(json.dumps({"allow": list(allow)}))
    with running_osv_api(list(records)) as osv:
        run = WorkflowRun(CI, root, variables={"OSV_API_URL": osv.url}, skip=IMAGE_STEPS, trivy_findings=list(trivy))
        run.run(job="security")
    return run, (root / "reports" / "security" / "gate.md").read_text()


def test_with_no_finding_the_job_passes_and_every_locked_package_was_asked_about(clone):
    run, summary = security_job(clone, records=[advisory(fixed=PYYAML)])
    assert not run.failed(), run.report()
    assert summary == "## Vulnerability gate: passed\n\nNo known vulnerability in the scanned dependencies and image.\n"
    assert summary in run.summary
    report = json.loads((clone / "reports" / "security" / "pip-audit.json").read_text())
    locked = {name: e.version for lock in LOCKS for name, e in read_lock(ROOT / lock).items() if e.applies_here()}
    assert {d["name"]: d["version"] for d in report["dependencies"]} == locked
    assert {r.name: r.status for r in run.results}[UPLOAD] == "success"


def test_a_high_advisory_against_a_locked_package_fails_only_the_gate(clone):
    run, summary = security_job(clone, records=[advisory(fixed="99.0")])
    assert [r.name for r in run.failed()] == [GATE]
    assert f"| pip-audit | pyyaml | {PYYAML} | CVE-2026-90001 (GHSA-tw00-test-0001) | HIGH | 99.0 | blocks |" in summary
    assert summary in run.summary  # the table reaches the job summary although the step failed
    assert {r.name: r.status for r in run.results}[UPLOAD] == "success"  # and the reports are kept


def test_the_same_advisory_allowlisted_with_a_reason_and_expiry_passes(clone):
    entry = {"id": "GHSA-tw00-test-0001", "reason": "tweetops only calls yaml.safe_load", "expires": "2099-12-31"}
    run, summary = security_job(clone, records=[advisory(fixed="99.0")], allow=[entry])
    assert not run.failed(), run.report()
    assert "| HIGH | 99.0 | allowed until 2099-12-31: tweetops only calls yaml.safe_load |" in summary


def test_an_expired_entry_no_longer_covers_it(clone):
    entry = {"id": "CVE-2026-90001", "reason": "accepted for a while", "expires": "2020-01-31"}
    run, summary = security_job(clone, records=[advisory(fixed="99.0")], allow=[entry])
    assert [r.name for r in run.failed()] == [GATE]
    assert "| blocks: its allowlist entry expired on 2020-01-31 |" in summary


def test_a_critical_finding_in_the_image_fails_the_job(clone):
    run, summary = security_job(clone, records=[advisory(fixed=PYYAML)], trivy=[trivy_finding()])
    assert [r.name for r in run.failed()] == [GATE]
    assert "| trivy: python-pkg | openssl | 3.0.17-1~deb12u2 | CVE-2026-40001 | CRITICAL | no fix yet | blocks |" \
        in summary
