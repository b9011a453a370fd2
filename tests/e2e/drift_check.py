"""The drift check (``tools.drift``, ``make drift``) against an applied environment in the emulator, called from the
round trip (``tests/e2e/test_emulator_roundtrip.py``) right after its clean re-plan, so it rides on that apply.

As the plan role's session (the scheduled workflow's): no drift, exit 0. Then an operator changes four things out of
band with boto3 (a tag on the stream, a rule opening the database's security group to the internet, an alarm's
threshold, the flow logs' retention), and the check exits 2 with a report naming exactly those resources and
attributes and nothing else. The operator puts everything back, which the round trip's pull-request plan (no
changes) then proves.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.e2e.conftest import ci_role
from tools.emulator import Emulator
from tools.terraform import TerraformCLI

ROOT = Path(__file__).resolve().parents[2]
OPEN_TO_THE_WORLD = {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}
#: What describe_alarms returns that put_metric_alarm takes back unchanged (a re-put replaces the whole alarm).
ALARM_FIELDS = (
    "AlarmName",
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "MetricName",
    "Namespace",
    "Statistic",
    "ExtendedStatistic",
    "Dimensions",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
    "Metrics",
)


def run_drift(tf: TerraformCLI, work: Path, out: Path) -> tuple[int, str, str]:
    """``python -m tools.drift`` on the initialised stack, with the Terraform environment ``tf`` carries; the exit
    code, the report (empty when none was written) and stderr."""
    proc = subprocess.run(
        [sys.executable, "-m", "tools.drift", "--stack-dir", str(work), "--name", work.name, "--out", str(out)],
        cwd=ROOT,
        env=tf.env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    report = out / f"{work.name}.drift.md"
    return proc.returncode, report.read_text() if report.is_file() else "", proc.stderr


def address_of(work: Path, rtype: str, key: str, value: str) -> str:
    """The Terraform address of the resource of ``rtype`` whose ``key`` is ``value`` in the synthesized stack."""
    resources = json.loads((work / "cdk.tf.json").read_text())["resource"][rtype]
    (name,) = [n for n, r in resources.items() if r.get(key) == value]
    return f"{rtype}.{name}"


def drifted(plan_json: Path) -> dict[str, set[str]]:
    """``address -> drifted attributes`` as the report reads them (the plan report's own drift model)."""
    from tools.plan_report.plan import load_plan

    stack = load_plan(str(plan_json), "drift", refresh_only=True)
    return {d.address: {a.name for a in d.attributes} for d in stack.drift}


def check_drift_is_reported(emulator: Emulator, tf: TerraformCLI, work: Path, env: str, operator: dict) -> str:
    """Exit 0 while nothing changed; exit 2 naming exactly the four out-of-band changes; then undone."""
    planner = tf.with_env(ci_role(emulator, env, "plan"))
    out = work.parent / f"drift-{env}"
    code, report, stderr = run_drift(planner, work, out)
    assert code == 0, f"drift before any change (exit {code}):\n{stderr[-3000:]}\n{report}"
    assert "No drift" in report, report

    def client(service: str) -> Any:
        return emulator.client(service, credentials=operator)

    stream, group, alarm, logs = (
        f"japancart-{env}-transactions",
        f"japancart-{env}-transactions-db",
        f"japancart-{env}-db-cpu",
        f"/vpc/japancart-{env}/flow-logs",
    )
    kinesis, ec2, cloudwatch, cwlogs = client("kinesis"), client("ec2"), client("cloudwatch"), client("logs")
    (sg,) = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [group]}])["SecurityGroups"]
    (old_alarm,) = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    put_alarm = {k: old_alarm[k] for k in ALARM_FIELDS if k in old_alarm}
    (old_logs,) = [
        g for g in cwlogs.describe_log_groups(logGroupNamePrefix=logs)["logGroups"] if g["logGroupName"] == logs
    ]

    kinesis.add_tags_to_stream(StreamName=stream, Tags={"Hotfix": "incident-4711"})
    ec2.authorize_security_group_ingress(GroupId=sg["GroupId"], IpPermissions=[OPEN_TO_THE_WORLD])
    cloudwatch.put_metric_alarm(**{**put_alarm, "Threshold": old_alarm["Threshold"] + 15})
    cwlogs.put_retention_policy(logGroupName=logs, retentionInDays=1)
    try:
        code, report, stderr = run_drift(planner, work, out)
        assert code == 2, f"drift after four out-of-band changes (exit {code}):\n{stderr[-3000:]}"
        expected = {
            address_of(work, "aws_kinesis_stream", "name", stream): {"tags", "tags_all"},
            address_of(work, "aws_security_group", "name", group): {"ingress"},
            address_of(work, "aws_cloudwatch_metric_alarm", "alarm_name", alarm): {"threshold"},
            address_of(work, "aws_cloudwatch_log_group", "name", logs): {"retention_in_days"},
        }
        assert drifted(out / f"{env}.drift.json") == expected, report
        for address in expected:
            assert f"<code>{address}</code>" in report, report
        assert "tcp 5432 from 0.0.0.0/0" in report and "<code>30</code> → <code>1</code>" in report, report
        assert f"{old_alarm['Threshold']:g}" in report and "incident-4711" in report, report
    finally:  # as the operator found it: the round trip's next plan must show no changes
        kinesis.remove_tags_from_stream(StreamName=stream, TagKeys=["Hotfix"])
        ec2.revoke_security_group_ingress(GroupId=sg["GroupId"], IpPermissions=[OPEN_TO_THE_WORLD])
        cloudwatch.put_metric_alarm(**put_alarm)
        cwlogs.put_retention_policy(logGroupName=logs, retentionInDays=old_logs["retentionInDays"])
    return (
        f"drift check as japancart-{env}-plan: none (exit 0); a tag, an ingress rule, an alarm threshold and a log "
        f"retention changed out of band: exit 2, the report names exactly those 4 resources; undone"
    )
