"""Request and response bodies. Text checks are tweetops.serving.inference's, so every entry point says
the same, and the request models are built from the served Limits, so /openapi.json states the limits
the server enforces."""
from __future__ import annotations

import datetime
import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from tweetops.model import LABELS
from tweetops.model.normalizer import BLANK
from tweetops.serving.inference import Limits, validate_batch, validate_text

Label = Literal[LABELS]
# RFC 3339, which `format: date-time` promises, and nothing looser (no bare dates, no Unix seconds, no local times).
RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")


def _character_class(chars: str) -> str:
    """chars as the inside of a regex character class, runs as ranges, every one spelled \\uXXXX: regex `\\s`
    means other sets in Python and in JavaScript."""
    codes, runs = sorted(map(ord, chars)), []
    for code in codes:
        if runs and code == runs[-1][1] + 1:
            runs[-1][1] = code
        else:
            runs.append([code, code])
    return "".join(f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in runs)


_BLANK = _character_class(BLANK)  # validate_text's blank characters, NUL among them


def _rfc3339(value):
    if isinstance(value, str) and RFC3339.fullmatch(value):
        return value
    raise ValueError("not an RFC 3339 time; send one with its offset, such as 2026-01-31T12:00:00Z.")


Moment = Annotated[datetime.datetime, BeforeValidator(_rfc3339)]


def text_schema(limits: Limits) -> dict:
    """validate_text's rule as JSON Schema, so schema-driven clients and the server agree on every text: a string of
    1 to max_chars characters, no NUL, at least one that is not blank (whitespace, control or invisible)."""
    return {"type": "string", "minLength": 1, "maxLength": limits.max_chars,
            "pattern": f"^[^\\u0000]*[^{_BLANK}][^\\u0000]*$"}


def request_models(limits: Limits) -> tuple[type[BaseModel], type[BaseModel]]:
    """(PredictRequest, BatchRequest) enforcing and documenting these limits; `shape` is the body to ask for when
    one cannot be read."""
    one_text = text_schema(limits)

    class PredictRequest(BaseModel):
        model_config = ConfigDict(json_schema_extra={"examples": [{"text": "I love my new phone :)"}]})
        shape: ClassVar[str] = '{"text": "..."}'
        text: str = Field(description="The tweet to classify.", json_schema_extra=one_text)

        @field_validator("text", mode="before")
        @classmethod
        def _text(cls, value):
            return validate_text(value, limits.max_chars)  # an InputError is a ValueError: pydantic's 422

    class BatchRequest(BaseModel):
        model_config = ConfigDict(json_schema_extra={"examples": [{"texts": ["great day!", "worst service ever"]}]})
        shape: ClassVar[str] = '{"texts": ["..."]}'
        texts: list[str] = Field(description=f"Up to {limits.max_batch} tweets.", min_length=1,
                                 max_length=limits.max_batch, json_schema_extra={"items": one_text})

        @field_validator("texts", mode="before")
        @classmethod
        def _texts(cls, value):
            return validate_batch(value, limits)

    return PredictRequest, BatchRequest


class Prediction(BaseModel):
    label: Label
    probabilities: dict[str, float]


class PredictResponse(Prediction):
    model_version: str
    request_id: str


class BatchResponse(BaseModel):
    predictions: list[Prediction]
    model_version: str
    request_id: str


class Health(BaseModel):
    status: Literal["ok", "loading"]
    model_version: str | None
    champion: bool | None = Field(description="Whether the served model is the published champion; null when "
                                              "this server cannot tell (a bundle baked into an image or mounted "
                                              "by SageMaker: the registry and the image tag say).")
    model_source: str | None = Field(description="Where the served bundle was chosen from, in words.")
    uptime_seconds: float


class HistoryItem(BaseModel):
    id: str
    request_id: str
    created_at: str
    text: str
    label: Label
    probabilities: dict[str, float]
    model_version: str
    latency_ms: float


class HistoryPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[HistoryItem]


class Served(BaseModel):
    champion: bool | None
    source: str
    digest: str = Field(description="sha256 of the bundle's manifest.json.")


class ModelInfo(BaseModel):
    """The served bundle's manifest (run id, commit, params, data hash, metrics, baselines, the gate's verdict,
    libraries, file hashes, as training wrote them), its model card, what is served and the registry version."""

    model_config = ConfigDict(extra="allow")
    run_id: str
    files: dict[str, str] = Field(description="sha256 of every file in the bundle.")
    model_card: str | None = Field(description="The bundle's model_card.md, as Markdown.")
    served: Served
    registry: dict[str, Any] | None = Field(description="{name, version, alias, uri, run_id, champion} when "
                                                        "MODEL_URI chose the model, else null.")


class Predictions(BaseModel):
    predictions: list[Prediction]


class ExecutionParameters(BaseModel):
    MaxConcurrentTransforms: int
    BatchStrategy: Literal["MULTI_RECORD", "SINGLE_RECORD"]
    MaxPayloadInMB: int


class Problem(BaseModel):
    """FastAPI's HTTPException body: one sentence."""

    detail: str


class Invalid(BaseModel):
    loc: list[str | int] = Field(description='Where: ["body", ...], ["query", name].')
    msg: str = Field(description="What is wrong and what to send instead, as a sentence.")
    type: str


class ValidationProblem(BaseModel):
    """FastAPI's validation error body: what is wrong, and where."""

    detail: list[Invalid]
