"""Run a GitHub Actions workflow's steps locally, as the runner would, so a broken step fails a test.

`run:` steps execute for real with bash (GitHub's `bash -e {0}` plus --noprofile --norc -o pipefail),
in order, with GITHUB_* variables, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, the workflow/job/step `env:`
and `${{ }}` expressions evaluated. `uses:` steps are checked for their required inputs and mapped
to a local equivalent where one exists. Only the expression forms these workflows use are supported;
anything else is an error, so the runner never silently guesses.

Trivy cannot run here (neither its binary nor its vulnerability database can be downloaded), so its action
is a stand-in that writes the JSON report Trivy would write for the image, holding the findings the test
gives it (none by default); what the workflow does with that report (the gate) runs for real.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<op>==|!=|&&|\|\||!|\(|\))|(?P<name>[A-Za-z_][\w.\-]*))")


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        match = TOKEN.match(text, pos)
        if not match or match.end() == pos:
            if text[pos:].strip():
                raise ValueError(f"unsupported expression syntax at {text[pos:]!r}")
            break
        kind = match.lastgroup
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class Expression:
    """A tiny evaluator for ${{ }}: context lookups, 'strings', ==, !=, &&, ||, !, and status functions."""

    def __init__(self, text: str, context: dict, status: str):
        self.tokens, self.i, self.context, self.status = _tokens(text), 0, context, status

    def value(self):
        result = self._or()
        if self.i != len(self.tokens):
            raise ValueError(f"unexpected {self.tokens[self.i][1]!r}")
        return result

    def _peek(self):
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def _or(self):
        left = self._and()
        while self._peek() == "||":
            self.i += 1
            right = self._and()
            left = left or right
        return left

    def _and(self):
        left = self._cmp()
        while self._peek() == "&&":
            self.i += 1
            right = self._cmp()
            left = left and right
        return left

    def _cmp(self):
        left = self._unary()
        while self._peek() in ("==", "!="):
            op = self.tokens[self.i][1]
            self.i += 1
            right = self._unary()
            left = (str(left).lower() == str(right).lower()) == (op == "==")  # GitHub compares case-insensitively
        return left

    def _unary(self):
        if self._peek() == "!":
            self.i += 1
            return not self._unary()
        if self._peek() == "(":
            self.i += 1
            inner = self._or()
            self.i += 1  # ")"
            return inner
        kind, text = self.tokens[self.i]
        self.i += 1
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if self._peek() == "(":  # a status function: always() success() failure() cancelled()
            self.i += 2
            return {"always": True, "success": self.status == "success", "failure": self.status == "failure",
                    "cancelled": False}[text]
        if text in ("true", "false"):
            return text == "true"
        node = self.context
        for part in text.split("."):
            node = node.get(part, "") if isinstance(node, dict) else ""
        return node


def evaluate(text, context: dict, status: str = "success") -> str:
    """A string with every ${{ }} replaced by its value (missing values are '' as on GitHub)."""
    if not isinstance(text, str):
        return text
    return EXPR.sub(lambda m: _as_text(Expression(m.group(1), context, status).value()), text)


def _as_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def condition(text, context: dict, status: str) -> bool:
    if text is None:
        return status == "success"
    inner = EXPR.fullmatch(text.strip())
    text = inner.group(1) if inner else text
    ok = bool(Expression(text, context, status).value())
    # Without a status function GitHub reads `if: X` as `if: success() && X`.
    if not re.search(r"\b(always|success|failure|cancelled)\(", text):
        ok = ok and status == "success"
    return ok


# Actions the workflows use: their required inputs, and what stands in for them here.
KNOWN_ACTIONS = {
    "actions/checkout": {"required": ()},
    "actions/setup-python": {"required": ("python-version",)},
    "actions/upload-artifact": {"required": ("path",)},
    "aws-actions/configure-aws-credentials": {"required": ("aws-region",)},
    "aws-actions/amazon-ecr-login": {"required": ()},
    "aquasecurity/trivy-action": {"required": ("image-ref", "format", "output")},
}


@dataclass
class StepResult:
    name: str
    status: str  # success, failure, skipped
    detail: str = ""
    outputs: dict = field(default_factory=dict)


def _read_outputs(path: Path) -> dict:
    """key=value lines and key<<DELIMITER blocks, as GitHub reads GITHUB_OUTPUT."""
    outputs, lines = {}, path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, i + 1)
            outputs[key] = "\n".join(lines[i + 1:end])
            i = end + 1
            continue
        if "=" in line:
            key, value = line.split("=", 1)
            outputs[key] = value
        i += 1
    return outputs


class LocalAction:
    """What a `uses:` step does here. Anything that would need the cloud must never be reached."""

    def __init__(self, workdir: Path, trivy_findings: list | None = None):
        self.workdir, self.trivy_findings = workdir, trivy_findings or []

    def run(self, action: str, inputs: dict) -> str:
        name = action.split("@", 1)[0]
        if "@" not in action or len(action.split("@", 1)[1]) != 40:
            raise AssertionError(f"{action} is not pinned to a full commit SHA")
        spec = KNOWN_ACTIONS.get(name)
        if spec is None:
            raise AssertionError(f"{name} has no local equivalent; add it to KNOWN_ACTIONS with its required inputs")
        missing = [key for key in spec["required"] if not inputs.get(key)]
        if missing:
            raise AssertionError(f"{name} is missing required input(s): {', '.join(missing)}")
        if name == "actions/setup-python":
            version = f"{sys.version_info.major}.{sys.version_info.minor}"
            if str(inputs["python-version"]) != version:
                raise AssertionError(f"the workflow asks for Python {inputs['python-version']}; tests run {version}")
            return f"Python {version} (this interpreter)"
        if name == "actions/upload-artifact":
            return self._artifact(inputs)
        if name == "aquasecurity/trivy-action":
            return self._trivy(inputs)
        if name.startswith("aws-actions/"):
            raise AssertionError(f"{name} ran, but this repository is not configured for AWS here")
        return "the scratch copy is the checkout"

    def _trivy(self, inputs: dict) -> str:
        """Trivy's JSON report (schema 2) for the image, with the given findings as its Python-package result."""
        if inputs["format"] != "json" or str(inputs.get("exit-code", "0")) != "0":
            raise AssertionError("the gate reads Trivy's JSON report: format must be json and exit-code 0")
        results = [{"Target": "Python", "Class": "lang-pkgs", "Type": "python-pkg",
                    "Vulnerabilities": self.trivy_findings}] if self.trivy_findings else []
        report = {"SchemaVersion": 2, "ArtifactName": inputs["image-ref"], "ArtifactType": "container_image",
                  "Results": results}
        output = self.workdir / inputs["output"]
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report), encoding="utf-8")
        return f"stand-in Trivy report for {inputs['image-ref']}: {len(self.trivy_findings)} finding(s)"

    def _artifact(self, inputs: dict) -> str:
        paths = [p.strip() for p in str(inputs["path"]).splitlines() if p.strip()]
        for raw in paths:
            path = self.workdir / raw
            if not path.exists():
                raise AssertionError(f"upload-artifact path {raw} does not exist")
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
            if not files or not any(p.stat().st_size for p in files):
                raise AssertionError(f"upload-artifact path {raw} is empty")
        return f"{len(paths)} path(s) present and non-empty"


