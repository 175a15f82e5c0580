"""The notebooks: committed without outputs, and executed by papermill with small parameters into
reports/notebooks/, reading the session's trained run (so they are not trained again here).
`pytest --nbval-lax notebooks/` (make test's second pytest run) executes them with their defaults."""
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import papermill
import pytest

from tests.conftest import ROOT
from tweetops.release.behaviour import CHECKS

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
OUTPUT = ROOT / "reports" / "notebooks"
KERNEL = "python3"  # fixed, so the run does not depend on the machine's default kernelspec


def test_the_three_notebooks_exist():
    assert [p.name for p in NOTEBOOKS] == [
        "01_exploratory_data_analysis.ipynb", "02_clustering_and_pseudolabels.ipynb", "03_model_evaluation.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebooks_are_stripped_and_parameterised(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    dirty = [i for i, c in enumerate(code) if c.outputs or c.execution_count is not None]
    assert not dirty, f"{path.name}: code cells {dirty} carry outputs or execution counts; strip them before committing"
    parameters = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(parameters) == 1 and "run_dir = " in parameters[0].source and "sample_size = " in parameters[0].source
    assert nb.metadata.kernelspec.name == KERNEL
    assert any("from tweetops" in c.source for c in code)  # they call the package, never copy it


def execute(path: Path, run_dir: Path) -> nbformat.NotebookNode:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    target = OUTPUT / path.name
    papermill.execute_notebook(str(path), str(target), parameters={"run_dir": str(run_dir), "sample_size": 300},
                               kernel_name=KERNEL, cwd=str(path.parent), progress_bar=False)
    return nbformat.read(target, as_version=4)


def text_of(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", "") + str(out.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def executed(trained_project) -> dict:
    """Every notebook executed at once, each in its own kernel: they wait mostly on kernel start and imports."""
    with ThreadPoolExecutor(len(NOTEBOOKS)) as pool:
        runs = {path.name: pool.submit(execute, path, trained_project) for path in NOTEBOOKS}
    return {name: run.result() for name, run in runs.items()}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_papermill_runs_each_notebook_on_the_trained_run(path, executed, trained_bundle):
    nb = executed[path.name]
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))  # plots drawn
    text = text_of(nb)
    if path.name.startswith("01"):
        assert "4,200 tweets in: 4,200 kept, 0 quarantined" in text
    elif path.name.startswith("02"):
        assert "clusters of" in text and "budget" in text
    else:
        assert f"run {trained_bundle.name}:" in text and f"{len(CHECKS)} of {len(CHECKS)} checks pass" in text
