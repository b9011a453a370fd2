#!/usr/bin/env python
"""Benchmark for issue 4: stock provider import vs. a full synth with provider_import.

    python bench/synth_bench.py [--runs 5] [--app main.py] [--skip-tests]
                                [--pytest-args '-q -m "not terraform and not integration" tests/']

Runs, alternately and N times each (after --warmup unmeasured rounds):

* stock import: ``python -c "import cdktf_cdktf_provider_aws"`` (no provider_import);
* full synth:   ``python main.py`` (every stack) into a fresh temporary CDKTF_OUTDIR,
                with CDKTF_STOCK_PROVIDER_IMPORT removed from the environment;
* optionally (--stock-synth) the same synth with CDKTF_STOCK_PROVIDER_IMPORT=1;

then the test suite (--test-runs times, default once).  Prints the medians of
wall time and of peak RSS (ru_maxrss from os.wait4: the largest single process in
the child's tree, which here is usually the node jsii kernel) and the ratio
synth / stock import against the goal (<= 0.35, aim 0.25).  The first warmup synth
runs with -X importtime to report whether the app really imported the provider
lazily (i.e. calls provider_import.install() first).  It only reports figures; it
never fails on timing (exit status 1 only if a child failed).

If main.py does not exist yet, a built-in representative app (two stacks, ~30
AWS resource types plus random) is synthesized instead, and the table says so.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOAL, AIM = 0.35, 0.25
UNUSED_AWS_MODULE = "cdktf_cdktf_provider_aws.accessanalyzer_analyzer"  # imported only by the stock path
DEFAULT_PYTEST_ARGS = '-q -m "not terraform and not integration" tests/'
QUIET_JSII = {
    "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    # jsii >= 1.1xx prints an end-of-life banner for Node 20 unless told so:
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
}

# Representative app used when main.py is absent (also used by
# tests/test_provider_import.py for its byte-identity test).  Honours CDKTF_OUTDIR.
DEMO_APP = r'''"""Representative JapanCart-like app: ~30 AWS resource types in two stacks."""
import os
import sys

sys.path.insert(0, os.environ.get("PROVIDER_IMPORT_ROOT", os.getcwd()))
import provider_import  # noqa: E402

provider_import.install()

from cdktf import App, TerraformOutput, TerraformStack  # noqa: E402
from cdktf_cdktf_provider_aws.provider import AwsProvider  # noqa: E402
from cdktf_cdktf_provider_aws.vpc import Vpc  # noqa: E402
from cdktf_cdktf_provider_aws.subnet import Subnet  # noqa: E402
from cdktf_cdktf_provider_aws.internet_gateway import InternetGateway  # noqa: E402
from cdktf_cdktf_provider_aws.route_table import RouteTable, RouteTableRoute  # noqa: E402
from cdktf_cdktf_provider_aws.route_table_association import RouteTableAssociation  # noqa: E402
from cdktf_cdktf_provider_aws.security_group import SecurityGroup, SecurityGroupEgress  # noqa: E402
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule  # noqa: E402
from cdktf_cdktf_provider_aws.kms_key import KmsKey  # noqa: E402
from cdktf_cdktf_provider_aws.kms_alias import KmsAlias  # noqa: E402
from cdktf_cdktf_provider_aws.kinesis_stream import KinesisStream, KinesisStreamStreamModeDetails  # noqa: E402
from cdktf_cdktf_provider_aws.elasticache_subnet_group import ElasticacheSubnetGroup  # noqa: E402
from cdktf_cdktf_provider_aws.elasticache_replication_group import ElasticacheReplicationGroup  # noqa: E402
from cdktf_cdktf_provider_aws.db_subnet_group import DbSubnetGroup  # noqa: E402
from cdktf_cdktf_provider_aws.db_instance import DbInstance  # noqa: E402
from cdktf_cdktf_provider_aws.secretsmanager_secret import SecretsmanagerSecret  # noqa: E402
from cdktf_cdktf_provider_aws.secretsmanager_secret_version import SecretsmanagerSecretVersion  # noqa: E402
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm  # noqa: E402
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup  # noqa: E402
from cdktf_cdktf_provider_aws.sns_topic import SnsTopic  # noqa: E402
from cdktf_cdktf_provider_aws.sns_topic_subscription import SnsTopicSubscription  # noqa: E402
from cdktf_cdktf_provider_aws.sqs_queue import SqsQueue  # noqa: E402
from cdktf_cdktf_provider_aws.iam_role import IamRole  # noqa: E402
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment  # noqa: E402
from cdktf_cdktf_provider_aws.iam_policy import IamPolicy  # noqa: E402
from cdktf_cdktf_provider_aws.data_aws_iam_policy_document import (  # noqa: E402
    DataAwsIamPolicyDocument,
    DataAwsIamPolicyDocumentStatement,
    DataAwsIamPolicyDocumentStatementPrincipals,
)
from cdktf_cdktf_provider_aws.lambda_function import LambdaFunction, LambdaFunctionEnvironment  # noqa: E402
from cdktf_cdktf_provider_aws.lambda_event_source_mapping import LambdaEventSourceMapping  # noqa: E402
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket  # noqa: E402
from cdktf_cdktf_provider_aws.s3_bucket_versioning import S3BucketVersioningA, S3BucketVersioningVersioningConfiguration  # noqa: E402
from cdktf_cdktf_provider_aws.dynamodb_table import DynamodbTable, DynamodbTableAttribute  # noqa: E402
from cdktf_cdktf_provider_random.provider import RandomProvider  # noqa: E402
from cdktf_cdktf_provider_random.password import Password  # noqa: E402


class NetworkStack(TerraformStack):
    def __init__(self, scope, name, region):
        super().__init__(scope, name)
        AwsProvider(self, "aws", region=region)
        self.vpc = Vpc(self, "vpc", cidr_block="10.20.0.0/16", enable_dns_hostnames=True,
                       tags={"Name": f"{name}-vpc"})
        igw = InternetGateway(self, "igw", vpc_id=self.vpc.id)
        rt = RouteTable(self, "public-rt", vpc_id=self.vpc.id,
                        route=[RouteTableRoute(cidr_block="0.0.0.0/0", gateway_id=igw.id)])
        self.subnets = []
        for i, az in enumerate(["a", "c", "d"]):
            sn = Subnet(self, f"private-{az}", vpc_id=self.vpc.id,
                        cidr_block=f"10.20.{i}.0/24", availability_zone=f"{region}{az}")
            RouteTableAssociation(self, f"rta-{az}", subnet_id=sn.id, route_table_id=rt.id)
            self.subnets.append(sn)
        self.sg = SecurityGroup(self, "app-sg", vpc_id=self.vpc.id, name=f"{name}-app",
                                egress=[SecurityGroupEgress(from_port=0, to_port=0, protocol="-1",
                                                            cidr_blocks=["0.0.0.0/0"])])
        VpcSecurityGroupIngressRule(self, "redis-in", security_group_id=self.sg.id,
                                    ip_protocol="tcp", from_port=6379, to_port=6379,
                                    referenced_security_group_id=self.sg.id)
        TerraformOutput(self, "vpc_id", value=self.vpc.id)


class MonitoringStack(TerraformStack):
    def __init__(self, scope, name, region):
        super().__init__(scope, name)
        AwsProvider(self, "aws", region=region)
        RandomProvider(self, "random")
        key = KmsKey(self, "key", description="transaction monitoring", enable_key_rotation=True)
        KmsAlias(self, "key-alias", name=f"alias/{name}", target_key_id=key.key_id)
        stream = KinesisStream(self, "tx-stream", name=f"{name}-transactions", retention_period=48,
                               encryption_type="KMS", kms_key_id=key.arn,
                               stream_mode_details=KinesisStreamStreamModeDetails(stream_mode="ON_DEMAND"))
        vpc = Vpc(self, "vpc", cidr_block="10.30.0.0/16")
        subnets = [Subnet(self, f"sn-{i}", vpc_id=vpc.id, cidr_block=f"10.30.{i}.0/24") for i in range(2)]
        sg = SecurityGroup(self, "sg", vpc_id=vpc.id, name=f"{name}-data")
        ecsg = ElasticacheSubnetGroup(self, "redis-subnets", name=f"{name}-redis",
                                      subnet_ids=[s.id for s in subnets])
        ElasticacheReplicationGroup(self, "redis", replication_group_id=f"{name}-redis",
                                    description="velocity counters", node_type="cache.t4g.small",
                                    num_cache_clusters=2, automatic_failover_enabled=True,
                                    subnet_group_name=ecsg.name, security_group_ids=[sg.id],
                                    at_rest_encryption_enabled="true", kms_key_id=key.arn)
        pw = Password(self, "db-password", length=32, special=False)
        secret = SecretsmanagerSecret(self, "db-secret", name=f"{name}/db", kms_key_id=key.arn)
        SecretsmanagerSecretVersion(self, "db-secret-v", secret_id=secret.id, secret_string=pw.result)
        dbsg = DbSubnetGroup(self, "db-subnets", name=f"{name}-db", subnet_ids=[s.id for s in subnets])
        db = DbInstance(self, "db", identifier=f"{name}-db", engine="postgres", engine_version="16.3",
                        instance_class="db.t4g.medium", allocated_storage=50, username="monitor",
                        password=pw.result, db_subnet_group_name=dbsg.name,
                        vpc_security_group_ids=[sg.id], storage_encrypted=True, kms_key_id=key.arn,
                        skip_final_snapshot=True)
        topic = SnsTopic(self, "alerts", name=f"{name}-alerts", kms_master_key_id=key.id)
        queue = SqsQueue(self, "alert-queue", name=f"{name}-alerts", kms_master_key_id=key.id)
        SnsTopicSubscription(self, "alert-sub", topic_arn=topic.arn, protocol="sqs", endpoint=queue.arn)
        CloudwatchMetricAlarm(self, "db-cpu", alarm_name=f"{name}-db-cpu", namespace="AWS/RDS",
                              metric_name="CPUUtilization", statistic="Average", period=300,
                              evaluation_periods=2, threshold=80,
                              comparison_operator="GreaterThanThreshold",
                              dimensions={"DBInstanceIdentifier": db.identifier},
                              alarm_actions=[topic.arn])
        assume = DataAwsIamPolicyDocument(self, "assume", statement=[DataAwsIamPolicyDocumentStatement(
            actions=["sts:AssumeRole"],
            principals=[DataAwsIamPolicyDocumentStatementPrincipals(type="Service",
                                                                    identifiers=["lambda.amazonaws.com"])])])
        role = IamRole(self, "scorer-role", name=f"{name}-scorer", assume_role_policy=assume.json)
        policy = IamPolicy(self, "scorer-policy", name=f"{name}-scorer",
                           policy='{"Version":"2012-10-17","Statement":[]}')
        IamRolePolicyAttachment(self, "scorer-attach", role=role.name, policy_arn=policy.arn)
        bucket = S3Bucket(self, "artifacts", bucket=f"{name}-artifacts")
        S3BucketVersioningA(self, "artifacts-versioning", bucket=bucket.id,
                            versioning_configuration=S3BucketVersioningVersioningConfiguration(status="Enabled"))
        table = DynamodbTable(self, "rules", name=f"{name}-rules", billing_mode="PAY_PER_REQUEST",
                              hash_key="rule_id", attribute=[DynamodbTableAttribute(name="rule_id", type="S")])
        CloudwatchLogGroup(self, "scorer-logs", name=f"/aws/lambda/{name}-scorer", retention_in_days=30,
                           kms_key_id=key.arn)
        fn = LambdaFunction(self, "scorer", function_name=f"{name}-scorer", role=role.arn,
                            runtime="python3.12", handler="app.handler", s3_bucket=bucket.id,
                            s3_key="scorer.zip",
                            environment=LambdaFunctionEnvironment(variables={"RULES_TABLE": table.name}))
        LambdaEventSourceMapping(self, "scorer-src", event_source_arn=stream.arn, function_name=fn.arn,
                                 starting_position="LATEST", batch_size=100)
        TerraformOutput(self, "stream_arn", value=stream.arn)


app = App(outdir=os.environ.get("CDKTF_OUTDIR", "cdktf.out"))
NetworkStack(app, "japancart-network", "ap-northeast-1")
MonitoringStack(app, "japancart-monitoring", "ap-northeast-1")
app.synth()
'''


class Run:
    def __init__(self, wall: float, maxrss_kb: int, rc: int, stdout: str, stderr: str) -> None:
        self.wall, self.maxrss_kb, self.rc = wall, maxrss_kb, rc
        self.stdout, self.stderr = stdout, stderr


def run(cmd: Sequence[str], env: Dict[str, str], cwd: str = REPO) -> Run:
    """Run cmd, return wall time and the child's own peak RSS (os.wait4)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    # ru_maxrss is in KiB on Linux.
    return Run(wall, usage.ru_maxrss, proc.returncode, stdout, stderr)


