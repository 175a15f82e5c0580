"""Scaling knobs, CloudWatch alarms and least privilege in infra/, read from the templates.

The alarms' thresholds and windows are compared with the Prometheus alerts they mirror
(monitoring/prometheus/rules/tweetops.rules.yml), and the default autoscaling target with the
serving benchmark it was derived from (benchmarks/results/serving*.md).
"""
import re

import pytest
import yaml

from cfnlint.decode import cfn_yaml

from tests.infra.test_templates import ROOT, TEMPLATES, as_list, load, resources

RULES = ROOT / "monitoring" / "prometheus" / "rules" / "tweetops.rules.yml"
NO_VALUE = {"Ref": "AWS::NoValue"}
# Actions IAM cannot scope to a resource, so "*" is their only possible Resource.
NO_RESOURCE_LEVEL = {"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"}


@pytest.fixture(scope="module")
def sagemaker() -> dict:
    return load("sagemaker")


@pytest.fixture(scope="module")
def alerts() -> dict:
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule}


def seconds(duration: str) -> int:
    value, unit = re.fullmatch(r"(\d+)([smh])", duration).groups()
    return int(value) * {"s": 1, "m": 60, "h": 3600}[unit]


def threshold(alert: dict) -> float:
    """The number an alert's expression compares against: `... > 0.1`."""
    return float(re.search(r">\s*([0-9.]+)\s*$", alert["expr"].strip()).group(1))


def variant_name(template: dict) -> str:
    (config,) = resources(template, "AWS::SageMaker::EndpointConfig").values()
    (variant,) = config["Properties"]["ProductionVariants"]
    return variant["VariantName"]


def alarm(template: dict, alert_name: str) -> dict:
    """The one alarm whose description names the Prometheus alert it mirrors."""
    (found,) = [a["Properties"] for a in resources(template, "AWS::CloudWatch::Alarm").values()
                if f"Prometheus {alert_name})" in a["Properties"]["AlarmDescription"]["Fn::Sub"]]
    return found


def endpoint_dimensions(template: dict) -> list:
    return [{"Name": "EndpointName", "Value": {"Fn::GetAtt": ["Endpoint", "EndpointName"]}},
            {"Name": "VariantName", "Value": variant_name(template)}]


# ---- SageMaker autoscaling ----

