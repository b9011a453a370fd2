"""Invoking the processor function with a rebuilt Kinesis event, and the arguments that say where: shared by the
operator tools that re-drive records (`replay`: failed batches; `catch_up`: the stream from a time)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from typing import Any, Protocol

from operator_tools.kinesis_event_builder import read_batch_response
from processor.kinesis import stream_parts

#: ``invoke(event)``: the function's response, or raises on a function error.
Invoke = Callable[[dict[str, Any]], Any]

_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
# A name, or a full ARN, with an optional version or alias qualifier.
_FUNCTION = re.compile(
    r"^(arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:)?"
    r"[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]{1,128})?$"
)


class FunctionError(Exception):
    """The function ran and failed (Lambda's ``FunctionError``); the message holds its error payload."""


def lambda_invoker(lambda_client: Any, function_name: str) -> Invoke:
    """``invoke(event)`` through Lambda Invoke (RequestResponse): raises on a function error."""

    def invoke(event: dict[str, Any]) -> Any:
        response = lambda_client.invoke(
            FunctionName=function_name, InvocationType="RequestResponse", Payload=json.dumps(event).encode("utf-8")
        )
        raw = response["Payload"].read()
        if response.get("FunctionError"):
            raise FunctionError(f"{response['FunctionError']}: {raw.decode('utf-8', 'replace')[:500]}")
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace")

    return invoke


def invoke_batch(invoke: Invoke, event: dict[str, Any], sequence_numbers: list[str]) -> tuple[bool, str]:
    """Invoke once; (True, what was done) when the whole batch succeeded, else (False, why not)."""
    try:
        response = invoke(event)
    except Exception as exc:  # a function error (or the call failed): the batch is not done
        return False, f"function error: {type(exc).__name__}: {exc}"
    result = read_batch_response(response, sequence_numbers)
    if result.succeeded:
        return True, f"{len(sequence_numbers)} records processed"
    if result.reason == "partial":
        failed = [item.get("itemIdentifier") for item in response["batchItemFailures"]]
        return False, f"function reported {len(failed)} failed records: {', '.join(map(str, failed))}"
    return False, f"response fails the whole batch: {result.reason}"


def target_problem(function_name: str, stream_arn: str, region: str | None, endpoint_url: str | None) -> str | None:
    """The first bad one of the arguments every re-driving tool takes, as a one-line message, or None."""
    if not _FUNCTION.match(function_name):
        return f"--function-name must be a Lambda function name or ARN, got {function_name!r}"
    try:
        stream_parts(stream_arn)
    except ValueError:
        return (
            f"--stream-arn must be a Kinesis stream ARN like arn:aws:kinesis:<region>:<account>:stream/<name>, "
            f"got {stream_arn!r}"
        )
    if region is not None and not _REGION.match(region):
        return f"--region must be an AWS region such as ap-northeast-1, got {region!r}"
    if endpoint_url is not None and not _URL.match(endpoint_url):
        return f"--endpoint-url must be an http(s) URL, got {endpoint_url!r}"
    return None


class Report(Protocol):
    @property
    def ok(self) -> bool: ...

    def summary(self) -> str: ...


def run_with_aws(
    prog: str, args: argparse.Namespace, problem: str | None, work: Callable[[Callable[[str], Any]], Report]
) -> int:
    """The command line's end. Exit 2 with ``problem`` in one line when the arguments are wrong, nothing called;
    else ``work(client)`` with boto3 clients of ``args.region`` and ``args.endpoint_url``, its report's summary
    printed; exit 0 when the report is ok, 1 when not or when AWS refused (one line on stderr)."""
    if problem:
        print(f"{prog}: error: {problem}", file=sys.stderr)
        return 2
    import boto3
    import botocore.exceptions

    def client(service: str) -> Any:
        return boto3.client(service, region_name=args.region, endpoint_url=args.endpoint_url)

    try:
        report = work(client)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0 if report.ok else 1


def caller_arn(client: Callable[[str], Any]) -> str:
    """Who invokes: the caller (GetCallerIdentity needs no permission), recorded in every rebuilt record."""
    return str(client("sts").get_caller_identity()["Arn"])
