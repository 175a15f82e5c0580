"""The Docker image, built from the project's Dockerfile unchanged and run for real.

A real daemon (tests/servers/docker.py: the host's, or a private one with a stand-in base image when
no registry is reachable). The image is built by scripts/build_image.sh and smoke-tested by
scripts/smoke_test_image.py, the same commands the workflows run; the last test runs the retrain
workflow itself with an image that fails its smoke test. Every test that drives Docker lives in this
file, so under pytest-xdist (`--dist loadfile`) one worker owns the one private daemon.
"""
from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
from packaging.utils import canonicalize_name

from tests.ci.test_workflows import BUILD, GATE, PUBLISH, RETRAIN, SMOKE, TAG, registry_state, scratch_clone
from tests.ci.workflow_runner import WorkflowRun
from tests.monitoring.conftest import read_texts
from tests.repo_copy import ROOT, copy_repo, head_sha
from tests.servers.ports import free_port, wait_until
from tests.supply_chain.locks import image_packages
from tweetops.model.bundle import load_bundle

pytestmark = pytest.mark.e2e
MAX_IMAGE_BYTES = 900 * 1000 * 1000  # with onnxruntime for the encoder family (its issue's target)
TEXTS = ["I love this, best day ever!", "This is the worst service I have ever had.", "The meeting is at 3pm."]


def writable_folder(path: Path) -> Path:
    """A bind-mount source the image's non-root user (uid 10001) can write to."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o777)
    return path


def http(method: str, url: str, body=None, content_type: str = "application/json"):
    data = json.dumps(body).encode() if content_type == "application/json" and body is not None else body
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def image(docker_daemon, trained_bundle, tmp_path_factory):
    """The project's image with the session's trained bundle baked in, built as the workflows build it."""
    context = copy_repo(tmp_path_factory.mktemp("image-context"))
    run_id = trained_bundle.name
    bundle = context / "models" / run_id
    bundle.mkdir(parents=True)
    for item in trained_bundle.iterdir():
        (bundle / item.name).write_bytes(item.read_bytes())
    tag = f"tweetops-test:{run_id.lower()}"
    built = subprocess.run([str(context / "scripts" / "build_image.sh"), "--bundle", f"models/{run_id}", "--tag", tag],
                           cwd=context, env=docker_daemon.env(GITHUB_SHA=head_sha()), capture_output=True,
                           text=True, timeout=1200)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    yield {"tag": tag, "run_id": run_id, "manifest": json.loads((bundle / "manifest.json").read_text())}
    docker_daemon("rmi", "-f", tag, check=False)


class Container:
    """One `docker run -d` on a loopback port; stopped and removed by the fixture that made it."""

    def __init__(self, docker, image: str, *args: str, options: tuple = ()):
        self.docker, self.port = docker, free_port()
        self.id = docker("run", "-d", "-p", f"127.0.0.1:{self.port}:8080", *options, image, *args).stdout.strip()
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        def ready():
            if self.docker("inspect", "-f", "{{.State.Running}}", self.id).stdout.strip() != "true":
                raise AssertionError(f"the container exited:\n{self.logs()}")
            return http("GET", f"{self.url}/ping")[0] == 200
        wait_until(ready, timeout=60, what="the container's /ping")

    def logs(self) -> str:
        result = self.docker("logs", self.id, check=False)
        return result.stdout[-3000:] + result.stderr[-3000:]

    def stop(self) -> int:
        """SIGTERM (docker stop), then the exit code."""
        self.docker("stop", "-t", "30", self.id, timeout=60)
        return int(self.docker("inspect", "-f", "{{.State.ExitCode}}", self.id).stdout.strip())

    def remove(self) -> None:
        self.docker("rm", "-f", self.id, check=False)


@pytest.fixture(scope="module")
def served(docker_daemon, image, tmp_path_factory):
    """`serve` as the image's default user with a read-only root: only the data dir and /tmp can be written."""
    data = writable_folder(tmp_path_factory.mktemp("serve-data"))
    container = Container(docker_daemon, image["tag"], "serve",
                          options=("--read-only", "--tmpfs", "/tmp", "-v", f"{data}:/var/lib/tweetops"))
    try:
        container.wait_ready()
        yield container, data
    finally:
        container.remove()


def test_image_is_labelled_small_non_root_and_exec_form(docker_daemon, image):
    info = json.loads(docker_daemon("image", "inspect", image["tag"]).stdout)[0]
    labels, config = info["Config"]["Labels"], info["Config"]
    assert labels["org.opencontainers.image.revision"] == head_sha()
    assert labels["org.opencontainers.image.version"] == image["run_id"]
    assert float(labels["io.tweetops.model.macro-f1"]) == round(image["manifest"]["metrics"]["macro_f1"], 4)
    assert labels["org.opencontainers.image.created"].endswith("Z")
    assert labels["org.opencontainers.image.source"]
    assert config["User"] not in ("", "0", "root") and not config["User"].startswith(("0:", "root"))
    assert config["Entrypoint"] == ["python", "-m", "tweetops.entrypoint"] and config["Cmd"] == ["serve"]
    assert "/ping" in " ".join(config["Healthcheck"]["Test"])
    assert "8080/tcp" in config["ExposedPorts"]
    assert info["Size"] < MAX_IMAGE_BYTES, f"image is {info['Size'] / 1e6:.0f} MB"