def test_scalable_target_is_the_endpoint_variant_between_min_and_max_instances(sagemaker):
    (endpoint,) = resources(sagemaker, "AWS::SageMaker::Endpoint")
    assert endpoint == "Endpoint"
    (target,) = resources(sagemaker, "AWS::ApplicationAutoScaling::ScalableTarget").values()
    props = target["Properties"]
    # ${Endpoint.EndpointName} is a GetAtt: the target is registered only after the endpoint exists.
    assert props["ResourceId"] == {"Fn::Sub": f"endpoint/${{Endpoint.EndpointName}}/variant/{variant_name(sagemaker)}"}
    assert props["ServiceNamespace"] == "sagemaker"
    assert props["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    assert props["MinCapacity"] == {"Ref": "MinInstances"} and props["MaxCapacity"] == {"Ref": "MaxInstances"}
    assert "RoleARN" not in props  # Application Auto Scaling's service-linked role
    parameters = sagemaker["Parameters"]
    assert (parameters["MinInstances"]["Default"], parameters["MaxInstances"]["Default"]) == (1, 4)
    assert parameters["MinInstances"]["MinValue"] == parameters["MaxInstances"]["MinValue"] == 1
    (config,) = resources(sagemaker, "AWS::SageMaker::EndpointConfig").values()
    assert config["Properties"]["ProductionVariants"][0]["InitialInstanceCount"] == {"Ref": "MinInstances"}


def evaluate(node, values: dict):
    """The value of a CloudFormation rule expression for the given parameter values (strings)."""
    if not isinstance(node, dict):
        return [evaluate(n, values) for n in node] if isinstance(node, list) else node
    ((function, args),) = node.items()
    if function == "Ref":
        return values[args]
    args = [evaluate(a, values) for a in args]
    return {"Fn::Not": lambda a: not a, "Fn::Or": lambda *a: any(a), "Fn::And": lambda *a: all(a),
            "Fn::Equals": lambda a, b: a == b, "Fn::Contains": lambda items, a: a in items}[function](*args)


def test_the_rules_refuse_min_instances_above_max_instances_and_nothing_else(sagemaker):
    parameters = sagemaker["Parameters"]
    low = max(parameters[p]["MinValue"] for p in ("MinInstances", "MaxInstances"))
    high = min(parameters[p]["MaxValue"] for p in ("MinInstances", "MaxInstances"))
    assertions = [a["Assert"] for rule in sagemaker["Rules"].values() for a in rule["Assertions"]]
    assert assertions
    for lo in range(low, high + 1):
        for hi in range(low, high + 1):
            values = {"MinInstances": str(lo), "MaxInstances": str(hi)}
            accepted = all(evaluate(a, values) for a in assertions)
            assert accepted == (lo <= hi), values


def measured_single_requests_per_second(family: str = "linear") -> list[int]:
    """The tweetops API's `single req/s (c=8)` in every serving benchmark result of a model family (not the
    floor's): serving-encoder*.md for the encoder family, the other serving*.md for the linear one."""
    found = []
    for path in sorted((ROOT / "benchmarks" / "results").glob("serving*.md")):
        if path.name.startswith("serving-encoder") != (family == "encoder"):
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            cells = [c.strip() for c in line.strip("|").split("|")]
            if cells[0] == "tweetops":
                found.append(int(cells[1].replace(",", "")))
    return found


def test_scaling_policy_tracks_invocations_per_instance_with_headroom_below_the_benchmark(sagemaker):
    (policy,) = resources(sagemaker, "AWS::ApplicationAutoScaling::ScalingPolicy").values()
    props = policy["Properties"]
    assert props["PolicyType"] == "TargetTrackingScaling"
    assert props["ScalingTargetId"] == {"Ref": "ScalableTarget"}
    config = props["TargetTrackingScalingPolicyConfiguration"]
    assert config["PredefinedMetricSpecification"] == {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}
    assert config["TargetValue"] == {"Ref": "TargetInvocationsPerInstance"}
    assert 0 < config["ScaleOutCooldown"] < config["ScaleInCooldown"]  # out fast, in slowly
    # The metric counts calls per instance per minute; the default is at most half the slowest measured run.
    measured = measured_single_requests_per_second()
    assert len(measured) >= 3, measured
    target = sagemaker["Parameters"]["TargetInvocationsPerInstance"]["Default"]
    assert 0 < target <= 0.5 * min(measured) * 60
    # The value the template's comment gives for the encoder family's bundles, against that family's runs.
    (quoted,) = re.findall(r"TargetInvocationsPerInstance=(\d+)", (ROOT / "infra" / "sagemaker.yaml").read_text())
    encoder = measured_single_requests_per_second("encoder")
    assert encoder and 0 < int(quoted) <= 0.5 * min(encoder) * 60


# ---- CloudWatch alarms mirroring the Prometheus alerts ----

def test_latency_alarm_is_p99_model_latency_above_the_prometheus_threshold(sagemaker, alerts):
    rule = alerts["TweetopsLatencyP99High"]
    props = alarm(sagemaker, "TweetopsLatencyP99High")
    assert (props["Namespace"], props["MetricName"]) == ("AWS/SageMaker", "ModelLatency")
    assert props["Dimensions"] == endpoint_dimensions(sagemaker)
    assert props["ExtendedStatistic"] == "p99" and "Statistic" not in props
    assert ":p99_" in rule["expr"]
    assert props["Threshold"] == threshold(rule) * 1_000_000  # seconds -> ModelLatency's microseconds
    assert props["Threshold"] == 100_000
    assert props["ComparisonOperator"] == "GreaterThanThreshold"
    assert props["EvaluationPeriods"] == props["DatapointsToAlarm"]
    assert props["Period"] * props["DatapointsToAlarm"] == seconds(rule["for"])


def test_error_alarm_is_the_5xx_share_of_invocations_above_the_prometheus_threshold(sagemaker, alerts):
    rule = alerts["TweetopsHighErrorRate"]
    props = alarm(sagemaker, "TweetopsHighErrorRate")
    metrics = {m["Id"]: m for m in props["Metrics"]}
    stats = {i: m["MetricStat"] for i, m in metrics.items() if "MetricStat" in m}
    assert {i: s["Metric"]["MetricName"] for i, s in stats.items()} == {
        "errors": "Invocation5XXErrors", "invocations": "Invocations"}
    assert all(s["Stat"] == "Sum" and s["Metric"]["Namespace"] == "AWS/SageMaker"
               and s["Metric"]["Dimensions"] == endpoint_dimensions(sagemaker) for s in stats.values())
    (result,) = [m for m in metrics.values() if m["ReturnData"]]
    assert result["Expression"] == "100 * FILL(errors, 0) / invocations"
    assert props["Threshold"] == threshold(rule) * 100  # a ratio -> percent
    assert props["Threshold"] == 5
    assert props["ComparisonOperator"] == "GreaterThanThreshold"
    (period,) = {s["Period"] for s in stats.values()}
    assert period * props["DatapointsToAlarm"] == seconds(rule["for"])


def test_no_invocations_alarm_fires_after_the_hour_the_prometheus_alert_waits(sagemaker, alerts):
    rule = alerts["TweetopsNoPredictions"]
    props = alarm(sagemaker, "TweetopsNoPredictions")
    assert (props["MetricName"], props["Statistic"]) == ("Invocations", "Sum")
    assert props["Dimensions"] == endpoint_dimensions(sagemaker)
    assert (props["ComparisonOperator"], props["Threshold"]) == ("LessThanThreshold", 1)
    assert props["TreatMissingData"] == "breaching"  # SageMaker publishes nothing without traffic
    # The rule: no increase over [30m], for 30m: an hour without a prediction.
    window = re.search(r"increase\(tweetops_predictions_total\[(\w+)\]\)", rule["expr"]).group(1)
    assert props["Period"] * props["EvaluationPeriods"] == seconds(window) + seconds(rule["for"]) == 3600


def test_alarms_notify_the_topic_only_when_one_is_given(sagemaker, alerts):
    assert sagemaker["Parameters"]["AlarmTopicArn"]["Default"] == ""
    assert sagemaker["Conditions"]["HasAlarmTopic"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}
    alarms = resources(sagemaker, "AWS::CloudWatch::Alarm")
    assert len(alarms) == 3
    for name, res in alarms.items():
        props = res["Properties"]
        for key in ("AlarmActions", "OKActions"):
            assert props[key] == {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], NO_VALUE]}, (name, key)
        mirrored = re.search(r"Prometheus (\w+)\)", props["AlarmDescription"]["Fn::Sub"]).group(1)
        assert mirrored in alerts, (name, mirrored)


