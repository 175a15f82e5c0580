"""The alert and recording rules on Debian's Prometheus: promtool's unit tests, then a real Prometheus and
Pushgateway on 127.0.0.1 scraping a running `tweetops serve` under a short load and a real `tweetops monitor`
push, through which every dashboard panel's query and every rule is evaluated (Grafana itself cannot be
installed here: tests/monitoring_stack/test_dashboard.py checks the dashboard JSON instead)."""
from __future__ import annotations

import json
import shutil
import subprocess

import httpx
import pytest
import yaml

from monitoring.grafana.dashboard import OUTPUT as DASHBOARD, panel_queries
from tests.api.conftest import serve_env
from tests.conftest import ROOT
from tests.monitoring.conftest import DRIFT
from tests.servers.ports import free_port, stop_group, wait_until
from tweetops.cli import main
from tweetops.monitoring.push import push

PROMETHEUS = ROOT / "monitoring" / "prometheus"
RULES = PROMETHEUS / "rules" / "tweetops.rules.yml"
DRIFT_SET = DRIFT / "movieReviewSnippets_GroundTruth.txt"  # flagged as drift (tests/monitoring/test_real_drift.py)


def _binary(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.fail(f"{name} is missing; run scripts/install_system_deps.sh (Debian's prometheus and "
                    "prometheus-pushgateway).")
    return path


def test_promtool_unit_tests_fire_every_alert_where_they_should():
    config = subprocess.run([_binary("promtool"), "check", "config", str(PROMETHEUS / "prometheus.yml")],
                            capture_output=True, text=True)
    assert config.returncode == 0, config.stdout + config.stderr
    tested = subprocess.run([_binary("promtool"), "test", "rules", str(PROMETHEUS / "tests" / "tweetops.test.yml")],
                            capture_output=True, text=True)
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr
    alerts = {rule["alert"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]
              if "alert" in rule}
    unit_tests = (PROMETHEUS / "tests" / "tweetops.test.yml").read_text()
    assert {a for a in alerts if f"alertname: {a}\n" not in unit_tests} == set()  # every alert has a unit test


def _started(command: list[str], log, url: str, what: str) -> subprocess.Popen:
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_until(lambda: process.poll() is not None or httpx.get(url, timeout=2).status_code == 200, timeout=60,
               what=what)
    assert process.poll() is None, f"{what} exited with {process.returncode}"
    return process


@pytest.fixture
def pushgateway(tmp_path):
    """A real Pushgateway on loopback; its URL."""
    port = free_port()
    # Debian's build persists to /var/lib/prometheus by default: this test's own file instead.
    command = [_binary("prometheus-pushgateway"), f"--web.listen-address=127.0.0.1:{port}",
               f"--persistence.file={tmp_path / 'pushgateway.data'}"]
    with open(tmp_path / "pushgateway.log", "wb") as log:
        process = _started(command, log, f"http://127.0.0.1:{port}/-/ready", "the Pushgateway")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_group(process)


@pytest.fixture
def stack(trained_bundle, tmp_path, start_server, pushgateway):
    """API, Pushgateway and Prometheus (the project's config and rules; targets on loopback, 1 s intervals)."""
    api = start_server(serve_env(trained_bundle, tmp_path, WEB_CONCURRENCY=2))
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(PROMETHEUS / rule) for rule in config["rule_files"]]
    targets = {"tweetops-api": api.url.removeprefix("http://"), "pushgateway": pushgateway.removeprefix("http://")}
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    url = f"http://127.0.0.1:{free_port()}"
    with open(tmp_path / "prometheus.log", "wb") as log:
        process = _started([_binary("prometheus"), f"--config.file={tmp_path / 'prometheus.yml'}",
                            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                            f"--web.listen-address={url.removeprefix('http://')}"], log, f"{url}/-/ready", "Prometheus")
    try:
        yield {"api": api.url, "gateway": pushgateway, "prometheus": url}
    finally:
        stop_group(process)