def test_runtime_has_no_compiler_caches_or_test_suites(docker_daemon, image):
    script = ("import shutil, pathlib, sys; "
              "print([c for c in ('gcc', 'cc', 'g++', 'make', 'strip') if shutil.which(c)]); "
              "print([str(p) for p in pathlib.Path('/opt/venv').rglob('tests') if p.is_dir()][:5]); "
              "print([str(p) for p in map(pathlib.Path, ('/root/.cache/pip', '/var/lib/tweetops/.cache', "
              "'/wheels', '/build')) if p.exists()])")
    out = docker_daemon("run", "--rm", "--user", "0:0", "--entrypoint", "python", image["tag"], "-c",
                        script).stdout.split("\n")
    assert out[:3] == ["[]", "[]", "[]"], out
    listed = docker_daemon("run", "--rm", "--entrypoint", "ls", image["tag"], "/opt/tweetops/model").stdout.split()
    # the baked bundle, outside /opt/ml/model
    assert sorted(listed) == ["manifest.json", "manifest.sha256", "model.joblib", "model_card.md",
                              "reference.parquet", "trained_on.npy"]


def sbom_packages(sbom: dict) -> dict[str, str]:
    return {canonicalize_name(c["name"]): c["version"] for c in sbom["components"]}


def test_the_image_carries_the_sbom_of_exactly_what_it_installed(docker_daemon, image):
    """CycloneDX, written at build time over /opt/venv: tweetops as the main component and the hashed lock's
    packages for Linux at the locked versions, nothing else (pip and setuptools were removed before)."""
    info = json.loads(docker_daemon("image", "inspect", image["tag"]).stdout)[0]
    path = info["Config"]["Labels"]["io.tweetops.sbom"]
    sbom = json.loads(docker_daemon("run", "--rm", "--entrypoint", "cat", image["tag"], path).stdout)
    assert sbom["bomFormat"] == "CycloneDX" and sbom["specVersion"] == "1.6"
    assert (sbom["metadata"]["component"]["name"], sbom["metadata"]["component"]["version"]) == ("tweetops", "0.1.0")
    assert sbom_packages(sbom) == image_packages()
    assert all(c["purl"].startswith("pkg:pypi/") for c in sbom["components"])


def test_serve_answers_ping_predict_and_invocations(served, image):
    container, _ = served
    status, body = http("GET", f"{container.url}/ping")
    assert status == 200
    health = json.loads(http("GET", f"{container.url}/health")[1])
    # Whether a baked bundle is still the champion is the registry's and the image tag's to say.
    assert health["model_source"] == "the bundle baked into the image" and health["champion"] is None
    status, body = http("POST", f"{container.url}/predict", {"text": TEXTS[0]})
    assert status == 200, body
    answer = json.loads(body)
    assert answer["label"] in ("negative", "neutral", "positive") and answer["model_version"] == image["run_id"]
    status, body = http("POST", f"{container.url}/invocations", {"instances": TEXTS})
    assert status == 200 and len(json.loads(body)["predictions"]) == len(TEXTS)
    status, body = http("POST", f"{container.url}/invocations", "\n".join(TEXTS).encode(), content_type="text/csv")
    assert status == 200 and len(body.decode().strip().splitlines()) == len(TEXTS)
    status, _ = http("POST", f"{container.url}/predict", {"text": ""})
    assert status == 422


def test_healthcheck_command_passes_inside_the_container(docker_daemon, served):
    container, _ = served
    check = json.loads(docker_daemon("inspect", "-f", "{{json .Config.Healthcheck.Test}}", container.id).stdout)
    assert check[0] == "CMD"
    docker_daemon("exec", container.id, *check[1:])  # exit 0, or the helper raises with its output


def test_sigterm_stops_serve_cleanly_and_flushes_history(served, image):
    """Runs after the requests above: docker stop sends SIGTERM; the history must be on disk after it."""
    container, data = served
    assert container.stop() == 0, container.logs()
    database = data / "history.db"
    assert database.is_file(), sorted(p.name for p in data.iterdir())
    with sqlite3.connect(database) as connection:
        rows = connection.execute("select count(*) from predictions").fetchone()[0]
    assert rows >= 1 + 2 * len(TEXTS)  # /predict once, /invocations twice (and nothing lost on shutdown)
    # The image logs JSON lines (LOG_FORMAT=json), one access line per request, for CloudWatch Logs to parse.
    lines = [json.loads(line) for line in container.docker("logs", container.id).stderr.splitlines()]
    access = [line for line in lines if line["logger"] == "tweetops.access"]
    assert {"/ping", "/predict", "/invocations"} <= {line["route"] for line in access}
    assert {line["model_version"] for line in access} == {image["run_id"]}


