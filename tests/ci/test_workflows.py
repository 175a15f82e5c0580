"""The retrain workflow's steps, run for real in a scratch copy of the repository.

In the main run the Docker steps (build, smoke test, champion tag) are skipped, as if they passed, and
proven by tests/e2e/test_image.py, which runs the same scripts against a real daemon, and runs this
workflow with an image that fails its smoke test, to show that such a run publishes nothing.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.ci.workflow_runner import KNOWN_ACTIONS, WorkflowRun, evaluate, load_workflow
from tests.repo_copy import ROOT, copy_repo, head_sha
from tests.servers.osv import running_osv_api
from tests.servers.ports import free_port, stop_group, wait_until
from tests.supply_chain.advisories import PYYAML, advisory, trivy_finding
from tests.supply_chain.locks import image_packages, read_lock

WORKFLOWS = ROOT / ".github" / "workflows"
RETRAIN = WORKFLOWS / "manual_retrain_pipeline.yml"
CI = WORKFLOWS / "ci_validation.yml"
PROVEN_BY_IMAGE_TEST = "proven by tests/e2e/test_image.py (same script, real Docker daemon)"
BUILD = "Build the image with the bundle baked in (tagged with the run id and the commit)"
SMOKE = "Smoke-test the image (/ping, /invocations, batch-predict)"
GATE = "Gate: stop unless the model beats its baselines; read whether it may replace the champion"
PUBLISH = "Publish: register the model and make it the champion (only when the gate promoted it)"
TAG = "Tag the published image champion"
SBOM = "Extract the image's SBOM into the run's reports (CycloneDX, baked in at build time)"
AUDIT = "Security: audit the locked dependencies (pip-audit against OSV)"
TRIVY = "Security: scan the image (Trivy)"
SECURITY_GATE = "Security gate: no HIGH or CRITICAL finding outside security/allowlist.yaml"
DOCKER_STEPS = {BUILD: PROVEN_BY_IMAGE_TEST, SBOM: PROVEN_BY_IMAGE_TEST, SMOKE: PROVEN_BY_IMAGE_TEST,
                TAG: PROVEN_BY_IMAGE_TEST}
STAGE_STEPS = ["Stage 1: data_ingestion", "Stage 2: data_preparation", "Stage 3: preprocessing",
               "Stage 4: feature_engineering", "Stage 5: clustering", "Stage 6: model_training"]
RUN_ID = "424242"


def stage_steps(run) -> list[str]:
    return [r.name.split(" (")[0] for r in run.results if r.name.startswith("Stage ")]


def registry_state(root: Path) -> dict:
    """What a publication would change: the registered versions and their aliases, and models/champion."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{root / 'mlruns' / 'mlflow.db'}")
    found = client.search_model_versions("name = 'tweet-sentiment'")
    versions = {str(mv.version): mv.tags.get("run_id") for mv in found}
    model = client.get_registered_model("tweet-sentiment") if versions else None
    link = root / "models" / "champion"
    return {"versions": versions, "aliases": {k: str(v) for k, v in model.aliases.items()} if model else {},
            "champion": link.readlink().name if link.is_symlink() else None,
            "history": model.tags.get("champion_history") if model else None}


def scratch_clone(folder: Path) -> Path:
    """A copy of the tree plus a .venv that sees this venv's packages (uv among them) through a .pth file and
    is marked as holding the requirements, so `make install` runs for real and installs the scratch copy's own
    tweetops (not another 190 packages, whose modules each scratch venv would byte-compile again)."""
    root = copy_repo(folder)
    venv = root / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    packages = Path(sysconfig.get_paths()["purelib"])
    purelib = next((venv / "lib").glob("python3*/site-packages"))
    (purelib / "zz_test_venv.pth").write_text(f"{packages}\n", encoding="utf-8")
    for marker in (".uv", ".requirements", ".requirements-dev", ".requirements-encoder", ".requirements-security"):
        (venv / marker).touch()
    return root


@pytest.fixture(scope="module")
def retrain_run(tmp_path_factory):
    """The workflow dispatched with non-default inputs, in its own scratch clone. OSV is a stand-in on 127.0.0.1
    holding an advisory the locked versions are already fixed in, and Trivy reports one LOW finding."""
    root = scratch_clone(tmp_path_factory.mktemp("clone"))
    # Tracking on, as on GitHub (the tests turn it off elsewhere): no secret, so the embedded store.
    with running_osv_api([advisory(fixed=PYYAML)]) as osv:
        run = WorkflowRun(RETRAIN, root, run_id=RUN_ID, sha=head_sha(), skip=DOCKER_STEPS,
                          inputs={"log_level": "DEBUG", "labeled_fraction": "0.5",
                                  "data_source": "data/raw/tweets_GroundTruth.txt"}, env={"TWEETOPS_TRACKING": "on"},
                          variables={"OSV_API_URL": osv.url}, trivy_findings=[trivy_finding(severity="LOW")])
        run.run()
    return run, root


