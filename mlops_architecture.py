#!/usr/bin/env python3
"""The tweetops AWS architecture as code (the `diagrams` package; Graphviz `dot` renders it).

    .venv/bin/python mlops_architecture.py                 # writes docs/mlops_architecture.{png,svg}
    .venv/bin/python mlops_architecture.py --out-dir /tmp  # somewhere else (the tests do this)

The same architecture ARQUITECTURA_NUBE.md describes: GitHub Actions assumes an IAM role through
OIDC and pushes one image per run id to ECR; S3 is the data lake; AWS Batch array jobs and
SageMaker (training, Batch Transform, a real-time endpoint) run that one image; MLflow on ECS
Fargate tracks every run and holds the registry (published versions only, the @champion alias, moved
by `tweetops publish` once the run's image passed its smoke test); the drift monitor runs
daily and dispatches the retrain workflow; the Streamlit UI calls the API; CloudWatch holds logs,
metrics and alarms. The SVG's icons are
inlined as data URIs so the file does not point into this machine's site-packages.
"""
from __future__ import annotations

import argparse
import base64
import re
import shutil
import sys
from pathlib import Path

NAME = "mlops_architecture"
FORMATS = ("png", "svg")
ROOT = Path(__file__).resolve().parent

GRAPH_ATTR = {"fontsize": "22", "pad": "0.4", "nodesep": "0.5", "ranksep": "0.9", "splines": "spline"}
NODE_ATTR = {"fontsize": "13"}