def test_serve_runs_the_same_as_root(docker_daemon, image, tmp_path):
    data = writable_folder(tmp_path / "data")
    container = Container(docker_daemon, image["tag"], "serve",
                          options=("--user", "0:0", "--read-only", "--tmpfs", "/tmp",
                                   "-v", f"{data}:/var/lib/tweetops"))
    try:
        container.wait_ready()
        status, body = http("POST", f"{container.url}/predict", {"text": TEXTS[1]})
        assert status == 200 and json.loads(body)["model_version"] == image["run_id"]
        assert container.stop() == 0, container.logs()
    finally:
        container.remove()


@pytest.fixture(scope="module")
def sagemaker_training(docker_daemon, image, raw_path, tmp_path_factory):
    """`train` under SageMaker's layout: a channel, string hyperparameters, the job name; run as root like SageMaker."""
    ml = tmp_path_factory.mktemp("opt-ml")
    channel = ml / "input" / "data" / "training"
    channel.mkdir(parents=True)
    lines = raw_path.read_bytes().splitlines(keepends=True)
    (channel / "tweets.tsv").write_bytes(b"".join(lines[:1500]))  # a smaller sample keeps the run short
    (ml / "input" / "config").mkdir(parents=True)
    (ml / "input" / "config" / "hyperparameters.json").write_text(json.dumps(
        {"labeled_fraction": "0.5", "clustering.n_clusters": "8", "sagemaker_region": "us-east-1"}))
    result = docker_daemon("run", "--rm", "--user", "0:0", "-e", "TRAINING_JOB_NAME=sm-e2e-job",
                           "-v", f"{ml}:/opt/ml", image["tag"], "train", check=False, timeout=600)
    return ml, result


def test_train_writes_a_loadable_bundle_to_opt_ml_model(sagemaker_training):
    ml, result = sagemaker_training
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert not (ml / "output" / "failure").exists()
    bundle = load_bundle(ml / "model")  # every sha256 checked, the pipeline unpickled with this sklearn
    assert bundle.manifest["run_id"] == "sm-e2e-job"
    assert bundle.manifest["params"]["split"]["labeled_fraction"] == 0.5
    assert bundle.manifest["params"]["clustering"]["n_clusters"] == 8
    assert bundle.manifest["data"]["rows"] == 1500
    assert len(bundle.model.predict_proba(TEXTS)) == len(TEXTS)
    assert (ml / "output" / "data" / "reports" / "metrics.json").is_file()
    assert (ml / "output" / "data" / "gate.json").is_file()


def test_opt_ml_model_wins_over_the_baked_bundle(docker_daemon, image, sagemaker_training):
    ml, result = sagemaker_training
    assert result.returncode == 0
    container = Container(docker_daemon, image["tag"], "serve",
                          options=("--user", "0:0", "--read-only", "--tmpfs", "/tmp",
                                   "--tmpfs", "/var/lib/tweetops", "-v", f"{ml / 'model'}:/opt/ml/model:ro"))
    try:
        container.wait_ready()
        status, body = http("POST", f"{container.url}/predict", {"text": TEXTS[0]})
        assert status == 200 and json.loads(body)["model_version"] == "sm-e2e-job"
    finally:
        container.remove()


def test_train_failure_is_reported_in_the_failure_file(docker_daemon, image, tmp_path):
    ml = tmp_path / "ml"
    (ml / "input" / "data" / "training").mkdir(parents=True)  # a channel with no file in it
    result = docker_daemon("run", "--rm", "--user", "0:0", "-v", f"{ml}:/opt/ml", image["tag"], "train", check=False)
    assert result.returncode != 0
    assert "exactly one data file" in (ml / "output" / "failure").read_text()
    assert "Traceback" not in result.stderr


