"""The MLflow pyfunc view of a model bundle: raw texts in, labels out (the bundle stays the source of truth).

Logged as code (MLflow's "models from code": tracking.log_run passes this file's path), so MLflow stores
this source instead of a CloudPickle of the object, and loading it runs no pickled code of ours.
"""
from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
from mlflow.models import set_model

from tweetops.model.bundle import load_bundle


class BundleModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        self.model = load_bundle(Path(context.artifacts["bundle"])).model

    def predict(self, context, model_input: list[str], params=None) -> list[str]:
        return list(self.model.predict(list(model_input)))


set_model(BundleModel())
