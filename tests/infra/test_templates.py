"""The CloudFormation templates in infra/ and scripts/deploy_plan.sh, checked offline.

cfn-lint validates every template against the resource schemas; the rest reads the templates
(cfn-lint's own YAML loader understands !Ref, !Sub, !GetAtt, ...) and the printed deploy plan.
"""
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
TEMPLATES = sorted(INFRA.glob("*.yaml"))
CFN_LINT = Path(sys.executable).parent / "cfn-lint"
PLAN = ROOT / "scripts" / "deploy_plan.sh"
PLAN_ENV = {"RUN_ID": "13579246810", "AWS_REGION": "eu-west-1", "AWS_ACCOUNT_ID": "123456789012",
            "ECR_REPOSITORY": "tweetops-images", "GITHUB_REPOSITORY": "acme/tweetops",
            "SUBNET_IDS": "subnet-0a,subnet-0b", "SECURITY_GROUP_IDS": "sg-0c"}


def load(name: str) -> dict:
    return cfn_yaml.load(str(INFRA / f"{name}.yaml"))


def resources(template: dict, type_name: str) -> dict:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == type_name}


def intrinsics(node, function: str):
    """Every argument of `function` (e.g. "Fn::ImportValue") anywhere under node."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == function:
                yield value
            yield from intrinsics(value, function)
    elif isinstance(node, list):
        for value in node:
            yield from intrinsics(value, function)


def policy_statements(role: dict) -> list:
    return [statement for policy in role["Properties"]["Policies"]
            for statement in policy["PolicyDocument"]["Statement"]]


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


@pytest.fixture(scope="module")
def plan() -> dict:
    """The deploy plan printed for PLAN_ENV, with a fake `aws` first on PATH to prove it is never run."""
    return run_plan(PLAN_ENV)


def run_plan(values: dict, tmp: Path | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in PLAN_ENV}
    env.update(values)
    result = subprocess.run([str(PLAN)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=20, check=True)
    commands = {}
    for line in result.stdout.splitlines():
        if not line.startswith("aws "):
            continue
        words = shlex.split(line)
        assert words[:3] == ["aws", "cloudformation", "deploy"], line
        options, key = {}, None
        for word in words[3:]:
            if word.startswith("--"):
                key = word
                options[key] = []
            else:
                options[key].append(word)
        template = options["--template-file"][0]
        overrides = dict(pair.split("=", 1) for pair in options.get("--parameter-overrides", []))
        commands[template] = {"options": options, "overrides": overrides, "order": len(commands)}
    return {"commands": commands, "stdout": result.stdout, "stderr": result.stderr}


def test_there_is_a_template_per_stack():
    assert {t.stem for t in TEMPLATES} == {"ecr", "github-oidc", "data-lake", "batch", "sagemaker"}


def test_cfn_lint_finds_nothing_in_any_template():
    assert CFN_LINT.exists(), f"{CFN_LINT} missing: install requirements-dev.txt (cfn-lint)"
    result = subprocess.run([str(CFN_LINT), "--format", "json", "--", *map(str, TEMPLATES)],
                            capture_output=True, text=True, timeout=60)
    matches = json.loads(result.stdout or "[]")
    errors = [m for m in matches if m["Level"] == "Error"]
    assert not errors, json.dumps(errors, indent=1)
    assert not matches, json.dumps(matches, indent=1)  # warnings too: each one so far was a real defect
    assert result.returncode == 0, result.stderr


def test_batch_job_runs_batch_predict_on_fargate_with_the_image():
    template = load("batch")
    (job,) = resources(template, "AWS::Batch::JobDefinition").values()
    props = job["Properties"]
    command = props["ContainerProperties"]["Command"]
    assert command[0] == "batch-predict"
    assert command == ["batch-predict", "--input", "Ref::input", "--output", "Ref::output"]
    assert set(props["Parameters"]) == {"input", "output"}
    assert props["PlatformCapabilities"] == ["FARGATE"]
    assert props["ContainerProperties"]["Image"] == {"Ref": "ImageUri"}
    env = {e["Name"]: e["Value"] for e in props["ContainerProperties"]["Environment"]}
    assert "AWS_BATCH_JOB_ARRAY_SIZE" in env  # Batch sets only the index; the app needs both
    (ce,) = resources(template, "AWS::Batch::ComputeEnvironment").values()
    assert ce["Properties"]["ComputeResources"]["Type"] == "FARGATE"
    assert resources(template, "AWS::Logs::LogGroup")


def test_batch_job_role_reads_only_raw_and_writes_only_predictions():
    (role,) = [r for name, r in resources(load("batch"), "AWS::IAM::Role").items() if name == "JobRole"]
    s3 = {}
    for statement in policy_statements(role):
        for action in as_list(statement["Action"]):
            assert "*" not in action, statement
            if action.startswith("s3:") and action != "s3:ListBucket":
                resource = json.dumps(statement["Resource"])
                s3.setdefault(action, set()).update(re.findall(r"/(\w+)/\*", resource))
    assert s3 == {"s3:GetObject": {"raw"}, "s3:PutObject": {"predictions"}, "s3:AbortMultipartUpload": {"predictions"}}


def test_ecr_scans_on_push_encrypts_and_expires_old_images():
    (repo,) = resources(load("ecr"), "AWS::ECR::Repository").values()
    props = repo["Properties"]
    assert props["ImageScanningConfiguration"]["ScanOnPush"] is True
    assert props["EncryptionConfiguration"]["EncryptionType"] == "KMS"
    assert props["ImageTagMutability"] == {"Ref": "ImageTagMutability"}
    # Every tag is immutable except `champion`, which the retrain workflow moves to each promoted image.
    assert load("ecr")["Parameters"]["ImageTagMutability"]["Default"] == "IMMUTABLE_WITH_EXCLUSION"
    assert props["ImageTagMutabilityExclusionFilters"]["Fn::If"][1] == [
        {"ImageTagMutabilityExclusionFilterType": "WILDCARD", "ImageTagMutabilityExclusionFilterValue": "champion"}]
    text = props["LifecyclePolicy"]["LifecyclePolicyText"]["Fn::Sub"].replace("${KeepImages}", "30")
    rules = [r["selection"] for r in sorted(json.loads(text)["rules"], key=lambda r: r["rulePriority"])]
    assert rules[0] == {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 7}
    # The champion rule comes first: an image a higher-priority rule matches is never expired by a lower one.
    assert rules[1]["tagPatternList"] == ["champion"] and rules[1]["countNumber"] == 1
    assert rules[2]["tagPatternList"] == ["*"] and rules[2]["countNumber"] == 30


def test_oidc_role_is_trusted_only_by_this_repository():
    template = load("github-oidc")
    assert "Default" not in template["Parameters"]["GitHubRepository"]  # must be given, never guessed
    (provider,) = resources(template, "AWS::IAM::OIDCProvider").values()
    assert provider["Properties"]["Url"] == "https://token.actions.githubusercontent.com"
    assert provider["Properties"]["ClientIdList"] == ["sts.amazonaws.com"]
    (role,) = resources(template, "AWS::IAM::Role").values()
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Effect"] == "Allow" and trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert set(trust["Principal"]) == {"Federated"}
    assert trust["Condition"] == {
        "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"},
        "StringLike": {"token.actions.githubusercontent.com:sub": {"Fn::Sub": "repo:${GitHubRepository}:*"}},
    }


def test_oidc_role_may_push_to_one_repository_and_upload_artifacts_only():
    (role,) = resources(load("github-oidc"), "AWS::IAM::Role").values()
    actions = {}
    for statement in policy_statements(role):
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            assert "*" not in action, statement
            actions[action] = json.dumps(statement["Resource"])
    assert actions.pop("ecr:GetAuthorizationToken") == '"*"'  # the one action without resource-level permissions
    ecr = {a: r for a, r in actions.items() if a.startswith("ecr:")}
    assert ecr and all(r.endswith(':repository/${EcrRepository}"}') for r in ecr.values()), ecr
    assert "ecr:PutImage" in ecr
    s3 = {a: r for a, r in actions.items() if a.startswith("s3:")}
    assert set(s3) == {"s3:PutObject", "s3:AbortMultipartUpload"}
    assert all("/artifacts/*" in r for r in s3.values()), s3
    assert set(actions) - set(ecr) - set(s3) <= {"kms:GenerateDataKey", "kms:Decrypt"}


def test_data_lake_is_private_encrypted_versioned_and_tls_only():
    template = load("data-lake")
    (bucket,) = resources(template, "AWS::S3::Bucket").values()
    props = bucket["Properties"]
    (sse,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert props["VersioningConfiguration"]["Status"] == "Enabled"
    assert all(props["PublicAccessBlockConfiguration"].values()) and len(props["PublicAccessBlockConfiguration"]) == 4
    assert props["LifecycleConfiguration"]["Rules"]
    (policy,) = resources(template, "AWS::S3::BucketPolicy").values()
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
               for s in policy["Properties"]["PolicyDocument"]["Statement"])
    outputs = json.dumps(template["Outputs"])
    for prefix in ("raw/", "processed/", "predictions/", "artifacts/"):
        assert f"/{prefix}" in outputs, prefix


def test_every_cross_stack_import_is_exported_by_the_data_lake():
    exports = {o["Export"]["Name"]["Fn::Sub"].replace("${AWS::StackName}", "${DataLakeStack}")
               for o in load("data-lake")["Outputs"].values() if "Export" in o}
    for path in TEMPLATES:
        template = cfn_yaml.load(str(path))
        for imported in intrinsics(template, "Fn::ImportValue"):
            assert imported["Fn::Sub"] in exports, (path.name, imported)
            assert "DataLakeStack" in template["Parameters"], path.name


def test_every_template_with_an_image_takes_image_uri_and_run_id():
    images = {}
    for path in TEMPLATES:
        template = cfn_yaml.load(str(path))
        found = [props["ContainerProperties"]["Image"] for props in
                 (r["Properties"] for r in resources(template, "AWS::Batch::JobDefinition").values())]
        found += [r["Properties"]["PrimaryContainer"]["Image"]
                  for r in resources(template, "AWS::SageMaker::Model").values()]
        if found:
            images[path.stem] = found
            assert {"ImageUri", "RunId"} <= set(template["Parameters"]), path.name
            assert all(image == {"Ref": "ImageUri"} for image in found), (path.name, found)
    assert set(images) == {"batch", "sagemaker"}


def test_sagemaker_serves_the_image_on_ml_c5_large_with_model_data_optional():
    template = load("sagemaker")
    (model,) = resources(template, "AWS::SageMaker::Model").values()
    container = model["Properties"]["PrimaryContainer"]
    assert container["ModelDataUrl"] == {"Fn::If": ["HasModelData", {"Ref": "ModelDataUrl"}, {"Ref": "AWS::NoValue"}]}
    assert template["Parameters"]["ModelDataUrl"]["Default"] == ""
    assert "TWEETOPS_API_KEYS" not in container["Environment"]  # SageMaker does not forward X-API-Key
    (config,) = resources(template, "AWS::SageMaker::EndpointConfig").values()
    assert template["Parameters"]["InstanceType"]["Default"] == "ml.c5.large"
    assert config["Properties"]["ProductionVariants"][0]["InstanceType"] == {"Ref": "InstanceType"}
    assert resources(template, "AWS::SageMaker::Endpoint")


def test_deploy_plan_deploys_every_template_once_in_dependency_order(plan):
    commands = plan["commands"]
    assert set(commands) == {f"infra/{t.name}" for t in TEMPLATES}
    for template, command in commands.items():
        stem = Path(template).stem
        assert command["options"]["--stack-name"] == [f"tweetops-{stem}"]
        assert command["options"]["--capabilities"] == ["CAPABILITY_NAMED_IAM"]
        assert command["options"]["--region"] == [PLAN_ENV["AWS_REGION"]]
    order = {Path(t).stem: c["order"] for t, c in commands.items()}
    assert order["data-lake"] < min(order["github-oidc"], order["batch"], order["sagemaker"])
    assert order["ecr"] < min(order["github-oidc"], order["batch"], order["sagemaker"])


def test_deploy_plan_uses_the_parameter_names_the_templates_declare(plan):
    for template, command in plan["commands"].items():
        parameters = cfn_yaml.load(str(ROOT / template))["Parameters"]
        overrides = command["overrides"]
        assert set(overrides) <= set(parameters), (template, set(overrides) - set(parameters))
        required = {name for name, p in parameters.items() if "Default" not in p}
        assert required <= set(overrides), (template, required - set(overrides))
        if "DataLakeStack" in overrides:
            assert overrides["DataLakeStack"] == "tweetops-data-lake"


def test_deploy_plan_image_uri_is_what_the_retrain_workflow_pushes(plan):
    # The workflow pushes $REGISTRY/$ECR_REPOSITORY:$RUN_ID with RUN_ID = github.run_id.
    workflow = (ROOT / ".github" / "workflows" / "manual_retrain_pipeline.yml").read_text()
    assert 'docker push "$REGISTRY/$ECR_REPOSITORY:$tag"' in workflow and "RUN_ID: ${{ github.run_id }}" in workflow
    expected = "{AWS_ACCOUNT_ID}.dkr.ecr.{AWS_REGION}.amazonaws.com/{ECR_REPOSITORY}:{RUN_ID}".format(**PLAN_ENV)
    for stem in ("batch", "sagemaker"):
        overrides = plan["commands"][f"infra/{stem}.yaml"]["overrides"]
        assert overrides["ImageUri"] == expected
        assert overrides["RunId"] == PLAN_ENV["RUN_ID"]
        assert overrides["EcrRepository"] == PLAN_ENV["ECR_REPOSITORY"]
    assert plan["commands"]["infra/ecr.yaml"]["overrides"] == {"EcrRepository": PLAN_ENV["ECR_REPOSITORY"]}
    assert plan["commands"]["infra/github-oidc.yaml"]["overrides"]["GitHubRepository"] == "acme/tweetops"


def test_deploy_plan_only_prints_and_names_what_is_missing(tmp_path):
    marker = tmp_path / "aws-was-called"
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "aws").write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    (fake / "aws").chmod(0o755)
    plan = run_plan({"PATH": f"{fake}:{os.environ['PATH']}"})
    assert not marker.exists()
    assert len(plan["commands"]) == len(TEMPLATES)
    assert "<run_id>" in plan["commands"]["infra/batch.yaml"]["overrides"]["ImageUri"]
    assert "RUN_ID" in plan["stderr"] and "AWS_ACCOUNT_ID" in plan["stderr"]
