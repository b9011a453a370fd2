"""In-place damage: the one table of attribute rules the plan report applies to every change.

A destroy or replace of a stateful resource is red by its type alone (``tools.plan_report.risk.STATEFUL_TYPES``). Data is
lost or exposed just as surely by an update that destroys nothing: backups turned off, retention cut, deletion
protection lifted, a key disabled or its policy rewritten, versioning suspended, a security group opened to the
internet. ``RULES`` holds one row per (resource type, attribute, what counts as damage, what is at risk). The
report applies every row to every update and replace (the old value against the new one) and to every create
(only the checks that can do damage on a new resource judge creates: a new rule open to the internet, a new
database with a public address, a new public-access block that blocks nothing).

Values Terraform only knows after apply are not judged, except by ``DocumentChanges``: a policy that will be
computed differs from the one in force until shown otherwise. Sensitive values are judged but never returned
(``(sensitive value)`` stands in for them). Each rule is tested against a real plan in the emulator
(``tests/tools/test_plan_report.py``, ``damage_plans``); docs/plan-review.md, lists them. Standard library only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from tools.plan_json import SENSITIVE, UNKNOWN, Marker, as_dict, contains_true, is_empty

#: In a rule's path: every element of a list (nested blocks such as a lifecycle configuration's ``rule``).
ANY = "*"
#: Source CIDRs that mean "from anywhere on the internet".
OPEN_CIDRS = frozenset({"0.0.0.0/0", "::/0"})

Step = str | int
Shown = tuple[Any, Any]


class Check(Protocol):
    """What counts as damage for one attribute."""

    @property
    def describes(self) -> str:
        """The kind of change that counts, in a few words (the report's "counts as damage" column)."""
        ...

    #: Whether a value known only after apply is judged (as different from anything) or skipped.
    judges_unknown: ClassVar[bool]

    def judge(self, before: Any, after: Any, creating: bool) -> Shown | None:
        """The (old, new) values to show when this change is damage, else None."""
        ...


def number_or_none(value: Any) -> float | None:
    """A JSON number as a float; None for anything else (bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


@dataclass(frozen=True)
class Lowered:
    """A limit that goes down: retention, backups, a waiting period. ``forever`` holds the values that mean "no
    limit" (0 days of log retention: never expire) and ``absent_is_forever`` makes a missing value mean the same (no
    expiry rule at all), so a limit that replaces them is a cut. On a list path the shortest limit counts."""

    forever: frozenset[float] = frozenset()
    absent_is_forever: bool = False
    judges_unknown: ClassVar[bool] = False

    @property
    def describes(self) -> str:
        return "decreased" + (", or a limit where there was none" if self.forever or self.absent_is_forever else "")

    def limit(self, value: Any) -> float | None:
        """The value as a limit in its unit (``inf`` for no limit), or None when it cannot be judged."""
        if isinstance(value, list):
            limits = [limit for limit in (self.limit(item) for item in value) if limit is not None]
            return min(limits) if limits else (math.inf if self.absent_is_forever else None)
        if value is None:
            return math.inf if self.absent_is_forever else None
        number = number_or_none(value)
        if number is None:
            return None
        return math.inf if number in self.forever else number

    def judge(self, before: Any, after: Any, creating: bool) -> Shown | None:
        old, new = self.limit(before), self.limit(after)
        if creating or old is None or new is None or new >= old:
            return None
        return before, after


def as_switch(value: Any) -> bool | None:
    """A boolean setting; some provider attributes hold it as the string ``"true"`` / ``"false"``
    (``at_rest_encryption_enabled`` of a replication group). None for anything else."""
    if isinstance(value, bool):
        return value
    return {"true": True, "false": False}.get(value) if isinstance(value, str) else None


@dataclass(frozen=True)
class Turned:
    """A switch moved from its safe position to ``unsafe`` (``true → false`` for a protection). With ``on_create``
    a new resource created in the unsafe position counts too (a database created with a public address)."""

    unsafe: bool
    on_create: bool = False
    judges_unknown: ClassVar[bool] = False

    @property
    def describes(self) -> str:
        flip = f"{json.dumps(not self.unsafe)} → {json.dumps(self.unsafe)}"
        return flip + (f", or created {json.dumps(self.unsafe)}" if self.on_create else "")

    def judge(self, before: Any, after: Any, creating: bool) -> Shown | None:
        if as_switch(after) is not self.unsafe:
            return None
        if creating:
            return (None, after) if self.on_create else None
        return (before, after) if as_switch(before) is (not self.unsafe) else None


@dataclass(frozen=True)
class BecomesOneOf:
    """A status set to one of ``values`` from anything else (versioning ``Enabled`` → ``Suspended``)."""

    values: frozenset[str]
    judges_unknown: ClassVar[bool] = False

    @property
    def describes(self) -> str:
        return "set to " + " or ".join(sorted(self.values))

    def judge(self, before: Any, after: Any, creating: bool) -> Shown | None:
        if creating or after not in self.values or before in self.values or before is None:
            return None
        return before, after


def open_cidrs(value: Any, key: str) -> set[str]:
    """The open CIDRs (``0.0.0.0/0``, ``::/0``) anywhere in ``value`` under a key naming CIDRs (``cidr_ipv4``,
    ``cidr_blocks``, ``ipv6_cidr_blocks``; ``key`` is the attribute's own name at the top)."""
    if isinstance(value, str):
        return {value} & OPEN_CIDRS if "cidr" in key else set()
    if isinstance(value, dict):
        return set().union(*(open_cidrs(item, name) for name, item in value.items()))
    if isinstance(value, list):
        return set().union(*(open_cidrs(item, key) for item in value))
    return set()


#: What says where an ingress rule block lets traffic in (its description and other arguments are left out when shown).
RULE_BLOCK_KEYS = ("protocol", "from_port", "to_port", "cidr_blocks", "ipv6_cidr_blocks")


@dataclass(frozen=True)
class OpensToInternet:
    """Ingress from anywhere that was not allowed before: an attribute holding CIDRs gains ``0.0.0.0/0`` or
    ``::/0``, or a list of rule blocks (``ingress``) gains a block (new, or with other ports) that holds one."""

    attribute: str
    judges_unknown: ClassVar[bool] = False

    @property
    def describes(self) -> str:
        return "0.0.0.0/0 or ::/0 appears"

    def judge(self, before: Any, after: Any, creating: bool) -> Shown | None:
        if isinstance(after, list) and after and all(isinstance(item, dict) for item in after):
            old = before if isinstance(before, list) else []
            opened = [
                {key: item[key] for key in RULE_BLOCK_KEYS if not is_empty(item.get(key))}
                for item in after
                if open_cidrs(item, self.attribute) and item not in old
            ]
            return (None, opened) if opened else None
        if open_cidrs(after, self.attribute) - open_cidrs(before, self.attribute):
            return before, after
        return None


def parsed_document(value: Any) -> Any:
    """A policy document parsed from its JSON text (so key order and spacing do not count), else the value itself."""
    if isinstance(value, str) and not isinstance(value, Marker):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


@dataclass(frozen=True)
class DocumentChanges:
    """A policy document that changes at all (compared as parsed JSON). Judging whether a new policy grants more
    than the old one would need IAM's evaluation logic; any change of who may use a key or a bucket is worth a
    human look. A policy known only after apply counts as a change."""

    judges_unknown: ClassVar[bool] = True

    @property
    def describes(self) -> str:
        return "changes at all"

    def judge(self, before: Any, after: Any, creating: bool) -> Shown | None:
        if creating or parsed_document(before) == parsed_document(after):
            return None
        return before, after


@dataclass(frozen=True)
class Cleared:
    """A setting that was set and is removed (a customer-managed encryption key)."""

    judges_unknown: ClassVar[bool] = False

    @property
    def describes(self) -> str:
        return "removed"

    def judge(self, before: Any, after: Any, creating: bool) -> Shown | None:
        if creating or is_empty(before) or not is_empty(after):
            return None
        return before, after


@dataclass(frozen=True)
class Rule:
    """One row of the table: ``check`` applied to the value at ``path`` of every ``type`` change (only those whose
    planned values hold ``only_if = (attribute, value)``, when given), with what is at risk."""

    type: str
    path: tuple[Step, ...]
    check: Check
    at_risk: str
    only_if: tuple[str, Any] | None = None

    @property
    def attribute(self) -> str:
        """The path as Terraform writes it: ``versioning_configuration[0].status``, ``rule[*].expiration[*].days``."""
        text = ""
        for step in self.path:
            text += f"[{step}]" if isinstance(step, int) or step == ANY else (f".{step}" if text else step)
        return text

    def applies_to(self, after: Any) -> bool:
        """Whether the resource's planned values select this rule."""
        return self.only_if is None or as_dict(after).get(self.only_if[0]) == self.only_if[1]


PUBLIC_ACCESS_FLAGS = ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
EXPOSED = "the port is reachable from the whole internet"
KEY_POLICY = "who may use or manage the key, and so read everything it encrypts"

#: The rules, by resource type. Add a row for a new way to lose or expose data; each row needs a real-plan case.
RULES: tuple[Rule, ...] = (
    # RDS: the transaction store
    Rule(
        "aws_db_instance",
        ("backup_retention_period",),
        Lowered(),
        "automated backups: fewer days to restore to; 0 turns backups off and deletes the existing ones",
    ),
    Rule(
        "aws_db_instance",
        ("deletion_protection",),
        Turned(unsafe=False),
        "the database can be deleted, by Terraform or by hand",
    ),
    Rule(
        "aws_db_instance",
        ("skip_final_snapshot",),
        Turned(unsafe=True),
        "no final snapshot when the database is deleted: its data is gone for good",
    ),
    Rule(
        "aws_db_instance",
        ("delete_automated_backups",),
        Turned(unsafe=True),
        "automated backups are deleted together with the database",
    ),
    Rule(
        "aws_db_instance",
        ("publicly_accessible",),
        Turned(unsafe=True, on_create=True),
        "the database gets an address reachable from the internet",
    ),
    Rule("aws_db_instance", ("storage_encrypted",), Turned(unsafe=False), "the data at rest is no longer encrypted"),
    # ElastiCache: the 24 h history
    Rule(
        "aws_elasticache_replication_group",
        ("snapshot_retention_limit",),
        Lowered(),
        "cache snapshots: fewer days kept; 0 turns them off",
    ),
    Rule(
        "aws_elasticache_replication_group",
        ("transit_encryption_enabled",),
        Turned(unsafe=False),
        "cache traffic (transactions, credentials) travels unencrypted",
    ),
    Rule(
        "aws_elasticache_replication_group",
        ("at_rest_encryption_enabled",),
        Turned(unsafe=False),
        "cached data and its snapshots are no longer encrypted at rest",
    ),
    # KMS: every data class's key
    Rule(
        "aws_kms_key",
        ("is_enabled",),
        Turned(unsafe=False),
        "nothing encrypted under the key can be read or written while it is disabled",
    ),
    Rule("aws_kms_key", ("policy",), DocumentChanges(), KEY_POLICY),
    Rule("aws_kms_key", ("enable_key_rotation",), Turned(unsafe=False), "the key material is no longer rotated"),
    Rule(
        "aws_kms_key",
        ("deletion_window_in_days",),
        Lowered(),
        "fewer days to cancel the key's deletion before what it encrypts is unreadable for good",
    ),
    Rule("aws_kms_key_policy", ("policy",), DocumentChanges(), KEY_POLICY),
    # What exists nowhere else: logs (the audit trail), stream records, queued and dead-lettered messages, secrets
    Rule(
        "aws_cloudwatch_log_group",
        ("retention_in_days",),
        Lowered(forever=frozenset({0.0}), absent_is_forever=True),
        "log events older than the new retention are deleted (0 means never expire)",
    ),
    Rule(
        "aws_cloudwatch_log_group", ("kms_key_id",), Cleared(), "new log events are no longer encrypted with a KMS key"
    ),
    Rule(
        "aws_kinesis_stream",
        ("retention_period",),
        Lowered(),
        "records older than the new retention are dropped, read or not (a consumer that fell behind loses them)",
    ),
    Rule(
        "aws_kinesis_stream",
        ("encryption_type",),
        BecomesOneOf(frozenset({"NONE"})),
        "new records are stored unencrypted",
    ),
    Rule(
        "aws_sqs_queue",
        ("message_retention_seconds",),
        Lowered(),
        "messages waiting longer than the new retention are deleted (a dead-letter queue holds transactions that failed every retry)",
    ),
    Rule("aws_sqs_queue", ("kms_master_key_id",), Cleared(), "messages are no longer encrypted with a KMS key"),
    Rule(
        "aws_secretsmanager_secret",
        ("recovery_window_in_days",),
        Lowered(),
        "fewer days to restore the secret after it is deleted; 0 deletes it at once",
    ),
    # S3: the Terraform state bucket
    Rule(
        "aws_s3_bucket",
        ("force_destroy",),
        Turned(unsafe=True),
        "destroying the bucket deletes every object in it (the state bucket: every environment's state)",
    ),
    Rule(
        "aws_s3_bucket_versioning",
        ("versioning_configuration", 0, "status"),
        BecomesOneOf(frozenset({"Suspended", "Disabled"})),
        "an overwritten or deleted object (a state file) can no longer be restored from an older version",
    ),
    Rule(
        "aws_s3_bucket_lifecycle_configuration",
        ("rule", ANY, "noncurrent_version_expiration", ANY, "noncurrent_days"),
        Lowered(absent_is_forever=True),
        "older versions (earlier state) are deleted sooner",
    ),
    Rule(
        "aws_s3_bucket_lifecycle_configuration",
        ("rule", ANY, "expiration", ANY, "days"),
        Lowered(absent_is_forever=True),
        "current objects expire: the state files themselves are deleted",
    ),
    Rule(
        "aws_s3_bucket_policy",
        ("policy",),
        DocumentChanges(),
        "who may read, write or delete the bucket's objects (the state bucket: every environment's state)",
    ),
    *(
        Rule(
            "aws_s3_bucket_public_access_block",
            (flag,),
            Turned(unsafe=False, on_create=True),
            "the bucket's objects can be made public",
        )
        for flag in PUBLIC_ACCESS_FLAGS
    ),
    # Network: nothing is reachable from the internet
    Rule("aws_security_group", ("ingress",), OpensToInternet("ingress"), EXPOSED),
    Rule("aws_default_security_group", ("ingress",), OpensToInternet("ingress"), EXPOSED),
    Rule("aws_vpc_security_group_ingress_rule", ("cidr_ipv4",), OpensToInternet("cidr_ipv4"), EXPOSED),
    Rule("aws_vpc_security_group_ingress_rule", ("cidr_ipv6",), OpensToInternet("cidr_ipv6"), EXPOSED),
    Rule(
        "aws_security_group_rule",
        ("cidr_blocks",),
        OpensToInternet("cidr_blocks"),
        EXPOSED,
        only_if=("type", "ingress"),
    ),
    Rule(
        "aws_security_group_rule",
        ("ipv6_cidr_blocks",),
        OpensToInternet("ipv6_cidr_blocks"),
        EXPOSED,
        only_if=("type", "ingress"),
    ),
)

RULES_BY_TYPE: Mapping[str, tuple[Rule, ...]] = {
    rtype: tuple(rule for rule in RULES if rule.type == rtype) for rtype in dict.fromkeys(rule.type for rule in RULES)
}

#: The ``actions`` of a change whose values are judged: the rules see old against new, or a new resource.
JUDGED_ACTIONS = (["update"], ["create"], ["delete", "create"], ["create", "delete"])


@dataclass(frozen=True)
class Damage:
    """One rule that a change trips, with the old and new values to show (masked where sensitive)."""

    rule: Rule
    before: Any
    after: Any


def value_at(tree: Any, path: tuple[Step, ...]) -> Any:
    """The value at ``path`` (None where absent); with ``ANY`` in the path, the list of every value found."""
    for index, step in enumerate(path):
        if step == ANY:
            rest = path[index + 1 :]
            found: list[Any] = []
            for item in tree if isinstance(tree, list) else []:
                value = value_at(item, rest)
                if ANY in rest:
                    found.extend(value)
                elif value is not None:
                    found.append(value)
            return found
        if isinstance(step, int):
            tree = tree[step] if isinstance(tree, list) and step < len(tree) else None
        else:
            tree = tree.get(step) if isinstance(tree, dict) else None
    return tree


def marked_at(tree: Any, path: tuple[Step, ...]) -> bool:
    """Whether a ``*_sensitive`` / ``after_unknown`` tree marks anything at or below ``path``."""
    if tree is True or not path:
        return contains_true(tree)
    step, rest = path[0], path[1:]
    if step == ANY:
        return isinstance(tree, list) and any(marked_at(item, rest) for item in tree)
    if isinstance(step, int):
        return isinstance(tree, list) and step < len(tree) and marked_at(tree[step], rest)
    return isinstance(tree, dict) and marked_at(tree.get(step, False), rest)


def find_damage(item: Mapping[str, Any]) -> tuple[Damage, ...]:
    """Every rule one ``resource_changes`` entry trips (none for a destroy, a read, a no-op or a deposed object)."""
    change = item["change"]
    if item.get("mode", "managed") != "managed" or item.get("deposed") or change["actions"] not in JUDGED_ACTIONS:
        return ()
    before, after = change.get("before"), change.get("after")
    creating = before is None
    found: list[Damage] = []
    for rule in RULES_BY_TYPE.get(str(item.get("type", "")), ()):
        if not rule.applies_to(after):
            continue
        old, new = value_at(before, rule.path), value_at(after, rule.path)
        if marked_at(change.get("after_unknown"), rule.path):
            if not rule.check.judges_unknown:
                continue
            new = Marker(UNKNOWN)
        shown = rule.check.judge(old, new, creating)
        if shown is None:
            continue
        shown_old = Marker(SENSITIVE) if marked_at(change.get("before_sensitive"), rule.path) else shown[0]
        shown_new = Marker(SENSITIVE) if marked_at(change.get("after_sensitive"), rule.path) else shown[1]
        found.append(Damage(rule, shown_old, shown_new))
    return tuple(found)
