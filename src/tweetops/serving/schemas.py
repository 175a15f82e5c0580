"""Request and response bodies. Text checks are tweetops.serving.inference's, so every entry point says
the same, and the request models are built from the served Limits, so /openapi.json states the limits
the server enforces."""
from __future__ import annotations

import datetime
import re
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from tweetops.model import LABELS
from tweetops.serving.inference import Limits, validate_batch, validate_text

Label = Literal[LABELS]
# RFC 3339, which `format: date-time` promises, and nothing looser (no bare dates, no Unix seconds, no local times).
RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")


def _rfc3339(value):
    if isinstance(value, str) and RFC3339.fullmatch(value):
        return value
    raise ValueError("not an RFC 3339 time; send one with its offset, such as 2026-01-31T12:00:00Z.")


Moment = Annotated[datetime.datetime, BeforeValidator(_rfc3339)]


def request_models(limits: Limits) -> tuple[type[BaseModel], type[BaseModel]]:
    """(PredictRequest, BatchRequest) enforcing and documenting these limits; `shape` is the body to ask for when
    one cannot be read."""
    text_schema = {"type": "string", "minLength": 1, "maxLength": limits.max_chars}

    class PredictRequest(BaseModel):
        model_config = ConfigDict(json_schema_extra={"examples": [{"text": "I love my new phone :)"}]})
        shape: ClassVar[str] = '{"text": "..."}'
        text: str = Field(description="The tweet to classify.", json_schema_extra=text_schema)

        @field_validator("text", mode="before")
        @classmethod
        def _text(cls, value):
            return validate_text(value, limits.max_chars)  # an InputError is a ValueError: pydantic's 422

    class BatchRequest(BaseModel):
        model_config = ConfigDict(json_schema_extra={"examples": [{"texts": ["great day!", "worst service ever"]}]})
        shape: ClassVar[str] = '{"texts": ["..."]}'
        texts: list[str] = Field(description=f"Up to {limits.max_batch} tweets.", min_length=1,
                                 max_length=limits.max_batch, json_schema_extra={"items": text_schema})

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
