"""`tweetops serve`: the API under uvicorn, one SO_REUSEPORT socket per worker process.

Measured here (see the serving notes): with `uvicorn --workers N` all workers share one
listening socket and under keep-alive load one worker can take every connection; with one
SO_REUSEPORT socket per worker the kernel spreads connections across them. The parent binds
the sockets, verifies the model once (a missing or tampered bundle stops it with one line and
exit status 2), starts the workers, restarts one that dies, and on SIGTERM/SIGINT asks each to
shut down gracefully (in-flight requests finish, the history journal is shipped). A worker whose
supervisor is gone (SIGKILL) shuts itself down the same way, so none is left serving; and a port
already in use, by anything, is refused with one sentence rather than shared through SO_REUSEPORT.

Environment (tweetops.settings): PORT (8080, SageMaker's), HOST (0.0.0.0), WEB_CONCURRENCY or
TWEETOPS_WORKERS (2), TWEETOPS_TLS_CERT + TWEETOPS_TLS_KEY (HTTPS), MODEL_DIR or MODEL_URI, LOG_LEVEL.
The model is chosen once, here (tweetops.serving.inference.resolve_model), and every worker loads
exactly that verified bundle.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from sqlalchemy.exc import SQLAlchemyError

from tweetops.errors import TweetopsError
from tweetops.io.files import TOKEN_GLOB, remove_abandoned, scratch_folder
from tweetops.model.bundle import verify_bundle
from tweetops.serving.app import create_app
from tweetops.serving.history import database_url, ensure_schema, make_engine
from tweetops.serving.inference import ModelChoice, resolve_model
from tweetops.serving.protocol import bounded_protocol
from tweetops.serving.service import Service
from tweetops.settings import configure_logging, environment

log = logging.getLogger("tweetops.server")
MAX_RESTARTS = 5
ORPHAN_CHECK_SECONDS = 0.5
METRICS_PREFIX = "tweetops-metrics-"
STARTUP_FAILURE = 3  # uvicorn's exit status when the app's startup fails


@dataclass(frozen=True)
class ServeSettings:
    host: str = "0.0.0.0"
    port: int = 8080
    workers: int = 2
    tls_cert: str | None = None
    tls_key: str | None = None
    log_level: str | None = None
    graceful_seconds: float = 20.0
    read_timeout: float = 10.0

    @classmethod
    def from_env(cls, **overrides) -> "ServeSettings":
        env = environment()
        values = {"host": env.host, "port": env.port, "workers": env.worker_count,
                  "tls_cert": env.tls_cert and str(env.tls_cert), "tls_key": env.tls_key and str(env.tls_key),
                  "log_level": env.log_level, "read_timeout": env.read_timeout}
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        if not 0 <= self.port <= 65535:
            raise TweetopsError(f"the port must be between 0 and 65535, got {self.port}; set --port or PORT.")
        if self.workers < 1:
            raise TweetopsError(f"workers must be at least 1, got {self.workers}; set WEB_CONCURRENCY.")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise TweetopsError("TLS needs both TWEETOPS_TLS_CERT and TWEETOPS_TLS_KEY; set both or neither.")
        for path in (self.tls_cert, self.tls_key):
            if path and not Path(path).is_file():
                raise TweetopsError(f"TLS file {path} not found; check TWEETOPS_TLS_CERT and TWEETOPS_TLS_KEY.")
        if self.tls_cert:
            _check_tls(self.tls_cert, self.tls_key)

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"


def _check_tls(cert: str, key: str) -> None:
    """Load the pair as uvicorn will, here in the supervisor: in the workers a key that does not match its
    certificate, or a file that is not PEM, was a traceback per worker start, restarted until the supervisor
    gave up (176 log lines), and an encrypted key would have asked for its password on the terminal."""
    def no_password():
        raise TweetopsError(f"the TLS key {key} is encrypted; serve needs it unencrypted (readable by this user "
                            "only), or terminate TLS at a load balancer.")

    try:
        for path in (cert, key):  # opened first so that a file this user may not read is named (OpenSSL names none)
            open(path, "rb").close()
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key, password=no_password)
    except ssl.SSLError as exc:
        problem = (f"the TLS key {key} is not the key of the certificate {cert}" if exc.reason == "KEY_VALUES_MISMATCH"
                   else f"TLS: {cert} and {key} do not load as a PEM certificate and its private key")
        raise TweetopsError(f"{problem}; check TWEETOPS_TLS_CERT and TWEETOPS_TLS_KEY.") from None
    except OSError as exc:  # a file this user may not read (mode 0600, another owner)
        raise TweetopsError(f"cannot read the TLS file {exc.filename} ({os.strerror(exc.errno).lower()}); "
                            "check TWEETOPS_TLS_CERT and TWEETOPS_TLS_KEY and who may read them.") from None


def _prepare_environment() -> None:
    # One BLAS/OpenMP thread per worker: measured faster and steadier on small per-request work.
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(name, "1")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def check_port_free(host: str, port: int) -> None:
    """A TweetopsError if anything listens on the port: a bind without SO_REUSEPORT fails then, while the
    workers' SO_REUSEPORT sockets would silently share it with that listener (say, a forgotten server)."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise TweetopsError(f"cannot listen on {host}:{port} ({exc.strerror}); stop what uses it or set PORT "
                                "to a free port.") from None