# ---- Batch and GitHub OIDC ----

def test_batch_max_vcpus_is_a_bounded_documented_parameter():
    template = load("batch")
    (ce,) = resources(template, "AWS::Batch::ComputeEnvironment").values()
    assert ce["Properties"]["ComputeResources"]["MaxvCpus"] == {"Ref": "MaxVcpus"}
    parameter = template["Parameters"]["MaxVcpus"]
    assert parameter["Description"]
    assert 1 <= parameter["MinValue"] <= parameter["Default"] <= parameter["MaxValue"]
    (job,) = resources(template, "AWS::Batch::JobDefinition").values()
    (vcpu,) = [r["Value"] for r in job["Properties"]["ContainerProperties"]["ResourceRequirements"]
               if r["Type"] == "VCPU"]
    assert float(vcpu) <= parameter["MinValue"]  # one shard always fits


def test_an_existing_oidc_provider_is_used_everywhere_and_none_is_created():
    template = load("github-oidc")
    parameter = template["Parameters"]["ExistingOidcProviderArn"]
    assert parameter["Default"] == ""
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.fullmatch("arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com")
    assert not pattern.fullmatch("arn:aws:iam::123456789012:oidc-provider/example.com")
    assert template["Conditions"]["CreateProvider"] == {"Fn::Equals": [{"Ref": "ExistingOidcProviderArn"}, ""]}
    (name,) = resources(template, "AWS::IAM::OIDCProvider")
    assert template["Resources"][name]["Condition"] == "CreateProvider"
    uses = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("Ref") == name or node.get("Fn::GetAtt", [None])[0] == name:
                pytest.fail(f"{name} referenced outside !If [CreateProvider, ...]: {node}")
            branches = node.get("Fn::If")
            if branches and branches[1] in ({"Ref": name}, {"Fn::GetAtt": [name, "Arn"]}):
                assert branches[0] == "CreateProvider" and branches[2] == {"Ref": "ExistingOidcProviderArn"}, node
                uses.append(node)
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk({k: v for k, v in template.items() if k != "Conditions"})
    assert len(uses) >= 2, uses  # the role's trust and the OidcProviderArn output