def test_batch_predict_array_shards_write_every_row(docker_daemon, image, raw_path, tmp_path):
    data = writable_folder(tmp_path / "batch")
    rows = [line.split("\t") for line in raw_path.read_text(encoding="utf-8").splitlines()[:120]]
    with open(data / "tweets.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerows([r[0], r[2]] for r in rows)
    for index in range(2):  # an AWS Batch array job of size 2: each shard writes its own part
        docker_daemon("run", "--rm", "-e", "AWS_BATCH_JOB_ARRAY_SIZE=2", "-e", f"AWS_BATCH_JOB_ARRAY_INDEX={index}",
                      "-v", f"{data}:/data", image["tag"], "batch-predict",
                      "--input", "/data/tweets.csv", "--output", "/data/out/")
    parts = sorted((data / "out").glob("part-*.csv"))
    assert len(parts) == 2
    written = [row for part in parts for row in csv.DictReader(open(part, encoding="utf-8"))]
    assert [row["id"] for row in written] == [r[0] for r in rows]
    assert {row["label"] for row in written} <= {"negative", "neutral", "positive"}


def test_the_workflows_smoke_test_passes(docker_daemon, image):
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "smoke_test_image.py"), image["tag"]],
                            env=docker_daemon.env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "smoke test of" in result.stdout
    print(result.stdout)  # with -s: the start-to-/ping seconds the smoke test measured


def test_pipeline_and_unknown_commands(docker_daemon, image):
    assert docker_daemon("run", "--rm", image["tag"], "pipeline", "--help").returncode == 0
    unknown = docker_daemon("run", "--rm", image["tag"], "no-such-command", check=False)
    assert unknown.returncode == 2 and "unknown command" in unknown.stderr


def test_monitor_flags_real_drift_inside_the_image(docker_daemon, image, tmp_path):
    """`docker run IMAGE monitor` (EventBridge Scheduler's job) judges texts against the baked model's reference."""
    data = writable_folder(tmp_path / "monitor")
    reviews = read_texts(ROOT / "data" / "drift" / "amazonReviewSnippets_GroundTruth.txt")[:400]
    pd.DataFrame({"text": reviews}).to_csv(data / "current.csv", index=False)
    result = docker_daemon("run", "--rm", "-v", f"{data}:/data", image["tag"], "monitor",
                           "--input", "/data/current.csv", "--output", "/data/report", check=False)
    assert result.returncode == 3, result.stdout + result.stderr  # 3: drift
    report = json.loads((data / "report" / "drift.json").read_text())
    assert report["verdict"] == "drift" and report["current_rows"] == 400
    assert (data / "report" / "drift.html").stat().st_size > 0


def test_a_failing_smoke_test_publishes_nothing(docker_daemon, tmp_path):
    """A broken image (its entry point no longer exists) built and run on a real Docker daemon: the smoke
    test fails, so the registry's versions and aliases, models/champion and its history stay as they were,
    although the gate promoted the model."""
    root = scratch_clone(tmp_path / "clone")
    params = root / "params.yaml"
    original = params.read_text()
    env = docker_daemon.env(TWEETOPS_TRACKING="on", TWEETOPS_RUN_ID="earlier", MLFLOW_TRACKING_URI="",
                            LOG_FORMAT="json")
    params.write_text(original.replace("C: 2.0", "C: 0.02"))  # an earlier, weaker champion to defend
    done = subprocess.run([sys.executable, "-m", "tweetops", "run"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0 and "publish: published: run earlier" in done.stdout, done.stderr[-3000:]
    # Every line of a tracked run, MLflow's own included, is one JSON object (nothing printed around the logging).
    logged = [json.loads(line) for line in done.stderr.splitlines()]
    assert {"mlflow.store.db.utils", "tweetops.registry"} <= {line["logger"] for line in logged}
    assert "CloudPickle" not in done.stderr  # the model is logged as code: MLflow has no pickle to warn about
    params.write_text(original)
    before = registry_state(root)
    assert before["aliases"] == {"champion": "1"} and before["champion"] == "earlier"
    dockerfile = root / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace('"tweetops.entrypoint"', '"tweetops.no_such_entrypoint"'))

    run = WorkflowRun(RETRAIN, root, run_id="808", sha=head_sha(), env=docker_daemon.env(TWEETOPS_TRACKING="on"))
    run.run()
    by_name = {r.name: r for r in run.results}
    assert by_name[GATE].outputs == {"promoted": "true"}  # the model beat the champion...
    assert by_name[BUILD].status == "success"
    assert by_name[SMOKE].status == "failure" and "the container exited before answering /ping" in by_name[SMOKE].detail
    assert [r.name for r in run.failed()] == [SMOKE]
    assert by_name[PUBLISH].status == "skipped" and by_name[TAG].status == "skipped"  # ...and was not published
    assert registry_state(root) == before
    assert by_name["Upload the run's artefacts"].status == "success"  # the evidence is kept, the SBOM with it
    assert sbom_packages(json.loads((root / "reports" / "808" / "sbom.cdx.json").read_text())) == image_packages()
    assert "**Published: no: a step before publishing failed**" in run.summary
    tags = docker_daemon("images", "--format", "{{.Repository}}:{{.Tag}}", "tweetops").stdout.split()
    assert "tweetops:808" in tags and "tweetops:champion" not in tags
    docker_daemon("rmi", "-f", "tweetops:808", f"tweetops:{head_sha()}", check=False)