def listen(host: str, port: int) -> socket.socket:
    family = _family(host)
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise TweetopsError(f"cannot listen on {host}:{port} ({exc.strerror}); set PORT to a free port.")
    sock.listen(2048)
    return sock


def run_worker(settings: ServeSettings, sock: socket.socket, model: ModelChoice, index: int = 0,
               workers: int = 1, supervisor: int | None = None) -> None:
    """One uvicorn server on its own socket, serving `model`; returns after a graceful shutdown."""
    _pin(index, workers)

    configure_logging(settings.log_level)
    _prepare_environment()
    service = Service()
    try:  # here, not in the app's startup, where uvicorn would print a bad model's sentence as a traceback
        service.load(model)
    except TweetopsError as exc:
        log.error("worker %d cannot serve: %s", index, exc)
        sys.exit(STARTUP_FAILURE)
    server = worker_server(settings, model, service)
    if supervisor is not None:
        threading.Thread(target=_exit_when_orphaned, args=(server, supervisor), name="orphan-check",
                         daemon=True).start()
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def worker_server(settings: ServeSettings, model: ModelChoice,
                  service: Service | None = None) -> uvicorn.Server:
    """The worker's uvicorn server, not yet running, already stopped gracefully by SIGTERM or SIGINT.

    uvicorn installs its own handlers only once it runs, and re-raises the signal it caught once it has shut
    down. Before and after, this handler asks for the same graceful stop, so a SIGTERM that arrives while the
    worker is still starting is not lost (it was, with a no-op handler: the worker served on until killed),
    and the re-raised one is a clean exit."""
    config = uvicorn.Config(create_app(service, model=model), loop="uvloop",
                            http=bounded_protocol(settings.read_timeout), access_log=False, log_config=None,
                            lifespan="on", ssl_certfile=settings.tls_cert,
                            ssl_keyfile=settings.tls_key, timeout_graceful_shutdown=settings.graceful_seconds,
                            server_header=False)
    server = uvicorn.Server(config)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: setattr(server, "should_exit", True))
    return server


def _exit_when_orphaned(server: uvicorn.Server, supervisor: int) -> None:
    """Shut the worker down gracefully, as SIGTERM would, once its supervisor is gone (SIGKILL leaves no
    chance to stop it); a polled parent id works whatever killed the supervisor, unlike a death signal
    that the worker's own signal handlers would swallow while it starts."""
    while not server.should_exit:
        if os.getppid() != supervisor:
            log.warning("the supervisor (pid %d) is gone; shutting this worker down", supervisor)
            server.should_exit = True
            return
        time.sleep(ORPHAN_CHECK_SECONDS)


