"""The Grafana dashboard, its provisioning and monitoring/docker-compose.yml, checked without Grafana.

Grafana itself cannot be installed on this machine (no package on PyPI, no image pull), so the dashboard
JSON is checked for what Grafana needs to load and lay it out; that each panel query returns series is
checked against a real Prometheus elsewhere, with panel_queries() from monitoring.grafana.dashboard.
"""
import json
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from monitoring.grafana.dashboard import DATASOURCE_UID, build, panel_queries, panels, render
from tests.conftest import ROOT
MONITORING = ROOT / "monitoring"
SCRIPT = MONITORING / "grafana" / "dashboard.py"
DASHBOARD_JSON = MONITORING / "grafana" / "dashboards" / "tweetops.json"
STALE = "is not what monitoring/grafana/dashboard.py generates"


def load_yaml(relative: str) -> dict:
    return yaml.safe_load((MONITORING / relative).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def board() -> dict:
    return json.loads(DASHBOARD_JSON.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_yaml("docker-compose.yml")


def check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--check", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_the_committed_json_is_what_the_code_generates():
    result = check()
    assert result.returncode == 0, result.stderr
    assert DASHBOARD_JSON.read_text(encoding="utf-8") == render(build())


def test_check_fails_with_one_sentence_on_an_edited_or_missing_copy(tmp_path):
    copy = tmp_path / "tweetops.json"
    shutil.copy(DASHBOARD_JSON, copy)
    assert check("--output", str(copy)).returncode == 0
    copy.write_text(copy.read_text(encoding="utf-8").replace('"30s"', '"1m"', 1), encoding="utf-8")
    result = check("--output", str(copy))
    assert result.returncode == 1
    assert STALE in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert check("--output", str(tmp_path / "absent.json")).returncode == 1


def test_the_dashboard_has_a_schema_version_unique_ids_and_unique_titles(board):
    assert isinstance(board["schemaVersion"], int) and board["uid"]
    every = panels(board)
    assert all(panel.get("type") for panel in every)
    ids = [panel["id"] for panel in every]
    assert len(ids) == len(set(ids))
    titles = [panel["title"] for panel in every]
    assert all(titles) and len(titles) == len(set(titles))


def test_panels_fit_the_24_column_grid_without_overlapping(board):
    boxes = []
    for panel in panels(board):
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["y"] >= 0 and pos["w"] > 0 and pos["h"] > 0, panel["title"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        boxes.append((panel["title"], pos))
    for index, (title, a) in enumerate(boxes):
        for other, b in boxes[index + 1:]:
            apart = (a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"]
                     or a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"])
            assert apart, f"{title!r} overlaps {other!r}"


def test_every_panel_queries_the_provisioned_prometheus(board):
    uid = load_yaml("grafana/provisioning/datasources/prometheus.yml")["datasources"][0]["uid"]
    for panel in panels(board):
        if panel["type"] == "row":
            continue
        assert panel.get("targets"), panel["title"]
        assert panel["datasource"]["uid"] == uid, panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"]["uid"] == uid, panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]


def test_panel_queries_cover_every_exported_metric_and_recording_rule(board):
    queries = panel_queries(board)
    assert len(queries) == sum(len(panel.get("targets", [])) for panel in panels(board))
    text = "\n".join(expr for _, expr in queries)
    for name in ("tweetops:http_requests:rate5m", "tweetops:http_errors:ratio_rate5m",
                 "tweetops:http_request_duration_seconds:p50_5m", "tweetops:http_request_duration_seconds:p99_5m",
                 "tweetops:predictions:rate5m", "tweetops:predictions:share1h", "tweetops_model_info",
                 "tweetops_history_backlog_bytes", "tweetops_history_quarantined_records", "tweetops_drift_detected",
                 "tweetops_drift_check_value", "tweetops_monitor_last_run_timestamp_seconds"):
        assert name in text, name


def test_the_drift_verdict_reads_as_words(board):
    verdict = next(panel for panel in panels(board) if panel["title"] == "Drift verdict")
    options = verdict["fieldConfig"]["defaults"]["mappings"][0]["options"]
    assert (options["0"]["text"], options["1"]["text"]) == ("no drift", "drift")


def test_provisioning_matches_the_dashboard_and_the_compose_mounts(board, compose):
    datasource = load_yaml("grafana/provisioning/datasources/prometheus.yml")["datasources"][0]
    assert datasource["uid"] == DATASOURCE_UID
    assert datasource["url"] == "http://prometheus:9090"
    provider = load_yaml("grafana/provisioning/dashboards/tweetops.yml")["providers"][0]
    mounts = dict(volume.split(":")[:2] for volume in compose["services"]["grafana"]["volumes"])
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"


def test_compose_mounts_only_paths_that_exist(compose):
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith("."):
                continue  # a named volume
            # The Prometheus config and rules come with their own change; they may not be here yet.
            if source.startswith("./prometheus/"):
                continue
            assert (MONITORING / source).exists(), f"{name} mounts {source}, which does not exist"
    assert (MONITORING / compose["services"]["api"]["build"]["context"] / "Dockerfile").is_file()


def test_compose_images_are_pinned_to_a_version(compose):
    images = {name: service["image"] for name, service in compose["services"].items() if "image" in service}
    assert set(images) == {"prometheus", "pushgateway", "grafana"}
    for name, image in images.items():
        repository, _, tag = image.rpartition(":")
        assert repository and re.fullmatch(r"v?\d+(\.\d+)+", tag), f"{name}: {image} is not pinned to a version"


def test_grafana_keeps_anonymous_access_off_and_takes_its_password_from_the_environment(compose):
    environment = compose["services"]["grafana"]["environment"]
    assert environment["GF_AUTH_ANONYMOUS_ENABLED"].endswith(":-false}")
    assert environment["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD")
