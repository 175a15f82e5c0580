"""Request and response bodies. Text checks are tweetops.inference's, so every entry point says the same."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tweetops.inference import DEFAULT_MAX_CHARS, MAX_BATCH, InputError, validate_batch, validate_text

Label = Literal["negative", "neutral", "positive"]
TEXT_SCHEMA = {"type": "string", "minLength": 1, "maxLength": DEFAULT_MAX_CHARS}


def _checked(check, value):
    try:
        return check(value)
    except InputError as exc:
        raise ValueError(str(exc)) from None  # pydantic turns it into a 422 with this message


class PredictRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"text": "I love my new phone :)"}]})
    text: str = Field(description="The tweet to classify.", json_schema_extra=TEXT_SCHEMA)

    @field_validator("text", mode="before")
    @classmethod
    def _text(cls, value):
        return _checked(validate_text, value)


class BatchRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"texts": ["great day!", "worst service ever"]}]})
    texts: list[str] = Field(description=f"Up to {MAX_BATCH} tweets.", min_length=1, max_length=MAX_BATCH,
                             json_schema_extra={"items": TEXT_SCHEMA})

    @field_validator("texts", mode="before")
    @classmethod
    def _texts(cls, value):
        return _checked(validate_batch, value)


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
    detail: str
    errors: list[str] | None = None