def _pin(index: int, workers: int) -> None:
    """One worker per allowed CPU: pin it there (TWEETOPS_PIN_WORKERS=0 leaves placement to the scheduler).

    Measured with wrk at c=8 on 2 cores: p99 11 ms unpinned, 8.5 ms pinned, as workers stop migrating.
    """
    allowed = sorted(os.sched_getaffinity(0))
    if environment().pin_workers and workers == len(allowed) > 1:
        os.sched_setaffinity(0, {allowed[index]})


def _ensure_history_schema() -> None:
    """Create the history table once, before workers race to; a database that is down is not fatal."""
    engine = make_engine(database_url())
    try:
        ensure_schema(engine)
    except SQLAlchemyError as exc:
        log.warning("history database unavailable at start (%s); predictions will be spooled until it answers",
                    type(exc).__name__)
    finally:
        engine.dispose()


class Supervisor:
    """Starts one worker process per socket, restarts one that dies, stops them all on a signal."""

    def __init__(self, settings: ServeSettings, sockets: list[socket.socket], model: ModelChoice):
        self.settings = settings
        self.sockets = sockets
        self.model = model
        self.context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited threads or locks
        self.stopping = threading.Event()
        self.failed = False

    def _start(self, index: int):
        process = self.context.Process(target=run_worker,
                                       args=(self.settings, self.sockets[index], self.model, index,
                                             len(self.sockets), os.getpid()),
                                       name=f"tweetops-worker-{index}")
        process.start()
        return process

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        processes = [self._start(i) for i in range(len(self.sockets))]
        restarts = 0
        while not self.stopping.wait(0.5):
            for i, process in enumerate(processes):
                if process.is_alive():
                    continue
                if process.exitcode == STARTUP_FAILURE or restarts >= MAX_RESTARTS:
                    log.error("worker %d exited with status %s; stopping the server", i, process.exitcode)
                    self.failed = True
                    self.stopping.set()
                    break
                restarts += 1
                log.warning("worker %d exited with status %s; restarting it", i, process.exitcode)
                processes[i] = self._start(i)
        log.info("shutting down %d workers", len(processes))
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes in-flight requests, then the app flushes history
        for sock in self.sockets:
            sock.close()
        for process in processes:
            process.join(self.settings.graceful_seconds + 10)
            if process.is_alive():
                log.error("worker pid %d did not stop in time; killing it", process.pid)
                process.kill()
                process.join()
                self.failed = True
            elif process.exitcode not in (0, -signal.SIGTERM):  # SIGTERM before its handlers: still starting
                self.failed = True
        return 1 if self.failed else 0


def serve(settings: ServeSettings) -> int:
    """Run the API until SIGTERM/SIGINT; 0 after a clean shutdown. Raises TweetopsError on a bad model."""
    _prepare_environment()
    choice = resolve_model()
    choice = ModelChoice(choice.path.resolve(), choice.source, choice.champion, choice.registry)
    manifest = verify_bundle(choice.path)  # missing or tampered: one clear error before anything listens
    _ensure_history_schema()
    if settings.port:
        check_port_free(settings.host, settings.port)
    sockets = [listen(settings.host, settings.port) for _ in range(settings.workers)]
    log.info("serving model %s, %s, on %s://%s:%d with %d worker(s)", manifest.get("run_id"), choice.note,
             settings.scheme, settings.host, settings.port, settings.workers)
    if settings.workers == 1:
        run_worker(settings, sockets[0], choice)
        return 0
    if environment().prometheus_dir:
        return Supervisor(settings, sockets, choice).run()
    # /metrics sums over the workers through a folder they share; the folders of killed supervisors go first
    # (pid-named for the reader; the lock, not the pid, says whether its maker lives: in a container it is 1).
    remove_abandoned(Path(tempfile.gettempdir()), f"{METRICS_PREFIX}*-{TOKEN_GLOB}")
    with scratch_folder(f"{METRICS_PREFIX}{os.getpid()}-") as metrics_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        return Supervisor(settings, sockets, choice).run()
