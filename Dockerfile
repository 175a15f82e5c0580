# The tweetops image: one model bundle baked in, five entry points.
#   docker run IMAGE serve                       FastAPI on $PORT (8080): /ping, /predict, /invocations
#   docker run IMAGE batch-predict --input URI --output URI    one AWS Batch array shard
#   docker run IMAGE train                       SageMaker training contract (/opt/ml/...)
#   docker run IMAGE pipeline [--source URI]     the six stages, into /var/lib/tweetops
#   docker run IMAGE monitor --history URL       drift of the served predictions (exit 3 on drift)
# Built by scripts/build_image.sh (labels and the bundle to bake come from the bundle's manifest).
# No "syntax=" directive: BuildKit would fetch a frontend image, and builds must work with no registry.
ARG BASE_IMAGE=python:3.11-slim

# ---- builder: the locked requirements and the project, installed into a venv; its SBOM ----
FROM ${BASE_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
# binutils (strip) stays in this stage; the runtime stage never sees it. Debian's current version.
# hadolint ignore=DL3008
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends binutils >/dev/null \
 && rm -rf /var/lib/apt/lists/*
# Slimming (~250 MB, to stay under 600 MB): the libraries' test suites, headers, type stubs and debug
# symbols (not in *.libs: auditwheel's patchelf-ed libraries break when stripped); pyarrow's Flight and
# S3 modules (S3 goes through boto3); the API models of AWS services the app never calls.
# One RUN, so neither the wheels nor the unslimmed venv is ever committed as a layer.
# The hashed lock (requirements.lock, from requirements.txt by scripts/lock.sh): pip refuses any file whose
# hash differs, so two builds of one commit hold the same packages.
ARG BOTOCORE_SERVICES="s3 sts sso sso-oidc"
WORKDIR /opt/venv/lib
COPY requirements.lock /build/
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --quiet --no-compile --require-hashes -r /build/requirements.lock \
 && find /opt/venv -depth -type d \( -name tests -o -name include -path '*/site-packages/*' \) -exec rm -rf {} + \
 && find /opt/venv \( -name '*.pyi' -o -name '*.pxd' -o -name '*.pyx' \) -delete \
 && rm -f python3*/site-packages/pyarrow/*flight* python3*/site-packages/pyarrow/*s3* \
      python3*/site-packages/pyarrow/_pyarrow_cpp_tests* \
 && for service in python3*/site-packages/botocore/data/*/; do \
      case " ${BOTOCORE_SERVICES} " in *" $(basename "$service") "*) ;; *) rm -rf "$service" ;; esac; \
    done \
 && find /opt/venv -name '*.so*' -type f -not -path '*.libs/*' -exec strip --strip-unneeded {} +

# The project's own wheel, after the dependencies so a code change reuses the layer above; then
# docker/warm_up.py byte-compiles the hot path (deps were installed with --no-compile) and checks it.
# README.m[d]: pyproject.toml names README.md as the long description; tolerate a tree without it.
WORKDIR /build
COPY pyproject.toml README.m[d] ./
COPY src ./src
COPY docker/warm_up.py ./
RUN touch README.md \
 && python -m pip wheel --quiet --no-deps --wheel-dir /tmp/wheels . \
 && /opt/venv/bin/pip install --quiet --no-deps /tmp/wheels/tweetops-*.whl \
 && /opt/venv/bin/pip uninstall --quiet --yes pip setuptools \
 && rm -rf /tmp/wheels \
 && env -u PYTHONDONTWRITEBYTECODE /opt/venv/bin/python warm_up.py

# The SBOM (CycloneDX JSON) of exactly what ships in /opt/venv, written by cyclonedx-py from a throwaway venv
# (its own hashed lock) so the generator never enters the image. Reproducible: no timestamp, no random serial.
COPY docker/sbom-requirements.lock /build/
RUN python -m venv /tmp/sbom \
 && /tmp/sbom/bin/pip install --quiet --require-hashes -r /build/sbom-requirements.lock \
 && /tmp/sbom/bin/cyclonedx-py environment --pyproject pyproject.toml --mc-type application \
      --output-reproducible --of JSON -o /build/sbom.cdx.json /opt/venv/bin/python \
 && rm -rf /tmp/sbom

# The bundle last, so a new model reuses every layer above; made world-readable here (bundles are
# written owner-only) so the runtime stage needs no extra chmod layer.
# A bundle folder inside the build context: models/<run_id> (never a secret; the manifest holds none).
ARG MODEL_BUNDLE=models/champion
COPY ${MODEL_BUNDLE} /bundle
RUN chmod -R a+rX,go-w /bundle

# ---- runtime: the venv, the app files and the bundle; no compiler, no pip cache, no tests ----
FROM ${BASE_IMAGE} AS runtime
ARG GIT_SHA=unknown
ARG CREATED=unknown
ARG SOURCE=unknown
ARG RUN_ID=unknown
ARG MACRO_F1=unknown
LABEL org.opencontainers.image.title="tweetops" \
      org.opencontainers.image.description="Tweet sentiment classifier: serve, batch-predict, train, pipeline" \
      org.opencontainers.image.revision="${GIT_SHA}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${RUN_ID}" \
      io.tweetops.model.run-id="${RUN_ID}" \
      io.tweetops.model.macro-f1="${MACRO_F1}" \
      io.tweetops.sbom="/opt/tweetops/sbom.cdx.json"

# One BLAS thread per process (measured faster for single predictions); JSON log lines for CloudWatch Logs
# (LOG_FORMAT=text for a terminal); history and pipeline outputs go to the one writable data directory; the
# bundled tweets are the default data source.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LOG_FORMAT=json \
    PORT=8080 \
    OMP_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1 \
    TWEETOPS_HOME=/var/lib/tweetops \
    TWEETOPS_PARAMS=/opt/tweetops/app/params.yaml \
    TWEETOPS_SOURCE=/opt/tweetops/app/data/raw/tweets_GroundTruth.txt \
    TWEETOPS_HISTORY_DB=/var/lib/tweetops/history.db \
    TWEETOPS_SPOOL_DIR=/var/lib/tweetops/history-spool \
    MPLCONFIGDIR=/tmp/matplotlib

RUN groupadd --gid 10001 tweetops \
 && useradd --uid 10001 --gid 10001 --no-log-init --home-dir /var/lib/tweetops --no-create-home \
      --shell /usr/sbin/nologin tweetops \
 && mkdir -p /var/lib/tweetops /opt/ml/model /opt/ml/input /opt/ml/output \
 && chown tweetops:tweetops /var/lib/tweetops

COPY --from=builder /opt/venv /opt/venv
WORKDIR /opt/tweetops/app
COPY params.yaml ./
COPY data/raw ./data/raw
# The baked bundle lives outside /opt/ml/model, which SageMaker mounts (read-only) over it;
# tweetops.inference prefers /opt/ml/model when that holds a bundle.
COPY --from=builder /bundle /opt/tweetops/model
COPY --from=builder /build/sbom.cdx.json /opt/tweetops/sbom.cdx.json

# Least privilege: a non-root default user. Serving runs the same as root (SageMaker's default), since
# it writes only to /var/lib/tweetops and /tmp; RUNTIME_USER=0:0 builds an image for platforms that insist.
ARG RUNTIME_USER=10001:10001
USER ${RUNTIME_USER}
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/ping' % os.environ.get('PORT', '8080'), timeout=2)"]
# Exec form: the process gets SIGTERM directly (SageMaker and AWS Batch stop containers with it).
ENTRYPOINT ["python", "-m", "tweetops.entrypoint"]
CMD ["serve"]