def base_env() -> Dict[str, str]:
    env = dict(os.environ)
    for key, value in QUIET_JSII.items():
        env.setdefault(key, value)
    env.pop("CDKTF_STOCK_PROVIDER_IMPORT", None)
    # Synth speed does not depend on the state bucket: stand-ins where the operator has not set them yet.
    env.setdefault("JAPANCART_STATE_BUCKET", "bench-terraform-state")
    env.setdefault("JAPANCART_STATE_KMS_KEY_ID", "arn:aws:kms:ap-northeast-1:111122223333:key/00000000-0000-4000-8000-000000000000")
    # the repo root importable even when --app lives elsewhere (python main.py has it anyway)
    env["PYTHONPATH"] = os.pathsep.join([REPO, *filter(None, [env.get("PYTHONPATH")])])
    return env


def default_python() -> str:
    venv = os.path.join(REPO, ".venv", "bin", "python")
    return venv if os.path.exists(venv) else sys.executable


def median(values: List[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="measured runs of each command (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured rounds first (default 1)")
    parser.add_argument("--python", default=default_python(), help="interpreter (default: .venv/bin/python)")
    parser.add_argument("--app", default=os.path.join(REPO, "main.py"),
                        help="app to synthesize (default: main.py; built-in demo app if absent)")
    parser.add_argument("--stock-synth", action="store_true",
                        help="also time the synth with CDKTF_STOCK_PROVIDER_IMPORT=1")
    parser.add_argument("--skip-tests", action="store_true", help="do not time the test suite")
    parser.add_argument("--pytest-args", default=DEFAULT_PYTEST_ARGS,
                        help=f"arguments after 'python -m pytest' (default: {DEFAULT_PYTEST_ARGS!r})")
    parser.add_argument("--test-runs", type=int, default=1, help="test-suite runs (default 1)")
    args = parser.parse_args(argv)

    env = base_env()
    failures = []
    with tempfile.TemporaryDirectory(prefix="synth_bench_") as tmp:
        app, app_label = os.path.abspath(args.app), os.path.relpath(args.app, REPO)
        if not os.path.exists(app):
            app = os.path.join(tmp, "demo_app.py")
            with open(app, "w", encoding="utf-8") as handle:
                handle.write(DEMO_APP)
            app_label = "built-in demo app (main.py absent)"

        commands = {
            "stock import": ([args.python, "-c", "import cdktf_cdktf_provider_aws"], {}),
            "full synth": ([args.python, app], {}),
        }
        if args.stock_synth:
            commands["synth, stock import"] = ([args.python, app], {"CDKTF_STOCK_PROVIDER_IMPORT": "1"})
        results: Dict[str, List[Run]] = {name: [] for name in commands}
        names = list(commands)
        counter = 0
        lazy_seen: Optional[bool] = None
        for round_no in range(args.warmup + args.runs):
            order = names if round_no % 2 == 0 else names[::-1]  # alternate A B / B A
            for name in order:
                cmd, extra = commands[name]
                child_env = dict(env, **extra)
                probe = round_no == 0 and args.warmup > 0 and name == "full synth"
                if cmd[-1] == app:
                    counter += 1
                    child_env["CDKTF_OUTDIR"] = os.path.join(tmp, f"out{counter}")
                if probe:  # unmeasured: see whether the app really imports lazily
                    cmd = [cmd[0], "-X", "importtime", *cmd[1:]]
                result = run(cmd, child_env)
                if probe and result.rc == 0:
                    lazy_seen = UNUSED_AWS_MODULE not in result.stderr
                label = "warmup" if round_no < args.warmup else f"run {round_no - args.warmup + 1}"
                print(f"  {label:>7} {name:<20} {result.wall:7.2f} s {result.maxrss_kb / 1024:7.0f} MiB"
                      + ("" if result.rc == 0 else f"  rc={result.rc}"), file=sys.stderr, flush=True)
                if result.rc != 0:
                    failures.append((name, result))
                elif round_no >= args.warmup:
                    results[name].append(result)

        tests: List[Run] = []
        pytest_cmd = [args.python, "-m", "pytest", *shlex.split(args.pytest_args)]
        if not args.skip_tests:
            for _ in range(args.test_runs):
                result = run(pytest_cmd, base_env())
                print(f"  tests   rc={result.rc} {result.wall:7.2f} s", file=sys.stderr, flush=True)
                tests.append(result)

    def row(label: str, runs: List[Run]) -> str:
        walls = [r.wall for r in runs]
        if not walls:
            return f"{label:<30} {'n/a':>8}"
        rss = median([r.maxrss_kb / 1024 for r in runs])
        return (f"{label:<30} {median(walls):8.2f} {min(walls):8.2f} {max(walls):8.2f}"
                f" {rss:9.0f} {len(walls):>3}")

    print()
    print(f"app: {app_label}   python: {args.python}   runs: {args.runs} (+{args.warmup} warmup), alternating")
    print(f"{'':<30} {'median s':>8} {'min s':>8} {'max s':>8} {'RSS MiB':>9} {'n':>3}")
    print(row("stock import (aws provider)", results["stock import"]))
    print(row("full synth (provider_import)", results["full synth"]))
    if args.stock_synth:
        print(row("full synth (stock import)", results["synth, stock import"]))
    stock, synth = results["stock import"], results["full synth"]
    if stock and synth:
        ratio = median([r.wall for r in synth]) / median([r.wall for r in stock])
        verdict = "meets goal" if ratio <= GOAL else "MISSES goal"
        print(f"{'ratio synth / stock import':<30} {ratio:8.3f}   goal <= {GOAL} (aim {AIM}): {verdict}")
    if lazy_seen is not None:
        print("lazy provider import in the synth: " + (
            "yes" if lazy_seen else
            f"NO - {UNUSED_AWS_MODULE} was imported; does the app call provider_import.install() first?"))
    if not args.skip_tests:
        label = f"tests ({'ok' if all(t.rc == 0 for t in tests) else 'FAILED'})"
        print(row(label, tests))
        print(f"  tests command: {shlex.join(pytest_cmd)}")
        for result in tests:
            if result.rc != 0:  # pytest's own summary lines say what failed
                summary = [line for line in result.stdout.splitlines()
                           if line.startswith(("FAILED", "ERROR"))] or result.stdout.splitlines()[-5:]
                print("\n".join("    " + line for line in summary[:20]))
    print("RSS = ru_maxrss from os.wait4: the largest single process of the child's tree that was"
          " waited for\n      (python itself or the node jsii kernel it reaps at exit), not a sum.")
    for name, result in failures:
        print(f"\n{name} failed (rc={result.rc}); stderr tail:\n{result.stderr[-2000:]}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