# ---- least privilege ----

def statements(role: dict, keep_conditional: bool = True) -> list:
    """A role's policy statements; one wrapped in !If [condition, statement, NoValue] counts as present."""
    found = []
    for policy in role["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            if "Fn::If" in statement:
                _, statement, otherwise = statement["Fn::If"]
                assert otherwise == NO_VALUE, statement
                if not keep_conditional:
                    continue
            found.append(statement)
    return found


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_roles_use_star_only_where_iam_has_no_resource_level_permissions(path):
    for name, role in resources(cfn_yaml.load(str(path)), "AWS::IAM::Role").items():
        for statement in statements(role):
            assert statement["Effect"] == "Allow", (name, statement)
            actions = as_list(statement["Action"])
            assert not any("*" in a for a in actions), (name, statement)
            if "*" in as_list(statement["Resource"]):
                assert set(actions) <= NO_RESOURCE_LEVEL, (name, statement)
            if "cloudwatch:PutMetricData" in actions:
                assert "cloudwatch:namespace" in statement["Condition"]["StringLike"], (name, statement)
        for trust in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]:
            if "Service" in trust["Principal"]:  # confused deputy: only this account's service calls
                keys = {k for test in trust["Condition"].values() for k in test}
                assert keys & {"aws:SourceAccount", "aws:SourceArn"}, (path.name, name, trust)


def test_sagemaker_role_reads_exactly_the_model_data_and_only_when_there_is_some(sagemaker):
    role = sagemaker["Resources"]["ExecutionRole"]
    unconditional = statements(role, keep_conditional=False)
    assert not any(a.startswith(("s3:", "kms:")) for s in unconditional for a in as_list(s["Action"]))
    conditional = [s["Fn::If"] for p in role["Properties"]["Policies"]
                   for s in p["PolicyDocument"]["Statement"] if "Fn::If" in s]
    assert {c[0] for c in conditional} == {"HasModelData"}
    granted = {c[1]["Action"]: c[1] for c in conditional}
    assert set(granted) == {"s3:GetObject", "kms:Decrypt"}
    assert granted["s3:GetObject"]["Resource"] == {"Fn::Sub": [
        "arn:${AWS::Partition}:s3:::${BucketAndKey}",
        {"BucketAndKey": {"Fn::Select": [1, {"Fn::Split": ["s3://", {"Ref": "ModelDataUrl"}]}]}}]}
    assert "kms:ViaService" in granted["kms:Decrypt"]["Condition"]["StringEquals"]
    pattern = re.compile(sagemaker["Parameters"]["ModelDataUrl"]["AllowedPattern"])
    assert pattern.fullmatch("") and pattern.fullmatch("s3://tweetops-data-1-eu-west-1/artifacts/42/model.tar.gz")
    assert not pattern.fullmatch("s3://other-bucket/raw/model.tar.gz")  # model data lives under artifacts/
