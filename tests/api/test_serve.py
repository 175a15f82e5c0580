"""The real `tweetops serve`: refusal of a bad model, TLS, load, and SIGTERM flushing the history."""
from __future__ import annotations

import datetime
import hashlib
import ipaddress
import json
import pickle
import shutil
import ssl
import subprocess
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.api.conftest import TWEETOPS, serve_env
from tests.conftest import ROOT, unprivileged
from tests.release.seal import reseal
from tests.servers.ports import wait_until
from tweetops.model.bundle import MANIFEST_FILE, MODEL_FILE
from tweetops.serving.history import History


def _run_serve(env: dict, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([TWEETOPS, "serve"], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_a_tampered_model_is_refused_at_start_with_one_clear_line(trained_bundle, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(trained_bundle, bundle)
    with open(bundle / "model.joblib", "ab") as handle:
        handle.write(b"\0")
    result = _run_serve(serve_env(bundle, tmp_path), tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: {bundle / 'model.joblib'} does not match the sha256 "
                                                  "in its manifest; refusing to load a modified model."]


@pytest.mark.parametrize("workers, status", [(2, 1), (1, 3)])
def test_a_sealed_model_that_is_not_a_model_stops_the_server_with_one_sentence(
        trained_bundle, tmp_path, workers, status):
    """Hashes that match prove only that the file is what was sealed; the supervisor checks hashes, each worker
    loads the model: a resealed one that unpickles to an int stops the server, a worker saying why in one line
    (it printed uvicorn's 20-line traceback of the app's startup). The first worker to fail stops the others,
    so a slower one may be stopped before it says so too (CI saw it): one sentence per worker at most."""
    bundle = tmp_path / "bundle"
    shutil.copytree(trained_bundle, bundle)
    data = zlib.compress(pickle.dumps(42, protocol=5))
    (bundle / MODEL_FILE).write_bytes(data)
    manifest = json.loads((bundle / MANIFEST_FILE).read_text())
    manifest["files"][MODEL_FILE] = hashlib.sha256(data).hexdigest()
    reseal(bundle, manifest)
    result = _run_serve(serve_env(bundle, tmp_path, WEB_CONCURRENCY=workers), tmp_path)
    assert result.returncode == status
    assert "Traceback" not in result.stderr
    said = [line.split("] ", 1)[1] for line in result.stderr.splitlines() if "] worker " in line]
    sentence = (f"cannot serve: {bundle / MODEL_FILE} holds a int, not a fitted model with predict_proba; "
                "retrain it with `tweetops run` (or `make run`).")
    failed = [i for i in range(workers) if f"worker {i} {sentence}" in said]
    stopped = [line for line in said if line.endswith("exited with status 3; stopping the server")]
    assert failed and len(stopped) == (workers > 1)
    assert sorted(said) == sorted([f"worker {i} {sentence}" for i in failed] + stopped)
    assert all(int(line.split()[1]) in failed for line in stopped)


def test_a_missing_model_is_refused_at_start(tmp_path):
    result = _run_serve(serve_env(tmp_path / "nothing", tmp_path), tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: no model at {tmp_path / 'nothing'}; train one with `make run` or set MODEL_DIR."]


def _self_signed(folder):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_tls_with_a_self_signed_certificate(trained_bundle, tmp_path, start_server):
    cert, key = _self_signed(tmp_path)
    trusted = ssl.create_default_context(cafile=str(cert))
    env = serve_env(trained_bundle, tmp_path, WEB_CONCURRENCY=1, TWEETOPS_TLS_CERT=cert, TWEETOPS_TLS_KEY=key)
    server = start_server(env, verify=trusted)
    assert server.url.startswith("https://")
    with httpx.Client(base_url=server.url, verify=trusted) as client:
        assert client.get("/health").json()["status"] == "ok"
        assert client.post("/predict", json={"text": "what a lovely morning"}).json()["label"] == "positive"
    with pytest.raises(httpx.HTTPError):  # plain HTTP is not answered on the TLS port
        httpx.get(server.url.replace("https://", "http://") + "/health", timeout=5)
    with pytest.raises(httpx.ConnectError):  # and the certificate is checked, not ignored
        httpx.get(server.url + "/health", timeout=5)
    assert server.terminate() == 0


def test_a_tls_pair_that_does_not_load_is_one_sentence_at_start(tmp_path):
    """A key of another certificate, a file that is not PEM, an encrypted key: each was refused only inside every
    worker, a traceback a start until the supervisor gave up (exit 1)."""
    from cryptography.hazmat.primitives import serialization

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    cert, key = _self_signed(tmp_path / "a")
    _, other_key = _self_signed(tmp_path / "b")
    not_pem = tmp_path / "hostname.txt"
    not_pem.write_text("build-host\n")
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(serialization.load_pem_private_key(key.read_bytes(), None).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret")))
    for pair, problem in (((cert, other_key), f"the TLS key {other_key} is not the key of the certificate {cert}"),
                          ((cert, not_pem), f"TLS: {cert} and {not_pem} do not load as a PEM certificate and its "
                                            "private key"),
                          ((not_pem, key), f"TLS: {not_pem} and {key} do not load as a PEM certificate and its "
                                           "private key")):
        result = _run_serve(serve_env(tmp_path / "never-loaded", tmp_path, TWEETOPS_TLS_CERT=pair[0],
                                      TWEETOPS_TLS_KEY=pair[1]), tmp_path)
        assert (result.returncode, result.stderr.strip().splitlines()) == (2, [
            f"error: {problem}; check TWEETOPS_TLS_CERT and TWEETOPS_TLS_KEY."])
    unreadable = tmp_path / "unreadable.pem"  # a key this user may not read (0600 of another owner, say)
    shutil.copy(key, unreadable)
    unreadable.chmod(0)
    result = subprocess.run([*unprivileged(), TWEETOPS, "serve"], env=serve_env(
        tmp_path / "never-loaded", tmp_path, TWEETOPS_TLS_CERT=cert, TWEETOPS_TLS_KEY=unreadable), cwd=tmp_path,
        capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stderr.strip().splitlines()) == (2, [
        f"error: cannot read the TLS file {unreadable} (permission denied); check TWEETOPS_TLS_CERT and "
        "TWEETOPS_TLS_KEY and who may read them."])
    result = _run_serve(serve_env(tmp_path / "never-loaded", tmp_path, TWEETOPS_TLS_CERT=cert,
                                  TWEETOPS_TLS_KEY=encrypted), tmp_path)
    assert (result.returncode, result.stderr.strip().splitlines()) == (2, [
        f"error: the TLS key {encrypted} is encrypted; serve needs it unencrypted (readable by this user only), or "
        "terminate TLS at a load balancer."])


def test_load_then_sigterm_every_answered_prediction_is_recorded(trained_bundle, tmp_path, start_server, tweets,
                                                                 service):
    # An hour between timed flushes: rows still buffered at SIGTERM reach the database only by the shutdown flush.
    env = serve_env(trained_bundle, tmp_path, WEB_CONCURRENCY=2, TWEETOPS_HISTORY_FLUSH_SECONDS=3600)
    server = start_server(env)
    texts = [tweets[i % len(tweets)] for i in range(2000)]
    expected = [p["label"] for p in service.predictor.predict(texts)]

    def send(indexes):
        labels = {}
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for i in indexes:
                response = client.post("/predict", json={"text": texts[i]})
                labels[i] = response.json()["label"] if response.status_code == 200 else response.status_code
        return labels

    with ThreadPoolExecutor(8) as pool:
        results = {}
        for part in pool.map(send, [range(k, 2000, 8) for k in range(8)]):
            results.update(part)
    assert [results[i] for i in range(2000)] == expected  # no errors, and the same labels as in process

    metrics = httpx.get(server.url + "/metrics").text  # summed over both workers
    assert 'tweetops_http_requests_total{method="POST",route="/predict",status="200"} 2000.0' in metrics
    assert server.terminate() == 0
    assert "history flushed" in server.log()
    history = History(url=f"sqlite:///{tmp_path / 'history.db'}", spool=tmp_path / "spool")
    assert history.count() == 2000
    assert history.pending() == 0


# A worker as the supervisor starts it, sent SIGTERM after its handlers are set and before uvicorn runs: the
# window in which a supervisor stopping at once (a deploy rolled back) used to leave it serving until killed.
EARLY_SIGTERM = """
import os, signal
from tweetops.logs import setup_logging
from tweetops.serving.inference import resolve_model
from tweetops.serving.server import ServeSettings, listen, worker_server
setup_logging("INFO")
settings = ServeSettings(host="127.0.0.1", port=int(os.environ["PORT"]))
server = worker_server(settings, resolve_model())
os.kill(os.getpid(), signal.SIGTERM)
server.run(sockets=[listen(settings.host, settings.port)])
print("started", server.started)
"""


def test_a_sigterm_while_a_worker_starts_stops_it_gracefully(trained_bundle, tmp_path):
    done = subprocess.run([sys.executable, "-c", EARLY_SIGTERM], env=serve_env(trained_bundle, tmp_path),
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["started", "True"]  # it finished starting, then took the graceful path
    assert "Application shutdown complete" in done.stderr and "history flushed" in done.stderr


def test_any_asgi_server_runs_the_seed_designs_api_main(trained_bundle, tmp_path):
    """`uvicorn api.main:app`, as the seed design runs it: api/main.py only builds the app from the package."""
    env = serve_env(trained_bundle, tmp_path)
    process = subprocess.Popen([sys.executable, "-m", "uvicorn", "api.main:app", "--port", env["PORT"]], cwd=ROOT,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{env['PORT']}"
    try:
        wait_until(lambda: process.poll() is not None or httpx.get(url + "/ping").status_code == 200, timeout=60,
                   what="uvicorn api.main:app")
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        health = httpx.get(url + "/health").json()
        assert health["model_version"] == trained_bundle.name and health["champion"] is True
        assert httpx.post(url + "/predict", json={"text": "I love it"}).json()["label"] == "positive"
    finally:
        process.terminate()
        process.wait(timeout=30)