def test_retrain_workflow_runs_every_step_in_order(retrain_run):
    run, _ = retrain_run
    assert not run.failed(), run.report()
    names = [r.name for r in run.results]
    assert stage_steps(run) == STAGE_STEPS  # each stage its own step, in order
    assert names.index("Stage 6: model_training (the bundle, its reports and the gate's verdict; publishes "
                       "nothing)") < names.index(GATE) < names.index(BUILD) < names.index(SBOM) < names.index(SMOKE) \
        < names.index(AUDIT) < names.index(TRIVY) < names.index(SECURITY_GATE) < names.index(PUBLISH) \
        < names.index(TAG) < names.index("Upload the run's artefacts")


def test_retrain_workflow_audits_what_the_image_and_training_install_before_publishing(retrain_run):
    """pip-audit asked the OSV stand-in about every package of the image's lock and both families' training
    locks (the encoder's holds torch); the gate passed (a LOW finding is listed, not blocking) and its table
    reached the job summary and the reports."""
    run, root = retrain_run
    assert {r.name: r.status for r in run.results}[SECURITY_GATE] == "success"
    report = json.loads((root / "reports" / RUN_ID / "pip-audit.json").read_text())
    locked = {**image_packages(), **{n: e.version for lock in ("requirements-train.lock", "requirements-encoder.lock")
                                     for n, e in read_lock(ROOT / lock).items() if e.applies_here()}}
    assert {d["name"]: d["version"] for d in report["dependencies"]} == locked
    assert "## Vulnerability gate: passed" in run.summary
    assert "| trivy: python-pkg | openssl | 3.0.17-1~deb12u2 | CVE-2026-40001 | LOW | no fix yet | listed (below " \
           "HIGH) |" in run.summary
    assert (root / "reports" / RUN_ID / "security.md").read_text() in run.summary


def test_retrain_workflow_records_its_inputs_once_and_every_stage_reads_them(retrain_run):
    _, root = retrain_run
    manifest = json.loads((root / "models" / RUN_ID / "manifest.json").read_text())
    assert manifest["run_id"] == RUN_ID
    assert manifest["git_commit"] == head_sha()
    assert manifest["params"]["split"]["labeled_fraction"] == 0.5  # the dispatch input reached training
    record = json.loads((root / "data" / "interim" / "run.json").read_text())
    assert record["params_sha256"] == manifest["params_sha256"] and record["overrides"]["split.labeled_fraction"] == 0.5
    # The inputs are given to the first stage only; the others take them from the run's record.
    assert RETRAIN.read_text().count('--labeled-fraction "$LABELED_FRACTION"') == 1
    verdict = json.loads((root / "reports" / RUN_ID / "gate.json").read_text())
    assert verdict == manifest["gate"] and verdict["promote"] is True  # a fresh runner: the first model vs baselines
    assert manifest["gate"]["registry"] == "mlflow" and (root / "mlruns" / "mlflow.db").is_file()
    for record in ("data/interim/ingestion.json", "data/processed/preparation.json"):
        assert json.loads((root / record).read_text())["run_id"] == RUN_ID


def test_a_model_whose_image_passed_is_published_after_the_smoke_test(retrain_run):
    run, root = retrain_run
    by_name = {r.name: r for r in run.results}
    assert by_name[GATE].outputs == {"promoted": "true"} and by_name[PUBLISH].outputs == {"published": "true"}
    assert registry_state(root) == {"versions": {"1": RUN_ID}, "aliases": {"champion": "1"}, "champion": RUN_ID,
                                    "history": '["1"]'}


def test_the_readmes_mlflow_ui_command_shows_the_run_the_workflow_tracked(retrain_run):
    """The README's `mlflow ui` line, run as written in the workflow's checkout (only a free port added)."""
    import httpx

    _, root = retrain_run
    lines = (ROOT / "README.md").read_text().splitlines()
    line = next(line for line in lines if line.startswith(".venv/bin/mlflow ui"))
    port = free_port()
    command = [str(Path(sys.executable).parent / "mlflow"), *shlex.split(line.split("#")[0])[1:], "--port", str(port)]
    server = subprocess.Popen(command, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: httpx.get(f"{url}/health", timeout=2).status_code == 200, timeout=90, what="mlflow ui")
        experiments = httpx.post(f"{url}/api/2.0/mlflow/experiments/search", json={"max_results": 100}).json()
        ids = [e["experiment_id"] for e in experiments["experiments"]]
        runs = httpx.post(f"{url}/api/2.0/mlflow/runs/search", json={"experiment_ids": ids}, timeout=10).json()["runs"]
        assert [{t["key"]: t["value"] for t in run["data"]["tags"]}["tweetops.run_id"] for run in runs] == [RUN_ID]
    finally:
        stop_group(server)


