"""OSV-format advisories for the stand-in OSV API (tests/servers/osv.py), against packages the locks pin."""
from __future__ import annotations

from tests.supply_chain.locks import image_packages

PYYAML = image_packages()["pyyaml"]  # the locked version: the advisories below affect it


def advisory(package: str = "pyyaml", fixed: str = "99.0", severity: str | None = "HIGH",
             cvss: str | None = None, number: int = 1) -> dict:
    """One OSV record (schema 1.6) affecting `package` below `fixed`; severity as GitHub's reviewed label,
    or only as a CVSS v3 vector when `severity` is None."""
    record = {"schema_version": "1.6.0", "id": f"GHSA-tw00-test-{number:04d}", "aliases": [f"CVE-2026-9{number:04d}"],
              "modified": "2026-11-30T00:00:00Z", "published": "2026-11-30T00:00:00Z",
              "summary": f"A test advisory against {package}",
              "affected": [{"package": {"ecosystem": "PyPI", "name": package},
                            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}]}]}
    if severity:
        record["database_specific"] = {"severity": severity}
    if cvss:
        record["severity"] = [{"type": "CVSS_V3", "score": cvss}]
    return record


def trivy_finding(package: str = "openssl", version: str = "3.0.17-1~deb12u2", severity: str = "CRITICAL",
                  vid: str = "CVE-2026-40001") -> dict:
    """One entry of a Trivy JSON report's Vulnerabilities list."""
    return {"VulnerabilityID": vid, "PkgName": package, "InstalledVersion": version, "FixedVersion": "",
            "Severity": severity, "Title": f"a test finding in {package}"}
