"""A naive FastAPI server for the serving benchmark: what a first attempt usually looks like.

One uvicorn worker (plain h11 and asyncio, access log on), pydantic bodies, FastAPI's default JSON,
a pandas DataFrame built per request, sync routes run in FastAPI's thread pool.
Same bundle and same routes and bodies as `tweetops serve` (/predict, /predict/batch).

    MODEL_DIR=models/champion .venv/bin/uvicorn naive_app:app --app-dir benchmarks --port 8000
"""
import pandas as pd
from fastapi import FastAPI
from pydantic import BaseModel

from tweetops.serving.inference import load_predictor

predictor = load_predictor()
app = FastAPI()


class One(BaseModel):
    text: str


class Many(BaseModel):
    texts: list[str]


def predict(texts: list[str]) -> list[dict]:
    frame = pd.DataFrame({"text": texts})
    proba = predictor.bundle.model.predict_proba(frame["text"])
    labels = predictor.labels
    return [{"label": labels[row.argmax()], "probabilities": dict(zip(labels, row.tolist()))} for row in proba]


@app.post("/predict")
def predict_one(body: One) -> dict:
    return predict([body.text])[0]


@app.post("/predict/batch")
def predict_many(body: Many) -> dict:
    return {"predictions": predict(body.texts)}