def test_retrain_workflow_skips_ecr_and_says_why_without_aws(retrain_run):
    run, _ = retrain_run
    by_name = {r.name: r for r in run.results}
    for name in ("Log in to AWS with OIDC", "Log in to ECR", "Push the tags to ECR"):
        assert by_name[name].status == "skipped" and "if" in by_name[name].detail
    assert by_name["Upload the run's artefacts"].status == "success"
    assert by_name["Upload the embedded MLflow store"].status == "success"
    assert "Decision: **promoted** (challenger 424242 against the baselines (no champion yet)" in run.summary
    assert "**Published: yes: the model is the champion**" in run.summary and "`tweetops:champion`" in run.summary
    assert "ECR push skipped: repository variables not set: AWS_ROLE_ARN AWS_REGION ECR_REPOSITORY" in run.summary
    assert "| **this model** |" in run.summary and "- registry: mlflow" in run.summary


def test_a_failing_stage_names_its_step_and_still_writes_the_summary(tmp_path):
    root = scratch_clone(tmp_path / "clone")
    run = WorkflowRun(RETRAIN, root, run_id="777", sha=head_sha(), skip=DOCKER_STEPS,
                      inputs={"data_source": "data/raw/missing.tsv"})
    run.run()
    failed = run.failed()
    assert [r.name.split(" (")[0] for r in failed] == ["Stage 1: data_ingestion"]
    assert "does not exist" in failed[0].detail
    statuses = {r.name: r.status for r in run.results}
    assert statuses["Stage 2: data_preparation"] == "skipped" and statuses[PUBLISH] == "skipped"
    assert statuses["Upload the run's artefacts"] == "skipped" and statuses["Job summary"] == "success"
    assert "No model bundle to report" in run.summary and "ECR push not reached" in run.summary
    assert "**Published: no: a step before publishing failed**" in run.summary


def test_the_aws_path_runs_only_with_every_variable_and_oidc(tmp_path):
    """With the variables set, the AWS steps are reached (and fail here: no cloud), after the gate."""
    workflow = load_workflow(RETRAIN)
    job = workflow["jobs"]["retrain"]
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
    assert workflow["permissions"] == {"contents": "read"}
    login = next(s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials"))
    assert set(login["with"]) == {"role-to-assume", "aws-region"}  # OIDC: no access keys
    text = RETRAIN.read_text()
    # One secret only, the MLflow server's URI (it may embed credentials), and never as a build-arg.
    assert re.findall(r"secrets\.(\w+)", text) == ["MLFLOW_TRACKING_URI"] and "--build-arg" not in text
    context = {"steps": {"aws": {"outputs": {"push": "true"}}}, "vars": {}, "inputs": {}, "github": {}}
    assert evaluate("${{ steps.aws.outputs.push == 'true' }}", context) == "true"


def test_every_action_is_pinned_known_and_given_its_required_inputs():
    for path in (RETRAIN, CI):
        for job in load_workflow(path)["jobs"].values():
            for step in job["steps"]:
                if "uses" not in step:
                    continue
                name, _, ref = step["uses"].partition("@")
                assert len(ref) == 40, f"{path.name}: {step['uses']} is not pinned to a commit SHA"
                assert name in KNOWN_ACTIONS, f"{path.name}: {name} unknown to the runner"
                missing = [k for k in KNOWN_ACTIONS[name]["required"] if k not in (step.get("with") or {})]
                assert not missing, f"{path.name}: {name} lacks {missing}"


def test_ci_workflow_is_least_privilege_and_cancels_superseded_runs():
    workflow = load_workflow(CI)
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["concurrency"]["cancel-in-progress"] is True
    assert set(workflow["on"]) == {"push", "pull_request"}
    assert "secrets." not in CI.read_text().replace("Needs no secrets.", "")


def test_retrains_run_one_at_a_time_across_branches():
    """They publish into one registry; a group per branch let two publish at once, each judged against the same
    champion, and both won (the publish lock holds on one machine only). Queued, not cancelled while pending."""
    assert load_workflow(RETRAIN)["concurrency"] == {"group": "retrain", "cancel-in-progress": False, "queue": "max"}


def test_scripts_the_workflows_call_exist_and_are_executable():
    for script in ("scripts/build_image.sh", "scripts/smoke_test_image.py", "scripts/install_system_deps.sh",
                   "scripts/vulnerability_gate.py", "scripts/lock.sh"):
        mode = (ROOT / script).stat().st_mode
        assert mode & stat.S_IXUSR, f"{script} is not executable"
    assert os.access(ROOT / "Dockerfile", os.R_OK)
