"""Builder-stage check and byte-compiler for the image (never copied into the runtime stage).

Dependencies are installed with --no-compile; importing what serve, batch-predict, train and
pipeline import writes .pyc files for exactly that hot path. Start-up stays fast, while the many
modules nothing imports keep only their source (tens of MB smaller than compiling everything).
The checks then prove the slimmed venv still works: a fit, a parquet round trip, an S3 client.
"""
import importlib
import io

HOT_PATH = [
    # serve: the server, the FastAPI app its workers build, and what they load lazily
    "tweetops.serving.server", "uvicorn.protocols.http.httptools_impl", "uvicorn.loops.uvloop",
    "uvicorn.lifespan.on", "sqlalchemy.dialects.sqlite", "sqlalchemy.dialects.postgresql.psycopg",
    # what the bundle pickles, and the other entry points (sagemaker_train imports the six stages)
    "tweetops.model.builder", "tweetops.entrypoint", "tweetops.cli", "tweetops.serving.batch",
    "tweetops.release.gate", "tweetops.release.publish", "tweetops.sagemaker_train", "tweetops.monitoring.monitor",
    "matplotlib.pyplot", "matplotlib.backends.backend_agg", "boto3", "botocore.client",
]


def main() -> None:
    for name in HOT_PATH:
        importlib.import_module(name)
    import boto3
    import numpy
    import pandas
    from sklearn.linear_model import LogisticRegression

    LogisticRegression().fit(numpy.eye(4), [0, 1, 0, 1])
    frame = pandas.DataFrame({"a": [1]})
    assert pandas.read_parquet(io.BytesIO(frame.to_parquet())).equals(frame)
    boto3.client("s3", region_name="us-east-1")
    print(f"warm-up: imported {len(HOT_PATH)} entry modules; checks passed")


if __name__ == "__main__":
    main()