def test_each_monitor_push_replaces_the_last_and_a_gateway_down_does_not_hide_the_verdict(pushgateway, trained_bundle,
                                                                                          tmp_path, capsys):
    result = {"verdict": "drift", "checks": [{"name": "length_ks", "value": 0.5, "threshold": 0.3, "drift": True}]}
    push(pushgateway, result, 1_000.0, "old-model")
    push(pushgateway, {"verdict": "no_drift", "checks": []}, 2_000.0, "new-model")
    pushed = httpx.get(f"{pushgateway}/metrics", timeout=10).text
    assert 'tweetops_drift_detected{instance="",job="tweetops-monitor",model_version="new-model"} 0' in pushed
    assert "old-model" not in pushed and "tweetops_drift_check_value{" not in pushed  # nothing stale keeps firing

    closed = f"http://127.0.0.1:{free_port()}"
    code = main(["monitor", "--model", str(trained_bundle), "--input", str(DRIFT_SET), "--output", str(tmp_path / "m"),
                 "--params", str(ROOT / "params.yaml"), "--pushgateway", closed])
    # Drift is still exit 3, which the daily workflow turns into a retrain (a gateway down made it a user error, 2,
    # and the retrain never started); the failed push is a warning.
    out, err = capsys.readouterr()
    assert code == 3 and "verdict: drift (fired: " in out
    assert json.loads((tmp_path / "m" / "drift.json").read_text())["verdict"] == "drift"  # the report was kept
    warned = [line for line in err.splitlines() if "Pushgateway" in line]
    assert len(warned) == 1 and "error:" not in err, err
    assert f"monitor: could not push the drift metrics to the Pushgateway at {closed} (" in warned[0]
    assert "The verdict stands" in warned[0]

    code = main(["monitor", "--model", str(trained_bundle), "--input", str(DRIFT_SET), "--output", str(tmp_path / "n"),
                 "--params", str(ROOT / "params.yaml"), "--pushgateway", "not a url"])
    assert code == 2 and capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: --pushgateway / PUSHGATEWAY_URL must be an http(s) URL such as http://pushgateway:9091, "
        "got 'not a url'.")
    assert not (tmp_path / "n").exists()  # refused before any work


def _query(prometheus: str, expr: str) -> dict:
    return httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10).json()


def test_every_panel_query_and_rule_returns_series_from_a_real_prometheus(stack, trained_bundle, tweets, tmp_path):
    with httpx.Client(base_url=stack["api"], timeout=10) as client:
        for text in tweets[:300]:
            assert client.post("/predict", json={"text": text}).status_code == 200
        assert client.post("/predict", json={"text": ""}).status_code == 422
        assert client.post("/invocations", json={"instances": tweets[:20]}).status_code == 200
    assert main(["monitor", "--model", str(trained_bundle), "--input", str(DRIFT_SET), "--output", str(tmp_path / "m"),
                 "--params", str(ROOT / "params.yaml"), "--pushgateway", stack["gateway"]]) == 3  # drift

    prometheus = stack["prometheus"]
    queries = panel_queries(json.loads(DASHBOARD.read_text()))
    groups = yaml.safe_load(RULES.read_text())["groups"]
    recorded = [rule["record"] for group in groups for rule in group["rules"] if "record" in rule]

    def every_expression_has_series() -> bool:
        empty = [e for e in [q for _, q in queries] + recorded if not _query(prometheus, e)["data"]["result"]]
        assert not empty, f"no series yet for {empty}"  # wait_until reports the last one
        return True
    wait_until(every_expression_has_series, timeout=90, interval=1, what="series for every panel query and rule")

    for title, expr in queries:
        assert _query(prometheus, expr)["status"] == "success", title
    rules = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
    loaded = {rule["name"]: rule for group in rules for rule in group["rules"]}
    expected = {rule.get("alert") or rule["record"] for group in groups for rule in group["rules"]}
    assert set(loaded) == expected  # every rule loaded, and evaluated without error:
    assert {name: rule.get("lastError") for name, rule in loaded.items() if rule["health"] != "ok"} == {}

    def firing() -> dict:
        alerts = httpx.get(f"{prometheus}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
        return {a["labels"]["alertname"]: a["labels"] for a in alerts if a["state"] == "firing"}
    wait_until(lambda: {"TweetopsDriftDetected", "TweetopsModelVersionChanged"} <= set(firing()), timeout=60,
               interval=1, what="the drift and new-model alerts")
    now = firing()
    assert now["TweetopsDriftDetected"]["model_version"] == trained_bundle.name
    assert now["TweetopsModelVersionChanged"]["version"] == trained_bundle.name
    assert "TweetopsHighErrorRate" not in now and "TweetopsApiDown" not in now  # 422s are the client's, not 5xx
    assert float(_query(prometheus, "tweetops:http_errors:ratio_rate5m")["data"]["result"][0]["value"][1]) == 0
    predicted = _query(prometheus, "sum(tweetops_predictions_total)")["data"]["result"]
    assert float(predicted[0]["value"][1]) == 320  # every text classified, summed over both workers