def draw(out_dir: Path) -> list[Path]:
    """Render the diagram into out_dir; return the written files (png, svg)."""
    from diagrams import Cluster, Diagram, Edge
    from diagrams.aws.compute import ECR, Batch, ElasticContainerServiceContainer, Fargate
    from diagrams.aws.database import RDSPostgresqlInstance
    from diagrams.aws.general import Users
    from diagrams.aws.integration import EventbridgeScheduler
    from diagrams.aws.management import Cloudwatch, CloudwatchAlarm, CloudwatchLogs
    from diagrams.aws.ml import SagemakerModel, SagemakerTrainingJob
    from diagrams.aws.network import Endpoint
    from diagrams.aws.security import IAMAWSSts, IAMRole, KMS, SecretsManager
    from diagrams.aws.storage import SimpleStorageServiceS3Bucket
    from diagrams.onprem.ci import GithubActions
    from diagrams.onprem.mlops import Mlflow

    out_dir.mkdir(parents=True, exist_ok=True)
    with Diagram("tweetops: MLOps architecture on AWS (us-east-1)", filename=str(out_dir / NAME),
                 outformat=list(FORMATS), show=False, direction="LR",
                 graph_attr=GRAPH_ATTR, node_attr=NODE_ATTR):
        users = Users("clients\n(HTTPS + X-API-Key)")

        with Cluster("GitHub"):
            gha = GithubActions("Actions\nci_validation.yml\nmanual_retrain_pipeline.yml\n"
                                "(train, gate, image, smoke test, publish)")
            monitor = GithubActions("monitor_and_retrain.yml\ndaily 09:00 UTC\ntweetops monitor")

        with Cluster("IAM"):
            sts = IAMAWSSts("STS\nAssumeRoleWithWebIdentity\n(OIDC, no keys)")
            deploy_role = IAMRole("deploy role\n(infra/github-oidc.yaml)")

        ecr = ECR("ECR: tweetops\n:<run_id> :<git sha>\n:champion\n(scan on push)")

        with Cluster("S3 data lake (SSE-KMS, infra/data-lake.yaml)"):
            raw = SimpleStorageServiceS3Bucket("raw/")
            processed = SimpleStorageServiceS3Bucket("processed/")
            predictions = SimpleStorageServiceS3Bucket("predictions/\npart-0000i-of-0000n")
            artifacts = SimpleStorageServiceS3Bucket("artifacts/\nmodel bundles, reports")

        with Cluster("AWS Batch (infra/batch.yaml)"):
            batch = Batch("array job\nsize N = shards")
            shards = [ElasticContainerServiceContainer(f"batch-predict\nAWS_BATCH_JOB_ARRAY_INDEX={i}")
                      for i in ("0", "N-1")]

        with Cluster("SageMaker (infra/sagemaker.yaml)"):
            training = SagemakerTrainingJob("training job\nIMAGE train")
            transform = SagemakerModel("Batch Transform\nIMAGE serve")
            endpoint = SagemakerModel("real-time endpoint\nIMAGE serve\n/ping /invocations")

        with Cluster("MLflow (MLFLOW_TRACKING_URI)"):
            mlflow_task = Fargate("ECS Fargate")
            mlflow = Mlflow("tracking + registry\n(published versions, @champion)")
            mlflow_db = RDSPostgresqlInstance("RDS PostgreSQL")

        with Cluster("Observability"):
            logs = CloudwatchLogs("CloudWatch Logs")
            metrics = Cloudwatch("CloudWatch metrics")
            alarms = CloudwatchAlarm("alarms: p99 latency,\n5xx rate, drift")
            drift = EventbridgeScheduler("EventBridge Scheduler\nIMAGE monitor\ndaily 09:00 UTC")

        with Cluster("Web UI (ui/Dockerfile)"):
            ui = Fargate("Streamlit on ECS Fargate\nAPI_URL -> endpoint")

        with Cluster("Security"):
            kms = KMS("KMS keys")
            secrets = SecretsManager("Secrets Manager\nTWEETOPS_API_KEYS\nDATABASE_URL")
            vpce = Endpoint("VPC endpoints\nS3, ECR, Logs, STS")

        gha >> Edge(label="OIDC token") >> sts >> deploy_role
        deploy_role >> Edge(label="docker push") >> ecr
        ecr >> Edge(label="pull", style="dashed") >> [batch, training, transform, endpoint]
        raw >> Edge(label="channel training") >> training >> Edge(label="/opt/ml/model") >> artifacts
        batch >> shards
        processed >> Edge(label="batch-predict --input") >> shards[0]
        for shard in shards[1:]:
            processed >> shard
        shards >> predictions
        processed >> transform >> predictions
        users >> Edge(label="/invocations") >> endpoint
        mlflow_task - mlflow
        mlflow >> mlflow_db
        mlflow >> Edge(label="artefacts", style="dashed") >> artifacts
        training >> Edge(label="runs, metrics", style="dashed") >> mlflow
        gha >> Edge(label="runs; publish: version, @champion", style="dashed") >> mlflow
        mlflow_db >> Edge(label="prediction history", style="dashed") >> monitor
        monitor >> Edge(label="drift: gh workflow run") >> gha
        users >> Edge(label="browser") >> ui >> Edge(label="/predict") >> endpoint
        [endpoint, transform, training, batch] >> Edge(color="gray") >> logs
        endpoint >> Edge(label="latency, 5xx", color="gray") >> metrics >> alarms
        predictions >> Edge(style="dashed") >> drift
        drift >> Edge(label="drift score") >> metrics
        secrets >> Edge(style="dotted") >> endpoint
        kms >> Edge(style="dotted") >> [raw, secrets]
        vpce >> Edge(style="dotted") >> batch

    written = [out_dir / f"{NAME}.{fmt}" for fmt in FORMATS]
    _inline_svg_images(written[1])
    return written


def _inline_svg_images(svg: Path) -> None:
    """Replace the icons' absolute file paths in the SVG with data URIs (a portable, self-contained file)."""
    def data_uri(match: re.Match) -> str:
        path = Path(match.group(2))
        if not path.is_file():
            return match.group(0)
        encoded = base64.b64encode(path.read_bytes()).decode("ascii")
        return f'{match.group(1)}="data:image/png;base64,{encoded}"'

    text = svg.read_text(encoding="utf-8")
    svg.write_text(re.sub(r'(xlink:href|href)="(/[^"]+\.png)"', data_uri, text), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render the tweetops AWS architecture diagram (PNG and SVG).")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs", help="output folder (default: docs/)")
    args = parser.parse_args(argv)
    if shutil.which("dot") is None:
        print("error: Graphviz `dot` not found; install the Debian package graphviz "
              "(scripts/install_system_deps.sh).", file=sys.stderr)
        return 2
    for path in draw(args.out_dir):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
