"""Serving speed: `tweetops serve` against MLServer 1.7 (mlserver-sklearn), a naive FastAPI app and the floor.

All serve the same bundle on 127.0.0.1. tweetops runs as shipped: 2 workers, API keys on
(TWEETOPS_API_KEYS) and every prediction recorded in the history (SQLite). MLServer runs 2
parallel workers from its own venv (default /tmp/tweetops-mlserver-venv, created on first use, with
uvloop<0.22: its worker crashes with 0.23). The naive app is benchmarks/naive_app.py (1 worker).
The floor is predict_proba alone in two processes. Load comes from wrk (`make bench-deps`) with
a Lua script cycling real bodies, or a bounded Python client; every load is bounded in time.

Metrics: single-text /predict req/s and p99 latency at concurrency 8; batch-of-100 texts/s at
concurrency 8 and its ratio to the floor. Each point is the median of --runs runs.

    .venv/bin/python benchmarks/serving.py                      # ~6 minutes
    .venv/bin/python benchmarks/serving.py --duration 3 --runs 1 --targets tweetops naive
    .venv/bin/python benchmarks/serving.py --targets tweetops --baseline HEAD~3   # a change's cost
    .venv/bin/python benchmarks/serving.py --model models/RUN_ID --name serving-encoder   # the encoder family

--baseline REF adds `tweetops serve` as of the commit REF (a git worktree, run with this venv) to the
same run, so a change's cost is read as a ratio rather than across runs on these shared cores.
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from common import (ONE_THREAD, ROOT, PeakRss, baseline_source, free_port, machine, median_run, resampled_tweets,
                    wait_idle, write_results)

os.environ.update(ONE_THREAD)  # the floor's processes and every server: one BLAS thread per process

API_KEY = "benchmark-key"
MLSERVER_VENV = Path("/tmp/tweetops-mlserver-venv")
MLSERVER_PINS = ["mlserver==1.7.1", "mlserver-sklearn==1.7.1", "uvloop<0.22"]
MODEL_LIBRARIES = ("numpy", "scipy", "pandas", "scikit-learn", "joblib", "vaderSentiment", "PyYAML", "onnxruntime",
                   "tokenizers")  # the encoder family's bundle needs the last two
BATCH = 100
MAX_REQUESTS = 500_000  # the Python client's bound on one load, besides its duration


@dataclass
class Target:
    name: str
    command: list[str]
    env: dict
    ready_path: str
    single_path: str
    batch_path: str
    headers: dict
    body: object  # (texts, single) -> bytes


def _tweetops_body(texts: list[str], single: bool) -> bytes:
    return json.dumps({"text": texts[0]} if single else {"texts": texts}).encode()


def _mlserver_body(texts: list[str], single: bool) -> bytes:
    return json.dumps({"inputs": [{"name": "text", "shape": [len(texts)], "datatype": "BYTES", "data": texts,
                                   "parameters": {"content_type": "str"}}],
                       "outputs": [{"name": "predict_proba"}]}).encode()


def ensure_mlserver_venv(venv: Path) -> Path:
    """MLServer in its own venv (its pins clash with the project's), with the model's libraries and tweetops."""
    mlserver = venv / "bin" / "mlserver"
    if mlserver.exists():
        return mlserver
    print(f"creating {venv} with {' '.join(MLSERVER_PINS)} (about a minute) ...", flush=True)
    pins = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
            if line.split("==")[0].strip() in MODEL_LIBRARIES]  # the versions the bundle was pickled with
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, *MLSERVER_PINS, *pins], check=True)
    subprocess.run([*pip, "--no-deps", "-e", str(ROOT)], check=True)  # the bundle's custom transformers
    return mlserver


def _tweetops(name: str, model: Path, work: Path, source: Path | None = None) -> Target:
    env = {"HOST": "127.0.0.1", "PORT": str(free_port()), "MODEL_DIR": str(model), "WEB_CONCURRENCY": "2",
           "TWEETOPS_API_KEYS": API_KEY, "TWEETOPS_HISTORY_DB": str(work / f"{name}-history.db"),
           "TWEETOPS_SPOOL_DIR": str(work / f"{name}-spool"), "LOG_LEVEL": "WARNING"}
    if source:
        env["PYTHONPATH"] = str(source / "src")  # ahead of this venv's editable install
    return Target(name, [sys.executable, "-m", "tweetops", "serve"], env, "/health", "/predict", "/predict/batch",
                  {"X-API-Key": API_KEY}, _tweetops_body)


def targets(names: list[str], model: Path, work: Path, venv: Path, baseline: str | None = None) -> list[Target]:
    chosen = []
    if "tweetops" in names:
        chosen.append(_tweetops("tweetops", model, work))
    if baseline:
        chosen.append(_tweetops(f"tweetops@{baseline}", model, work, baseline_source(baseline, work)))
    if "mlserver" in names:
        port, folder = free_port(), work / "mlserver"
        (folder / "tweets").mkdir(parents=True)
        (folder / "settings.json").write_text(json.dumps({
            "host": "127.0.0.1", "http_port": port, "grpc_port": free_port(), "metrics_port": free_port(),
            "parallel_workers": 2}))
        (folder / "tweets" / "model-settings.json").write_text(json.dumps({
            "name": "tweets", "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": str(model / "model.joblib")}}))
        chosen.append(Target("mlserver", [str(ensure_mlserver_venv(venv)), "start", str(folder)], {"PORT": str(port)},
                             "/v2/health/ready", "/v2/models/tweets/infer", "/v2/models/tweets/infer", {},
                             _mlserver_body))
    if "naive" in names:
        port = free_port()
        chosen.append(Target("naive", [sys.executable, "-m", "uvicorn", "naive_app:app", "--app-dir",
                                       str(ROOT / "benchmarks"), "--host", "127.0.0.1", "--port", str(port),
                                       "--workers", "1", "--http", "h11", "--loop", "asyncio"],
                             {"PORT": str(port), "MODEL_DIR": str(model)}, "/docs", "/predict", "/predict/batch", {},
                             _tweetops_body))
    return chosen


def start(target: Target, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "wb")
    process = subprocess.Popen(target.command, env={**os.environ, **target.env}, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True, cwd=log_path.parent)
    url = f"http://127.0.0.1:{target.env['PORT']}{target.ready_path}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return process
        except OSError:
            time.sleep(0.3)
    stop(process)
    raise SystemExit(f"{target.name} did not become ready; its log ends:\n{log_path.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the server's own process group (it was started in a new session), then SIGKILL."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def _lua_string(text: str) -> str:
    level = 1
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def wrk_load(port: int, path: str, headers: dict, bodies: list[bytes], connections: int, duration: float,
             work: Path) -> dict:
    script = work / "bodies.lua"
    lines = ['wrk.method = "POST"', 'wrk.headers["Content-Type"] = "application/json"']
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    lines += ["local bodies = {", *(_lua_string(b.decode()) + "," for b in bodies), "}", "local i = 0",
              "request = function()", "  i = i % #bodies + 1", "  return wrk.format(nil, nil, nil, bodies[i])", "end"]
    script.write_text("\n".join(lines) + "\n")
    command = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{int(duration)}s", "--latency",
               "--timeout", "10s", "-s", str(script), f"http://127.0.0.1:{port}{path}"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60).stdout
    units = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not (p99 and rps):
        raise SystemExit(f"could not read wrk's output:\n{out}")
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return {"rps": float(rps.group(1)), "p99_ms": float(p99.group(1)) * units[p99.group(2)], "errors": errors}


def python_load(port: int, path: str, headers: dict, bodies: list[bytes], connections: int, duration: float,
                work: Path) -> dict:
    """A bounded keep-alive client: `connections` threads until the duration or MAX_REQUESTS, whichever first."""
    latencies, errors, lock = [], [0], threading.Lock()
    deadline = time.perf_counter() + duration
    headers = {"Content-Type": "application/json", **headers}

    def worker(offset: int) -> None:
        connection, mine, i = http.client.HTTPConnection("127.0.0.1", port, timeout=10), [], offset
        while time.perf_counter() < deadline and len(latencies) + len(mine) < MAX_REQUESTS:
            began = time.perf_counter()
            connection.request("POST", path, bodies[i % len(bodies)], headers)
            answer = connection.getresponse()
            answer.read()
            mine.append(time.perf_counter() - began)
            if answer.status != 200:
                with lock:
                    errors[0] += 1
            i += connections
        with lock:
            latencies.extend(mine)
        connection.close()

    began = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {"rps": len(latencies) / elapsed, "p99_ms": latencies[int(0.99 * (len(latencies) - 1))] * 1e3,
            "errors": errors[0]}


def measure(chosen: list[Target], args, bodies: dict, work: Path) -> dict[str, list[dict]]:
    """Every target up at once and measured in turn, run after run: a change in the machine's background
    load then falls on all of them alike, which keeps their ratios honest on shared cores."""
    load = wrk_load if args.client == "wrk" else python_load
    processes, rss, runs = {}, {}, {t.name: [] for t in chosen}
    try:
        for target in chosen:
            print(f"{target.name} ...", flush=True)
            processes[target.name] = start(target, work / f"{target.name}.log")
            singles, batches = bodies[target.name]
            for path, some in ((target.single_path, singles), (target.batch_path, batches)):
                load(int(target.env["PORT"]), path, target.headers, some, args.connections, 2, work)
                wait_idle(processes[target.name].pid)
            rss[target.name] = PeakRss(processes[target.name].pid).__enter__()
        for _ in range(args.runs):
            for target in chosen:
                port, (singles, batches) = int(target.env["PORT"]), bodies[target.name]
                one = load(port, target.single_path, target.headers, singles, args.connections, args.duration, work)
                wait_idle(processes[target.name].pid)  # requests the load left queued are not the next one's
                many = load(port, target.batch_path, target.headers, batches, args.connections, args.duration, work)
                wait_idle(processes[target.name].pid)
                if one["errors"] or many["errors"]:
                    raise SystemExit(f"{target.name} answered with errors ({one['errors']}, {many['errors']}); "
                                     f"see {work / (target.name + '.log')}")
                runs[target.name].append({"single_rps": one["rps"], "single_p99_ms": one["p99_ms"],
                                          "batch_texts_per_second": many["rps"] * BATCH})
                print(f"  {target.name}: " + ", ".join(f"{k} {v:,.1f}" for k, v in runs[target.name][-1].items()),
                      flush=True)
        for target in chosen:
            if target.name.startswith("tweetops"):
                print(f"  {target.name} history holds {recorded(int(target.env['PORT']))} predictions", flush=True)
    finally:
        for name, process in processes.items():
            if name in rss:
                rss[name].__exit__(None, None, None)
            stop(process)
    for name, target_runs in runs.items():
        for run in target_runs:
            run["peak_rss_mb"] = rss[name].peak_mb
    return runs


def recorded(port: int) -> int:
    """How many predictions the API recorded: proof the benchmark ran with history on."""
    time.sleep(2)  # the history writer flushes about every half second
    request = urllib.request.Request(f"http://127.0.0.1:{port}/predictions?limit=1", headers={"X-API-Key": API_KEY})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)["total"]


def _floor_worker(model: str, texts: list[str], batch: int, duration: float, barrier, results) -> None:
    from tweetops.serving.inference import load_predictor

    predictor = load_predictor(model)
    predictor.predict_proba(texts[:batch])
    barrier.wait()
    done, i, began = 0, 0, time.perf_counter()
    while time.perf_counter() - began < duration:
        chunk = texts[i:i + batch]
        predictor.predict_proba(chunk)
        done, i = done + len(chunk), (i + batch) % (len(texts) - batch)
    results.put(done / (time.perf_counter() - began))


def floor(model: Path, texts: list[str], batch: int, duration: float, processes: int = 2) -> float:
    """Texts/s of predict_proba alone, `processes` processes side by side, in batches of `batch`."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(processes), context.Queue()
    workers = [context.Process(target=_floor_worker, args=(str(model), texts, batch, duration, barrier, results))
               for _ in range(processes)]
    for worker in workers:
        worker.start()
    total = sum(results.get(timeout=duration + 300) for _ in workers)
    for worker in workers:
        worker.join()
    return total


def render(result: dict) -> str:
    f = result["floor"]
    rows = ["| server | single req/s (c=8) | p99 ms (c=8) | batch-100 texts/s (c=8) | batch vs floor | peak RSS MB |",
            "|---|---|---|---|---|---|"]
    for name, m in result["servers"].items():
        rows.append(f"| {name} | {m['single_rps']:,.0f} | {m['single_p99_ms']:.1f} | "
                    f"{m['batch_texts_per_second']:,.0f} | {m['batch_vs_floor']:.2f} | {m['peak_rss_mb']:,.0f} |")
    rows.append(f"| floor: predict_proba, 2 processes | {f['single_texts_per_second']:,.0f} | | "
                f"{f['batch_texts_per_second']:,.0f} | 1.00 | |")
    return "\n".join([
        "# Serving: tweetops vs MLServer vs a naive FastAPI app (same bundle, 127.0.0.1)", "", *rows, "",
        f"Median of {result['runs']} runs of {result['duration']} s each, load from {result['client']}, "
        f"{result['machine']['cpus']} CPUs, {result['machine']['when']}. tweetops: 2 workers, API key auth and "
        "history recording on. MLServer 1.7.1: 2 parallel workers. naive: 1 uvicorn worker (h11, asyncio), "
        "pandas per request. The load generator shares the machine's cores.", "",
        "Ratios: " + ", ".join(f"{k} {v:.2f}" for k, v in result["ratios"].items()), "",
        f"Command: `{result['command']}`", ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", nargs="+", default=["tweetops", "mlserver", "naive"],
                        choices=["tweetops", "mlserver", "naive"])
    parser.add_argument("--duration", type=int, default=10, help="whole seconds per load (default 10)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--model", default=str(ROOT / "models" / "champion"))
    parser.add_argument("--mlserver-venv", default=str(MLSERVER_VENV))
    parser.add_argument("--baseline", metavar="REF", help="also serve the commit REF, in the same run")
    parser.add_argument("--name", default="serving", help="results file name (e.g. serving-encoder for that family)")
    args = parser.parse_args()
    if args.client == "auto":
        args.client = "wrk" if shutil.which("wrk") else "python"
        if args.client == "python":
            print("wrk is missing (`make bench-deps` installs it); using the bounded Python client, which competes "
                  "with the servers for the CPU.", flush=True)
    model = Path(args.model).resolve()
    texts = [t for t in resampled_tweets(20_000, seed=1)["text"] if len(t) <= 1000]
    result = {"servers": {}, "runs": args.runs, "duration": args.duration, "client": args.client,
              "connections": args.connections, "machine": machine(),
              "command": " ".join(["python benchmarks/serving.py", *sys.argv[1:]])}
    with tempfile.TemporaryDirectory(prefix="tweetops-bench-serving-") as folder:
        work = Path(folder)
        chosen = targets(args.targets, model, work, Path(args.mlserver_venv), args.baseline)
        bodies = {t.name: ([t.body([x], True) for x in texts[:1000]],
                           [t.body(texts[i:i + BATCH], False) for i in range(0, 50 * BATCH, BATCH)]) for t in chosen}
        for name, runs in measure(chosen, args, bodies, work).items():
            result["servers"][name] = median_run(runs)
    if args.baseline:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], check=True)  # its folder is gone
    print("floor ...", flush=True)
    floors = [{"single_texts_per_second": floor(model, texts, 1, args.duration),
               "batch_texts_per_second": floor(model, texts, BATCH, args.duration)} for _ in range(args.runs)]
    result["floor"] = median_run(floors)
    for m in result["servers"].values():
        m["batch_vs_floor"] = m["batch_texts_per_second"] / result["floor"]["batch_texts_per_second"]
        m["single_vs_floor"] = m["single_rps"] / result["floor"]["single_texts_per_second"]
    servers = result["servers"]
    result["ratios"] = {f"{name} batch/floor": m["batch_vs_floor"] for name, m in servers.items()}
    for other in ("mlserver", "naive"):
        if "tweetops" in servers and other in servers:
            result["ratios"][f"tweetops/{other} single req/s"] = servers["tweetops"]["single_rps"] / servers[other][
                "single_rps"]
            result["ratios"][f"tweetops/{other} batch texts/s"] = (servers["tweetops"]["batch_texts_per_second"]
                                                                   / servers[other]["batch_texts_per_second"])
    if args.baseline and "tweetops" in servers:
        now, before = servers["tweetops"], servers[f"tweetops@{args.baseline}"]
        result["ratios"][f"tweetops/tweetops@{args.baseline} single req/s"] = now["single_rps"] / before["single_rps"]
        result["ratios"][f"tweetops/tweetops@{args.baseline} p99"] = now["single_p99_ms"] / before["single_p99_ms"]
    name = f"{args.name}-vs-{re.sub(r'[^A-Za-z0-9.]+', '-', args.baseline)}" if args.baseline else args.name
    json_path, md_path = write_results(name, result, render(result))
    print(render(result))
    print(f"written: {json_path}, {md_path}")


if __name__ == "__main__":
    main()