def load_workflow(path: Path) -> dict:
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as True
    return workflow


class WorkflowRun:
    def __init__(self, workflow_path: Path, workdir: Path, *, inputs: dict | None = None, run_id: str = "1",
                 sha: str = "0" * 40, variables: dict | None = None, skip: dict | None = None,
                 env: dict | None = None, timeout: float = 600, trivy_findings: list | None = None):
        self.workflow = load_workflow(workflow_path)
        self.workdir, self.run_id, self.sha, self.timeout = Path(workdir), run_id, sha, timeout
        self.variables, self.skip, self.extra_env = variables or {}, skip or {}, env or {}
        self.trivy_findings = trivy_findings
        self.inputs = self._inputs(inputs or {})
        self.results: list[StepResult] = []
        self.summary = ""

    def _inputs(self, given: dict) -> dict:
        declared = ((self.workflow["on"] or {}).get("workflow_dispatch") or {}).get("inputs") or {}
        unknown = set(given) - set(declared)
        if unknown:
            raise AssertionError(f"inputs not declared by the workflow: {sorted(unknown)}")
        values = {}
        for name, spec in declared.items():
            value = given.get(name, spec.get("default", ""))
            if spec.get("required") and value in ("", None):
                raise AssertionError(f"input {name} is required")
            if spec.get("type") == "choice" and value not in spec.get("options", []):
                raise AssertionError(f"input {name}={value!r} is not one of {spec['options']}")
            values[name] = str(value)
        return values

    def _context(self, steps: dict) -> dict:
        github = {"run_id": self.run_id, "sha": self.sha, "ref": "refs/heads/main", "workflow": self.workflow["name"],
                  "repository": "local/tweetops", "event_name": "workflow_dispatch", "server_url": "https://github.com"}
        return {"github": github, "inputs": self.inputs, "vars": self.variables, "steps": steps, "secrets": {},
                "runner": {"os": "Linux", "temp": tempfile.gettempdir()}}

    def run(self, job: str | None = None) -> list[StepResult]:
        jobs = self.workflow["jobs"]
        job = job or next(iter(jobs))
        spec = jobs[job]
        steps_ctx: dict = {}
        status = "success"
        scratch = Path(tempfile.mkdtemp(prefix="gh-runner-"))
        base_env = {**os.environ, **self.extra_env, "CI": "true", "GITHUB_ACTIONS": "true",
                    "GITHUB_RUN_ID": self.run_id, "GITHUB_SHA": self.sha, "GITHUB_WORKSPACE": str(self.workdir),
                    "GITHUB_REF": "refs/heads/main", "GITHUB_EVENT_NAME": "workflow_dispatch",
                    "GITHUB_REPOSITORY": "local/tweetops", "GITHUB_WORKFLOW": self.workflow["name"],
                    "RUNNER_TEMP": str(scratch)}
        try:
            self._run_steps(spec, steps_ctx, status, scratch, base_env)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)  # step scripts and output files: read already
        return self.results

    def _run_steps(self, spec, steps_ctx, status, scratch, base_env) -> None:
        for index, step in enumerate(spec["steps"]):
            context = self._context(steps_ctx)
            name = step.get("name") or step.get("uses") or f"step {index}"
            env = dict(base_env)
            for layer in (self.workflow.get("env"), spec.get("env"), step.get("env")):
                env.update({k: evaluate(str(v), context, status) for k, v in (layer or {}).items()})
            context["env"] = env
            if not condition(step.get("if"), context, status):
                self.results.append(StepResult(name, "skipped", "its `if:` is false"))
                continue
            if name in self.skip:
                self.results.append(StepResult(name, "skipped", self.skip[name]))
                continue
            result = self._step(step, name, env, context, scratch, index, status)
            self.results.append(result)
            if step.get("id"):
                steps_ctx[step["id"]] = {"outputs": result.outputs, "outcome": result.status,
                                         "conclusion": result.status}
            if result.status == "failure":
                status = "failure"

    def _step(self, step, name, env, context, scratch: Path, index: int, status: str) -> StepResult:
        if "uses" in step:
            inputs = {k: evaluate(str(v), context, status) for k, v in (step.get("with") or {}).items()}
            try:
                action = LocalAction(self.workdir, self.trivy_findings)
                return StepResult(name, "success", action.run(step["uses"], inputs))
            except AssertionError as exc:
                return StepResult(name, "failure", str(exc))
        output, summary = scratch / f"output-{index}", scratch / f"summary-{index}"
        output.touch()
        summary.touch()
        script = scratch / f"step-{index}.sh"
        script.write_text(evaluate(step["run"], context, status), encoding="utf-8")
        env = {**env, "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                              cwd=step.get("working-directory", self.workdir), env=env, capture_output=True,
                              text=True, timeout=self.timeout)
        self.summary += summary.read_text(encoding="utf-8")
        detail = (done.stdout[-2000:] + done.stderr[-3000:]).strip()
        return StepResult(name, "success" if done.returncode == 0 else "failure", detail, _read_outputs(output))

    def failed(self) -> list[StepResult]:
        return [r for r in self.results if r.status == "failure"]

    def report(self) -> str:
        return "\n".join(f"[{r.status}] {r.name}" + (f"\n    {r.detail[-1500:]}" if r.status == "failure" else "")
                         for r in self.results)
