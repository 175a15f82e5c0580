"""Shared fixtures: the bundled data, one trained project, and real servers on 127.0.0.1."""
import contextlib
import fcntl
import io
import os
import shutil
from pathlib import Path

import pytest

from tests.servers.docker import docker_daemon  # noqa: F401  (fixtures)
from tests.servers.http import http_folder  # noqa: F401  (fixtures)
from tests.servers.postgres import postgres_server, postgres_url  # noqa: F401  (fixtures)
from tests.servers.s3 import s3_bucket, s3_server  # noqa: F401  (fixtures)
from tweetops.settings import limit_threads

limit_threads()  # as the CLI does: one BLAS thread, measured faster on these 2 shared cores
# MLflow tracking is off in every test (and the CLI runs they start) unless a test turns it on:
# only tests/registry starts an MLflow server.
os.environ["TWEETOPS_TRACKING"] = "off"

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "raw" / "tweets_GroundTruth.txt"


def swallow_a_sigterm() -> None:
    """Inside sigterm_interrupts: send this process a SIGTERM and swallow its exception, as a library's bare
    `except:` does; the handler has set SIGTERM to be ignored by then."""
    import signal

    from tests.servers.ports import wait_until
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        wait_until(lambda: False, timeout=30, interval=0.01, what="the SIGTERM")
    except BaseException:  # what the library does
        pass
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN


def make_project(folder: Path) -> Path:
    """A scratch project root holding params.yaml and the bundled raw data with its provenance."""
    (folder / "data" / "raw").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "params.yaml", folder / "params.yaml")
    for source in (RAW, RAW.with_name("PROVENANCE.md")):
        shutil.copy(source, folder / "data" / "raw" / source.name)
    return folder


# `make check` runs what needs none of these: the quick loop between edits (`make test` runs everything).
SLOW_FIXTURES = {"postgres_server", "s3_server", "docker_daemon", "page", "start_server", "mlflow_server",
                 "api_server", "start_ui", "github_api", "pushgateway",
                 "trained_project", "encoder_project"}  # real servers, a whole training run
SLOW_FOLDERS = {"ci", "e2e", "notebooks"}  # the workflows' steps, the pipeline run end to end, the image


# The files that take longest (measured with --durations: the image builds, the registry's three runs, the
# release chain's and the workflows' trainings, the encoder family's fine-tuning), scheduled first: under
# `--dist loadfile` a worker takes whole files in collection order, and test_image.py alone (about 400 s)
# started last would end the session alone.
LONGEST_FIRST = ("e2e/test_image.py", "encoder/test_training.py", "registry/test_champion.py",
                 "release/test_release_chain.py", "ci/test_workflows.py", "api/test_faults.py", "e2e/test_pipeline.py",
                 "ci/test_pr_report.py")


def _schedule_rank(item) -> int:
    path = Path(item.fspath).relative_to(ROOT / "tests").as_posix()
    return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)


def pytest_collection_modifyitems(items):
    items.sort(key=_schedule_rank)  # stable: the rest keep their order
    for item in items:
        folder = Path(item.fspath).relative_to(ROOT / "tests").parts[0]
        if SLOW_FIXTURES & set(item.fixturenames) or folder in SLOW_FOLDERS:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def raw_path() -> Path:
    return RAW


def tree_state(root: Path) -> dict:
    return {str(path.relative_to(root)): (path.lstat().st_size, path.lstat().st_mtime_ns)
            for path in sorted(root.rglob("*"))}


def shared_run(tmp_path_factory, worker_id, name: str, prepare=make_project) -> Path:
    """`tweetops run` once in a project `prepare` lays out, read by the whole session: under pytest-xdist the
    first worker that needs it trains it in the workers' common temp folder while the others wait on a file
    lock (one training instead of one per worker)."""
    from tweetops.cli import main

    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        shared = shared.parent
    root = shared / name
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (shared / f"{name}.done").exists():
            shutil.rmtree(root, ignore_errors=True)
            prepare(root)
            with contextlib.redirect_stdout(io.StringIO()) as printed:
                assert main(["run", "--params", str(root / "params.yaml")]) == 0
            (shared / f"{name}.stdout").write_text(printed.getvalue(), encoding="utf-8")  # tests/docs reads it
            (shared / f"{name}.done").touch()
    return root


@pytest.fixture(scope="session")
def trained_project(tmp_path_factory, worker_id) -> Path:
    """`tweetops run` once on the bundled tweets (six stages, then publish), shared by the session. Tests that
    change a project copy this one first; the teardown fails if any test changed it."""
    root = shared_run(tmp_path_factory, worker_id, "trained")
    before = tree_state(root)
    yield root
    changed = sorted(set(before.items()) ^ set(tree_state(root).items()))
    assert not changed, f"a test changed the shared trained project (copy it first): {changed[:5]}"


@pytest.fixture(scope="session")
def trained_bundle(trained_project) -> Path:
    """The trained model bundle folder (models/<run_id>, the published champion)."""
    return (trained_project / "models" / "champion").resolve()


def unprivileged() -> list[str]:
    """A command prefix that takes away root's power to read and write where file modes forbid it."""
    caps = "-dac_override,-dac_read_search,-fowner"
    return ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}"] if os.geteuid() == 0 else []
