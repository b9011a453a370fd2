"""AWS emulator for tests and tools: moto in server mode, in-process, on 127.0.0.1, plus documented gap patches.

Usage::

    from tools.emulator import start_emulator
    emu = start_emulator()            # ThreadedMotoServer on 127.0.0.1:<free port>, gap patches applied
    emu.endpoint                      # "http://127.0.0.1:<port>" -> JAPANCART_AWS_ENDPOINT for `python main.py`
    emu.terraform_env()               # env for terraform runs (test credentials, region, no IMDS)
    emu.client("kinesis")             # boto3 client pointed at the emulator
    emu.reset(); emu.stop()

From a shell (``make emulator``; docs/deploying.md, "Trying it against the local emulator")::

    python -m tools.emulator [--port 4566] [--dir build/emulator]
    # prints the exports for make bootstrap/deploy/diff/destroy (also in <dir>/env.sh) and runs until
    # Ctrl-C or SIGTERM; <dir>/terraform.tfrc: providers from the mirror (or the registry), trial only;
    # <dir>/environments.toml: the shipped configuration filled in for the trial (one account: moto's)

Real plan JSON of a stack against the emulator (e.g. for the plan-risk report)::

    from tools.terraform import TerraformCLI, copy_stack, local_backend_args, synthesize
    env = {"JAPANCART_AWS_ENDPOINT": emu.endpoint, "JAPANCART_CONFIG": str(write_trial_config(tmp, emu))}
    tf = TerraformCLI.create(tmp / "tf", extra_env=emu.terraform_env())
    boot = copy_stack(synthesize(tmp / "boot", env, stacks=("bootstrap",)) / "bootstrap", tmp)  # the bucket, the keys
    tf.init(boot, extra=local_backend_args(boot)).check(); tf.apply(boot).check()
    keys = json.dumps(tf.output_json(boot)["state_key_arns"]["value"])
    stacks = synthesize(tmp / "cdktf.out", {**env, "JAPANCART_STATE_KEYS": keys})
    dev = copy_stack(stacks / "dev", tmp); tf.init(dev).check()   # real S3 backend in the emulator
    plan = tf.plan_json(dev)                                      # `terraform show -json` of a saved plan

Gap patches (``GAPS``) are small, documented extensions of moto's backends, applied to the classes in this
process, hence to the in-process server.  They never touch the product.  Each one exists because the real
Terraform AWS provider, talking to moto 5.2.5, would otherwise fail or show a perpetual diff where real AWS
would not.  ``apply_gap_patches()`` is idempotent; ``GAPS`` lists what each patch does (for docs/testing.md).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

REGION = "ap-northeast-1"
TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}

#: (name, what moto 5.2.5 does, what the patch does) -- keep in sync with the patch functions below.
GAPS: list[tuple[str, str, str]] = []
_applied: set[str] = set()
_lock = threading.Lock()


def _gap(name: str, problem: str, fix: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    def deco(fn: Callable[[], None]) -> Callable[[], None]:
        GAPS.append((name, problem, fix))
        fn.gap_name = name  # type: ignore[attr-defined]
        _PATCHES.append(fn)
        return fn

    return deco


_PATCHES: list[Callable[[], None]] = []


# --------------------------------------------------------------------------------------------------------
# ElastiCache
# --------------------------------------------------------------------------------------------------------
@_gap(
    "elasticache-replication-group-members",
    "CreateReplicationGroup lists member clusters <id>-001.. but never registers them, so "
    "DescribeCacheClusters(<id>-001) -> CacheClusterNotFound (the provider reads the first member after "
    "create and on every refresh); with cluster mode disabled it also ignores NumCacheClusters (only "
    "ReplicasPerNodeGroup counts), so num_cache_clusters=2 came back as 1 member (perpetual diff).",
    "After CreateReplicationGroup: honour NumCacheClusters for the member list and register each member as "
    "a CacheCluster that mirrors the group's settings (node type, engine/version, parameter group, subnet "
    "group, security groups, windows, encryption flags, auth token, AZ).",
)
def _patch_elasticache_members() -> None:
    from moto.elasticache import models as ec

    backend_cls = ec.ElastiCacheBackend
    original = backend_cls.create_replication_group

    def create_replication_group(self: Any, *args: Any, **kwargs: Any) -> Any:
        rg = original(self, *args, **kwargs)
        num = kwargs.get("num_cache_clusters")
        if rg.cluster_mode != "enabled" and num and not kwargs.get("replicas_per_node_group") and len(rg.member_clusters) != int(num):
            ng = rg.node_groups[0]
            domain = ng["primary_endpoint_address"].split(".", 1)[1]
            ng["node_group_members"] = []
            rg.member_clusters.clear()
            rg._set_node_members_clusters_disabled(
                member_clusters=rg.member_clusters,
                replication_group_id=rg.replication_group_id,
                replication_group_domain=domain,
                node_group=ng,
                preferred_cache_cluster_azs=kwargs.get("preferred_cache_cluster_azs") or [f"{self.region_name}a", f"{self.region_name}c"],
                num_cache_clusters=int(num),
                replicas_per_node_group=int(num) - 1,
            )
        azs = {m["cache_cluster_id"]: m.get("preferred_availability_zone") for g in rg.node_groups for m in g.get("node_group_members", [])}
        for member_id in rg.member_clusters:
            if member_id in self.cache_clusters:
                continue
            cluster = ec.CacheCluster(
                account_id=self.account_id,
                region_name=self.region_name,
                cache_cluster_id=member_id,
                cache_node_type=rg.cache_node_type,
                replication_group_id=rg.replication_group_id,
                az_mode="single-az",
                preferred_availability_zone=azs.get(member_id),
                num_cache_nodes=1,
                engine=rg.engine,
                engine_version=rg.engine_version,
                cache_parameter_group_name=rg.cache_parameter_group_name,
                cache_subnet_group_name=rg.cache_subnet_group_name,
                transit_encryption_enabled=rg.transit_encryption_enabled,
                network_type=rg.network_type,
                ip_discovery=rg.ip_discovery,
                snapshot_name=None,
                preferred_maintenance_window=rg.preferred_maintenance_window,
                port=rg.port,
                notification_topic_arn=rg.notification_topic_arn,
                auto_minor_version_upgrade=rg.auto_minor_version_upgrade,
                snapshot_retention_limit=rg.snapshot_retention_limit,
                snapshot_window=rg.snapshot_window,
                auth_token=kwargs.get("auth_token"),
                outpost_mode=None,
                preferred_outpost_arn=None,
                preferred_availability_zones=None,
                cache_security_group_names=rg.cache_security_group_names,
                security_group_ids=rg.security_group_ids,
                tags=None,
                snapshot_arns=None,
                preferred_outpost_arns=None,
                log_delivery_configurations=[],
                cache_node_ids_to_remove=None,
                cache_node_ids_to_reboot=None,
            )
            cluster.num_cache_nodes = 1
            # Shapes the provider reads from the member (setFromCacheCluster and friends).
            cluster.at_rest_encryption_enabled = rg.at_rest_encryption_enabled
            cluster.transit_encryption_mode = rg.transit_encryption_mode
            cluster.cache_parameter_group = {"CacheParameterGroupName": rg.cache_parameter_group_name or "default.redis7", "ParameterApplyStatus": "in-sync"}
            cluster.security_groups = [{"SecurityGroupId": sg, "Status": "active"} for sg in (rg.security_group_ids or [])]
            cluster.cache_nodes = [{"CacheNodeId": "0001", "CacheNodeStatus": "available", "Endpoint": {"Address": f"{member_id}.emulator.cache.amazonaws.com", "Port": rg.port}}]
            self.cache_clusters[member_id] = cluster
        return rg

    backend_cls.create_replication_group = create_replication_group


@_gap(
    "elasticache-replication-group-delete",
    "DeleteReplicationGroup only sets status 'deleting' and keeps the group (and members) forever, so the "
    "provider's deletion waiter polls until its 40-minute timeout.",
    "After DeleteReplicationGroup returns the 'deleting' group, forget the group and its member clusters "
    "(as AWS does once deletion completes).",
)
def _patch_elasticache_delete() -> None:
    from moto.elasticache import models as ec

    backend_cls = ec.ElastiCacheBackend
    original = backend_cls.delete_replication_group

    def delete_replication_group(self: Any, replication_group_id: str, retain_primary_cluster: Optional[bool]) -> Any:
        members = list(self.replication_groups[replication_group_id].member_clusters) if replication_group_id in self.replication_groups else []
        rg = original(self, replication_group_id, retain_primary_cluster)
        self.replication_groups.pop(replication_group_id, None)
        for member in members + list(rg.member_clusters):
            self.cache_clusters.pop(member, None)
        return rg

    backend_cls.delete_replication_group = delete_replication_group


@_gap(
    "elasticache-delete-cache-subnet-group",
    "DeleteCacheSubnetGroup is not implemented (HTTP 500 NotImplementedError); the provider retries 5xx, so "
    "destroying an aws_elasticache_subnet_group hangs until its timeout.",
    "Add DeleteCacheSubnetGroup: forget the group (CacheSubnetGroupNotFoundFault if unknown), empty result.",
)
def _patch_elasticache_delete_subnet_group() -> None:
    from moto.core.responses import EmptyResult
    from moto.elasticache import exceptions as exc
    from moto.elasticache import models as ec
    from moto.elasticache import responses as rs

    def delete_cache_subnet_group(self: Any, cache_subnet_group_name: str) -> None:
        if cache_subnet_group_name not in self.cache_subnet_groups:
            raise exc.CacheSubnetGroupNotFound(cache_subnet_group_name)
        del self.cache_subnet_groups[cache_subnet_group_name]

    def delete_cache_subnet_group_response(self: Any) -> Any:
        self.elasticache_backend.delete_cache_subnet_group(self._get_param("CacheSubnetGroupName"))
        return EmptyResult()

    if not hasattr(ec.ElastiCacheBackend, "delete_cache_subnet_group"):
        ec.ElastiCacheBackend.delete_cache_subnet_group = delete_cache_subnet_group
    if not hasattr(rs.ElastiCacheResponse, "delete_cache_subnet_group"):
        rs.ElastiCacheResponse.delete_cache_subnet_group = delete_cache_subnet_group_response


@_gap(
    "elasticache-parameter-groups",
    "Cache parameter groups are not implemented at all (Create/Describe/Modify/Reset/Delete"
    "CacheParameterGroup, DescribeCacheParameters): aws_elasticache_parameter_group cannot be created, and "
    "ListTagsForResource rejects parametergroup ARNs.",
    "A minimal in-memory implementation: groups with name/family/description/ARN/tags, user-set parameters "
    "(Source=user) stored by Modify, cleared by Reset, CacheParameterGroupNotFound/"
    "CacheParameterGroupAlreadyExists errors; parametergroup ARNs accepted for tagging.",
)
def _patch_elasticache_parameter_groups() -> None:
    from moto.core.exceptions import ServiceException
    from moto.core.responses import ActionResult, EmptyResult
    from moto.elasticache import models as ec
    from moto.elasticache import responses as rs
    from moto.utilities.utils import get_partition

    class CacheParameterGroupNotFound(ServiceException):
        code = "CacheParameterGroupNotFound"

    class CacheParameterGroupAlreadyExists(ServiceException):
        code = "CacheParameterGroupAlreadyExists"

    backend_cls = ec.ElastiCacheBackend
    original_init = backend_cls.__init__

    def __init__(self: Any, region_name: str, account_id: str) -> None:
        original_init(self, region_name, account_id)
        self.arn_regex = ec.re_compile(r"^arn:aws:elasticache:.*:[0-9]*:(cluster|snapshot|subnetgroup|replicationgroup|user|parametergroup):.*$")
        self.cache_parameter_groups: dict[str, dict[str, Any]] = {}

    def _group(self: Any, name: str) -> dict[str, Any]:
        groups = getattr(self, "cache_parameter_groups", {})
        if name not in groups:
            raise CacheParameterGroupNotFound(f"CacheParameterGroup {name} not found.")
        return groups[name]

    def _parameters(params: Any) -> list[tuple[str, str]]:
        # query protocol: ParameterNameValues.ParameterNameValue.N.{ParameterName,ParameterValue}
        if isinstance(params, dict):
            params = params.get("ParameterNameValue") or list(params.values())
        if isinstance(params, dict):
            params = [params]
        return [(p["ParameterName"], str(p.get("ParameterValue", ""))) for p in (params or [])]

    def create(self: Any) -> Any:
        backend = self.elasticache_backend
        name = self._get_param("CacheParameterGroupName")
        if not hasattr(backend, "cache_parameter_groups"):
            backend.cache_parameter_groups = {}
        if name in backend.cache_parameter_groups:
            raise CacheParameterGroupAlreadyExists(f"Parameter group {name} already exists.")
        arn = f"arn:{get_partition(backend.region_name)}:elasticache:{backend.region_name}:{backend.account_id}:parametergroup:{name}"
        group = {
            "CacheParameterGroupName": name,
            "CacheParameterGroupFamily": self._get_param("CacheParameterGroupFamily"),
            "Description": self._get_param("Description"),
            "IsGlobal": False,
            "ARN": arn,
            "_parameters": {},
        }
        backend.cache_parameter_groups[name] = group
        tags = self._get_param("Tags")
        if isinstance(tags, dict):
            tags = tags.get("Tag") or []
        if tags:
            backend.tagging_service.tag_resource(arn, tags if isinstance(tags, list) else [tags])
        return ActionResult({"CacheParameterGroup": {k: v for k, v in group.items() if not k.startswith("_")}})

    def describe(self: Any) -> Any:
        backend = self.elasticache_backend
        name = self._get_param("CacheParameterGroupName")
        groups = [_group(backend, name)] if name else list(getattr(backend, "cache_parameter_groups", {}).values())
        return ActionResult({"CacheParameterGroups": [{k: v for k, v in g.items() if not k.startswith("_")} for g in groups]})

    def describe_parameters(self: Any) -> Any:
        group = _group(self.elasticache_backend, self._get_param("CacheParameterGroupName"))
        source = self._get_param("Source")
        params = [
            {"ParameterName": k, "ParameterValue": v, "Source": "user", "DataType": "string", "IsModifiable": True, "ChangeType": "immediate"}
            for k, v in sorted(group["_parameters"].items())
        ]
        if source and source != "user":
            params = []
        return ActionResult({"Parameters": params, "CacheNodeTypeSpecificParameters": []})

    def modify(self: Any) -> Any:
        name = self._get_param("CacheParameterGroupName")
        group = _group(self.elasticache_backend, name)
        for key, value in _parameters(self._get_param("ParameterNameValues")):
            group["_parameters"][key] = value
        return ActionResult({"CacheParameterGroupName": name})

    def reset(self: Any) -> Any:
        name = self._get_param("CacheParameterGroupName")
        group = _group(self.elasticache_backend, name)
        if str(self._get_param("ResetAllParameters")).lower() == "true":
            group["_parameters"].clear()
        for key, _ in _parameters(self._get_param("ParameterNameValues")):
            group["_parameters"].pop(key, None)
        return ActionResult({"CacheParameterGroupName": name})

    def delete(self: Any) -> Any:
        backend = self.elasticache_backend
        _group(backend, self._get_param("CacheParameterGroupName"))
        del backend.cache_parameter_groups[self._get_param("CacheParameterGroupName")]
        return EmptyResult()

    backend_cls.__init__ = __init__
    for action, fn in {
        "create_cache_parameter_group": create,
        "describe_cache_parameter_groups": describe,
        "describe_cache_parameters": describe_parameters,
        "modify_cache_parameter_group": modify,
        "reset_cache_parameter_group": reset,
        "delete_cache_parameter_group": delete,
    }.items():
        if not hasattr(rs.ElastiCacheResponse, action):
            setattr(rs.ElastiCacheResponse, action, fn)


@_gap(
    "elasticache-user-groups",
    "RBAC user groups are not implemented (Create/Describe/Modify/DeleteUserGroup), and ListTagsForResource "
    "rejects usergroup ARNs: aws_elasticache_user_group cannot be created, so neither can a replication group "
    "with user_group_ids.",
    "A minimal in-memory implementation with AWS's checks: every user id must exist (UserNotFound), the group "
    "must hold a user named 'default' (DefaultUserRequired), ids are unique (UserGroupAlreadyExists) and stored "
    "lowercase; groups are active at once, DescribeUserGroups lists the replication groups using them, delete "
    "forgets them (UserGroupNotFound afterwards); usergroup ARNs accepted for tagging.",
)
def _patch_elasticache_user_groups() -> None:
    from moto.core.exceptions import ServiceException
    from moto.core.responses import ActionResult
    from moto.elasticache import models as ec
    from moto.elasticache import responses as rs
    from moto.utilities.utils import get_partition

    class UserGroupNotFound(ServiceException):
        code = "UserGroupNotFound"

    class UserGroupAlreadyExists(ServiceException):
        code = "UserGroupAlreadyExists"

    class DefaultUserRequired(ServiceException):
        code = "DefaultUserRequired"

    class UserNotFound(ServiceException):
        code = "UserNotFound"

    backend_cls = ec.ElastiCacheBackend
    original_init = backend_cls.__init__

    def __init__(self: Any, region_name: str, account_id: str) -> None:
        original_init(self, region_name, account_id)
        self.arn_regex = ec.re_compile(r"^arn:aws:elasticache:.*:[0-9]*:(cluster|snapshot|subnetgroup|replicationgroup|"
                                       r"user|usergroup|parametergroup):.*$")
        self.user_groups: dict[str, dict[str, Any]] = {}

    def _groups(backend: Any) -> dict[str, dict[str, Any]]:
        if not hasattr(backend, "user_groups"):
            backend.user_groups = {}
        return backend.user_groups

    def _ids(value: Any) -> list[str]:
        # query protocol: UserIds.member.N (already a list) or a dict of members
        if isinstance(value, dict):
            value = value.get("member") or list(value.values())
        if isinstance(value, str):
            value = [value]
        return list(value or [])

    def _check_users(backend: Any, user_ids: list[str]) -> None:
        for user_id in user_ids:
            if user_id not in backend.users:
                raise UserNotFound(f"User {user_id} not found.")
        if user_ids and not any(backend.users[u].name == "default" for u in user_ids):
            raise DefaultUserRequired("User group needs to contain a user with the user name default.")

    def _view(backend: Any, group: dict[str, Any]) -> dict[str, Any]:
        using = [rg_id for rg_id, rg in backend.replication_groups.items() if group["UserGroupId"] in (rg.user_group_ids or [])]
        return {**{k: v for k, v in group.items() if not k.startswith("_")}, "ReplicationGroups": using,
                "PendingChanges": {}}

    def create(self: Any) -> Any:
        backend = self.elasticache_backend
        group_id = (self._get_param("UserGroupId") or "").lower()
        if group_id in _groups(backend):
            raise UserGroupAlreadyExists(f"User group {group_id} already exists.")
        user_ids = _ids(self._get_param("UserIds"))
        _check_users(backend, user_ids)
        arn = f"arn:{get_partition(backend.region_name)}:elasticache:{backend.region_name}:{backend.account_id}:usergroup:{group_id}"
        group = {"UserGroupId": group_id, "Status": "active", "Engine": (self._get_param("Engine") or "redis").lower(),
                 "UserIds": user_ids, "MinimumEngineVersion": "6.0", "ARN": arn}
        _groups(backend)[group_id] = group
        tags = self._get_param("Tags")
        if isinstance(tags, dict):
            tags = tags.get("Tag") or []
        if tags:
            backend.tagging_service.tag_resource(arn, tags if isinstance(tags, list) else [tags])
        return ActionResult(_view(backend, group))

    def describe(self: Any) -> Any:
        backend = self.elasticache_backend
        group_id = self._get_param("UserGroupId")
        if group_id:
            if group_id.lower() not in _groups(backend):
                raise UserGroupNotFound(f"User group {group_id} not found.")
            groups = [_groups(backend)[group_id.lower()]]
        else:
            groups = list(_groups(backend).values())
        return ActionResult({"UserGroups": [_view(backend, g) for g in groups]})

    def modify(self: Any) -> Any:
        backend = self.elasticache_backend
        group_id = (self._get_param("UserGroupId") or "").lower()
        if group_id not in _groups(backend):
            raise UserGroupNotFound(f"User group {group_id} not found.")
        group = _groups(backend)[group_id]
        remove = set(_ids(self._get_param("UserIdsToRemove")))
        users = [u for u in group["UserIds"] if u not in remove]
        users += [u for u in _ids(self._get_param("UserIdsToAdd")) if u not in users]
        _check_users(backend, users)
        group["UserIds"] = users
        return ActionResult(_view(backend, group))

    def delete(self: Any) -> Any:
        backend = self.elasticache_backend
        group_id = (self._get_param("UserGroupId") or "").lower()
        if group_id not in _groups(backend):
            raise UserGroupNotFound(f"User group {group_id} not found.")
        group = _groups(backend).pop(group_id)
        return ActionResult({**_view(backend, group), "Status": "deleting"})

    backend_cls.__init__ = __init__
    for action, fn in {
        "create_user_group": create,
        "describe_user_groups": describe,
        "modify_user_group": modify,
        "delete_user_group": delete,
    }.items():
        if not hasattr(rs.ElastiCacheResponse, action):
            setattr(rs.ElastiCacheResponse, action, fn)


@_gap(
    "elasticache-users",
    "ModifyUser is not implemented, so changing an aws_elasticache_user in place (its access string or how it "
    "signs in, e.g. a default user moved to no_password_required) fails; DeleteUser deletes a default user "
    "that a user group still holds (AWS: DefaultUserAssociatedToUserGroup) and leaves a deleted user in its "
    "groups (AWS takes it out of every group).",
    "ModifyUser sets the access string, passwords, NoPasswordRequired or AuthenticationMode as CreateUser "
    "takes them (a password user no longer has a password once it needs none or uses IAM); DeleteUser refuses "
    "a 'default' user held by a group with DefaultUserAssociatedToUserGroup and removes any other user from "
    "its groups.",
)
def _patch_elasticache_users() -> None:
    from moto.core.exceptions import ServiceException
    from moto.core.responses import ActionResult
    from moto.elasticache import responses as rs
    from moto.elasticache.exceptions import UserNotFound

    class DefaultUserAssociatedToUserGroup(ServiceException):
        code = "DefaultUserAssociatedToUserGroup"

    def modify_user(self: Any) -> Any:
        params = self._get_params()
        user = self.elasticache_backend.users.get(params.get("UserId"))
        if user is None:
            raise UserNotFound(params.get("UserId"))
        if params.get("AccessString"):
            user.access_string = params["AccessString"]
        mode = params.get("AuthenticationMode") or {}
        passwords = params.get("Passwords") or mode.get("Passwords") or []
        if self._get_bool_param("NoPasswordRequired"):
            user.no_password_required, user.authentication_type, user.passwords = True, "no-password-required", []
        elif mode.get("Type"):
            user.no_password_required, user.authentication_type, user.passwords = False, mode["Type"], list(passwords)
        elif passwords:
            user.no_password_required, user.authentication_type, user.passwords = False, "password", list(passwords)
        return ActionResult(user)

    original_delete = rs.ElastiCacheResponse.delete_user

    def delete_user(self: Any) -> Any:
        backend = self.elasticache_backend
        user_id = self._get_param("UserId")
        user = backend.users.get(user_id)
        holding = [g for g in getattr(backend, "user_groups", {}).values() if user_id in g["UserIds"]]
        if user is not None and user.name == "default" and holding:
            raise DefaultUserAssociatedToUserGroup(
                "User is associated to user group(s) as a default user and can't be deleted.")
        for group in holding:
            group["UserIds"] = [u for u in group["UserIds"] if u != user_id]
        return original_delete(self)

    if not hasattr(rs.ElastiCacheResponse, "modify_user"):
        rs.ElastiCacheResponse.modify_user = modify_user
    rs.ElastiCacheResponse.delete_user = delete_user


# --------------------------------------------------------------------------------------------------------
# Every service
# --------------------------------------------------------------------------------------------------------
@_gap(
    "not-implemented-fails-fast",
    "An action moto does not implement raises NotImplementedError, served as HTTP 500; the AWS SDK retries "
    "5xx, so Terraform hangs for many minutes on any unimplemented call instead of failing.",
    "Serve NotImplementedError as a non-retryable 400 'EmulatorNotImplemented' error naming the action, "
    "so a new gap fails the run at once with a clear message (then add a patch here).",
)
def _patch_not_implemented_fails_fast() -> None:
    from moto.core.exceptions import ServiceException
    from moto.core.responses import ActionResult, BaseResponse

    class EmulatorNotImplemented(ServiceException):
        code = "EmulatorNotImplemented"

    original = BaseResponse.call_action

    def call_action(self: Any) -> Any:
        try:
            return original(self)
        except NotImplementedError as error:
            message = f"emulator gap (moto): {error} [{getattr(self, 'service_name', '?')}]"
            logging.getLogger(__name__).error(message)
            try:
                status, headers, body = self.serialized(ActionResult(EmulatorNotImplemented(message)))
            except Exception:  # noqa: BLE001 -- never turn a gap report into a 500
                return 400, {"Content-Type": "text/plain"}, message
            return (status if status >= 400 and status != 500 else 400), headers, body

    BaseResponse.call_action = call_action


# --------------------------------------------------------------------------------------------------------
# RDS
# --------------------------------------------------------------------------------------------------------
@_gap(
    "rds-unique-dbi-resource-id",
    "Every DB instance gets the same hard-coded DbiResourceId (db-M5ENSHXFPU6XHZ4G4ZEI5QIO2U).  The provider "
    "keys aws_db_instance on that id and reads it back with the dbi-resource-id filter, so as soon as two "
    "instances exist (dev and prod side by side) the read matches two and fails with 'couldn't find resource'.",
    "Give each new DB instance a unique random DbiResourceId of the real shape (db- + 26 base32 characters).",
)
def _patch_rds_dbi_resource_id() -> None:
    import base64
    import uuid

    from moto.rds import models as rds

    original = rds.DBInstance.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.dbi_resource_id = "db-" + base64.b32encode(uuid.uuid4().bytes).decode()[:26]

    rds.DBInstance.__init__ = __init__


@_gap(
    "rds-performance-insights",
    "CreateDBInstance/ModifyDBInstance ignore EnablePerformanceInsights, PerformanceInsightsKMSKeyId and "
    "PerformanceInsightsRetentionPeriod and DescribeDBInstances never returns them: perpetual diff "
    "performance_insights_enabled false -> true.",
    "Store the three settings on the instance (create and modify) so they are returned like AWS does.",
)
def _patch_rds_performance_insights() -> None:
    from moto.rds import models as rds

    def remember(db: Any, kwargs: dict[str, Any]) -> None:
        if kwargs.get("enable_performance_insights") is not None:
            db.performance_insights_enabled = bool(kwargs["enable_performance_insights"])
        if kwargs.get("performance_insights_kms_key_id"):
            db.performance_insights_kms_key_id = kwargs["performance_insights_kms_key_id"]
        if kwargs.get("performance_insights_retention_period") is not None:
            db.performance_insights_retention_period = int(kwargs["performance_insights_retention_period"])
        if getattr(db, "performance_insights_enabled", False) and not getattr(db, "performance_insights_retention_period", None):
            db.performance_insights_retention_period = 7  # AWS default

    original_init, original_update = rds.DBInstance.__init__, rds.DBInstance.update

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.performance_insights_enabled = False
        remember(self, kwargs)

    def update(self: Any, **kwargs: Any) -> None:
        original_update(self, **kwargs)
        remember(self, kwargs)

    rds.DBInstance.__init__, rds.DBInstance.update = __init__, update


@_gap(
    "rds-parameter-source",
    "DescribeDBParameters returns the parameters set with ModifyDBParameterGroup without Source=user (and "
    "ignores the Source filter); the provider keeps only user parameters, so every configured parameter "
    "shows as a perpetual '+ parameter' diff.",
    "Mark parameters set through ModifyDBParameterGroup as Source=user and honour the Source filter.",
)
def _patch_rds_parameter_source() -> None:
    from moto.core.responses import ActionResult
    from moto.rds import responses as rr
    from moto.rds.exceptions import DBParameterGroupNotFoundError

    def describe_db_parameters(self: Any) -> Any:
        name = self.params.get("DBParameterGroupName")
        groups = self.backend.describe_db_parameter_groups({"db_parameter_group_name": name})
        if not groups:
            raise DBParameterGroupNotFoundError(name)
        params = [{"Source": "user", "IsModifiable": True, **dict(p)} for p in groups[0].parameters.values()]
        source = self.params.get("Source")
        if source:
            params = [p for p in params if p.get("Source") == source]
        return ActionResult({"Parameters": params})

    rr.RDSResponse.describe_db_parameters = describe_db_parameters


@_gap(
    "rds-groups-in-use",
    "DeleteDBParameterGroup and DeleteDBSubnetGroup delete a group that a DB instance still uses; AWS refuses "
    "(InvalidDBParameterGroupState, InvalidDBSubnetGroupStateFault). After that every DescribeDBInstances fails "
    "with HTTP 500 (KeyError on the parameter group), so a destroy that leaves an instance behind (one Terraform "
    "never recorded) hangs on the VPC instead of failing on the group.",
    "Refuse both deletes with AWS's error codes while an instance uses the group.",
)
def _patch_rds_groups_in_use() -> None:
    from moto.rds import models as rds
    from moto.rds.exceptions import RDSClientError

    backend_cls = rds.RDSBackend
    delete_parameter_group, delete_subnet_group = backend_cls.delete_db_parameter_group, backend_cls.delete_subnet_group

    def users(backend: Any, group_of: Callable[[Any], Optional[str]], name: str) -> list[str]:
        return sorted(db_id for db_id, db in backend.databases.items() if group_of(db) == name)

    def parameter_group(db: Any) -> Optional[str]:
        return getattr(db, "db_parameter_group_name", None)

    def subnet_group(db: Any) -> Optional[str]:  # moto's db_subnet_group_name is write-only; the group object is not
        return getattr(getattr(db, "db_subnet_group", None), "name", None)

    def delete_db_parameter_group(self: Any, db_parameter_group_name: str) -> Any:
        if users(self, parameter_group, db_parameter_group_name):
            raise RDSClientError("InvalidDBParameterGroupState", "One or more database instances are still members of "
                                 f"this parameter group {db_parameter_group_name}, so the group cannot be deleted")
        return delete_parameter_group(self, db_parameter_group_name)

    def delete_db_subnet_group(self: Any, subnet_name: str) -> Any:
        using = users(self, subnet_group, subnet_name)
        if using:
            raise RDSClientError("InvalidDBSubnetGroupStateFault", f"Cannot delete the subnet group '{subnet_name}' "
                                 f"because at least one database instance: {using[0]} is still using it.")
        return delete_subnet_group(self, subnet_name)

    backend_cls.delete_db_parameter_group = delete_db_parameter_group
    backend_cls.delete_subnet_group = delete_db_subnet_group


# --------------------------------------------------------------------------------------------------------
# Kinesis, Lambda, EC2
# --------------------------------------------------------------------------------------------------------
@_gap(
    "kinesis-create-stream-tags",
    "CreateStream drops its Tags parameter, so a stream created with tags (provider default_tags) has none: "
    "perpetual tags_all diff.",
    "After CreateStream, apply the request's Tags with the backend's own add_tags_to_stream.",
)
def _patch_kinesis_create_stream_tags() -> None:
    from moto.kinesis import responses as kr

    original = kr.KinesisResponse.create_stream

    def create_stream(self: Any) -> Any:
        result = original(self)
        tags = self._get_param("Tags")
        if tags:
            self.kinesis_backend.add_tags_to_stream(None, self._get_param("StreamName"), tags)
        return result

    kr.KinesisResponse.create_stream = create_stream


@_gap(
    "sns-delivery-status-attributes",
    "CreateTopic/SetTopicAttributes store the delivery-status attributes (<Protocol>SuccessFeedbackRoleArn, "
    "<Protocol>FailureFeedbackRoleArn, <Protocol>SuccessFeedbackSampleRate) on the topic, but "
    "GetTopicAttributes never returns them: perpetual diff on every *_feedback_* argument of aws_sns_topic.",
    "Return the stored delivery-status attributes from GetTopicAttributes, as AWS does.",
)
def _patch_sns_delivery_status_attributes() -> None:
    from moto.core.utils import camelcase_to_underscores
    from moto.sns import responses as sr

    names = [f"{protocol}{outcome}" for protocol in ("Application", "Firehose", "HTTP", "Lambda", "SQS")
             for outcome in ("SuccessFeedbackRoleArn", "FailureFeedbackRoleArn", "SuccessFeedbackSampleRate")]
    original = sr.SNSResponse.get_topic_attributes

    def get_topic_attributes(self: Any) -> Any:
        result = original(self)
        topic = self.backend.get_topic(self._get_param("TopicArn"))
        attributes = result.result["Attributes"]
        for name in names:
            value = getattr(topic, camelcase_to_underscores(name), None)
            if value not in (None, ""):
                attributes[name] = str(value)
        return result

    sr.SNSResponse.get_topic_attributes = get_topic_attributes


#: moto's own switch for Lambda without Docker: Invoke returns the request payload as the function's result
#: instead of running the code in a container (moto.awslambda_simple).  Set on the server with
#: POST /moto-api/config by ``start_emulator`` (before any function exists: the switch selects a different
#: backend), restored by ``Emulator.stop``.
LAMBDA_WITHOUT_DOCKER = {"lambda": {"use_docker": False}}
GAPS.append((
    "lambda-invoke-without-docker",
    "Invoke runs the function's code in a Docker container (lambci/lambda images); this machine has no Docker, "
    "so aws_lambda_invocation (the schema migration run) fails.",
    "moto's documented config {'lambda': {'use_docker': False}} (POST /moto-api/config at start): Invoke "
    "returns without executing and echoes the payload, so the run's `result` is the input it was given.",
))


@_gap(
    "lambda-dead-letter-and-logging-config",
    "CreateFunction/UpdateFunctionConfiguration drop DeadLetterConfig and LoggingConfig and "
    "GetFunction never returns them: perpetual diff on dead_letter_config and logging_config.",
    "Keep both on the function (AWS's default LoggingConfig is Text to /aws/lambda/<name>) and return them.",
)
def _patch_lambda_configs() -> None:
    from moto.awslambda import models as lm

    original_init = lm.LambdaFunction.__init__
    original_get = lm.LambdaFunction.get_configuration
    original_update = lm.LambdaFunction.update_configuration

    def __init__(self: Any, account_id: str, spec: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        original_init(self, account_id, spec, *args, **kwargs)
        self._emu_dead_letter_config = spec.get("DeadLetterConfig")
        self._emu_logging_config = {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{self.function_name}", **(spec.get("LoggingConfig") or {})}

    def get_configuration(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        config = original_get(self, *args, **kwargs)
        if getattr(self, "_emu_dead_letter_config", None):
            config["DeadLetterConfig"] = self._emu_dead_letter_config
        if getattr(self, "_emu_logging_config", None):
            config["LoggingConfig"] = self._emu_logging_config
        return config

    def update_configuration(self: Any, config_updates: dict[str, Any]) -> dict[str, Any]:
        if "DeadLetterConfig" in config_updates:
            self._emu_dead_letter_config = config_updates["DeadLetterConfig"] or None
        if "LoggingConfig" in config_updates:
            self._emu_logging_config = {**getattr(self, "_emu_logging_config", {}), **(config_updates["LoggingConfig"] or {})}
        return original_update(self, config_updates)

    lm.LambdaFunction.__init__ = __init__
    lm.LambdaFunction.get_configuration = get_configuration
    lm.LambdaFunction.update_configuration = update_configuration


@_gap(
    "ec2-security-group-rule-descriptions",
    "DescribeSecurityGroupRules returns a rule's Description only for CIDR rules: rules that reference a "
    "security group or a prefix list lose it (perpetual '+ description' diff on "
    "aws_vpc_security_group_ingress_rule/egress_rule).",
    "Return the description given with the referenced group (UserIdGroupPairs) or prefix list as well.",
)
def _patch_ec2_rule_descriptions() -> None:
    from moto.ec2.models import security_groups as sg

    original_init = sg.SecurityGroupRule.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        prefix = kwargs.get("prefix_list_id") if "prefix_list_id" in kwargs else (args[7] if len(args) > 7 else None)
        self._emu_prefix_description = prefix.get("Description") if isinstance(prefix, dict) else None

    def description(self: Any) -> Optional[str]:
        return (
            self.ip_range.get("Description")
            or (self.source_group or {}).get("Description")
            or getattr(self, "_emu_prefix_description", None)
        )

    sg.SecurityGroupRule.__init__ = __init__
    sg.SecurityGroupRule.description = property(description)


@_gap(
    "ec2-delete-subnet-acl-association",
    "DeleteSubnet keeps the deleted subnet's network ACL association, so DescribeNetworkAcls still lists the "
    "subnet and aws_default_network_acl.subnet_ids shows a perpetual '- subnet-...' diff once a subnet is "
    "destroyed (seen when the public subnets leave an environment); AWS drops the association with the subnet.",
    "After DeleteSubnet, drop the subnet's association from every network ACL.",
)
def _patch_ec2_delete_subnet_acl_association() -> None:
    from moto.ec2.models.subnets import SubnetBackend

    original = SubnetBackend.delete_subnet

    def delete_subnet(self: Any, subnet_id: str) -> Any:
        subnet = original(self, subnet_id)
        for acl in getattr(self, "network_acls", {}).values():
            for association_id in [a for a, assoc in acl._associations.items() if assoc.subnet_id == subnet_id]:
                del acl._associations[association_id]
        return subnet

    SubnetBackend.delete_subnet = delete_subnet


# --------------------------------------------------------------------------------------------------------
# IAM
# --------------------------------------------------------------------------------------------------------
@_gap(
    "iam-aws-managed-policies",
    "AWS managed policies are not loaded by default (MOTO_IAM_LOAD_MANAGED_POLICIES), so attaching e.g. "
    "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole fails with NoSuchEntity.",
    "Turn moto's own switch on for this process's IAM backends (moto.iam.models.load_iam_aws_managed_policies "
    "-> True) without changing the process environment.",
)
def _patch_iam_managed_policies() -> None:
    from moto.iam import models as iam

    iam.load_iam_aws_managed_policies = lambda: True


# --------------------------------------------------------------------------------------------------------
# S3 bucket policies
# --------------------------------------------------------------------------------------------------------
#: Request context the emulator stands in for: AWS endpoints are HTTPS, so requests arrive over TLS.
S3_POLICY_CONTEXT = {"aws:SecureTransport": "true"}
#: Request headers that S3 exposes as condition keys (``s3:<header>``).
S3_HEADER_KEYS = ("x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id")
_s3_request = threading.local()

#: Bucket sub-resources (query parameters) -> the IAM action S3 authorizes, per method. A bucket request with
#: none of them is ListBucket (GET/HEAD) or Create/DeleteBucket (PUT/DELETE).
_BUCKET_ACTIONS: dict[str, dict[str, str]] = {
    "GET": {"versions": "s3:ListBucketVersions", "uploads": "s3:ListBucketMultipartUploads",
            "policy": "s3:GetBucketPolicy", "policyStatus": "s3:GetBucketPolicyStatus",
            "versioning": "s3:GetBucketVersioning", "location": "s3:GetBucketLocation", "acl": "s3:GetBucketAcl",
            "tagging": "s3:GetBucketTagging", "encryption": "s3:GetEncryptionConfiguration",
            "lifecycle": "s3:GetLifecycleConfiguration", "publicAccessBlock": "s3:GetBucketPublicAccessBlock",
            "ownershipControls": "s3:GetBucketOwnershipControls", "logging": "s3:GetBucketLogging",
            "cors": "s3:GetBucketCORS", "website": "s3:GetBucketWebsite", "replication": "s3:GetReplicationConfiguration",
            "notification": "s3:GetBucketNotification", "accelerate": "s3:GetAccelerateConfiguration",
            "object-lock": "s3:GetBucketObjectLockConfiguration", "requestPayment": "s3:GetBucketRequestPayment"},
    "PUT": {"policy": "s3:PutBucketPolicy", "versioning": "s3:PutBucketVersioning", "acl": "s3:PutBucketAcl",
            "tagging": "s3:PutBucketTagging", "encryption": "s3:PutEncryptionConfiguration",
            "lifecycle": "s3:PutLifecycleConfiguration", "publicAccessBlock": "s3:PutBucketPublicAccessBlock",
            "ownershipControls": "s3:PutBucketOwnershipControls", "logging": "s3:PutBucketLogging",
            "cors": "s3:PutBucketCORS", "website": "s3:PutBucketWebsite", "replication": "s3:PutReplicationConfiguration",
            "notification": "s3:PutBucketNotification", "accelerate": "s3:PutAccelerateConfiguration",
            "object-lock": "s3:PutBucketObjectLockConfiguration"},
    "DELETE": {"policy": "s3:DeleteBucketPolicy", "tagging": "s3:PutBucketTagging", "encryption": "s3:PutEncryptionConfiguration",
               "lifecycle": "s3:PutLifecycleConfiguration", "publicAccessBlock": "s3:PutBucketPublicAccessBlock",
               "ownershipControls": "s3:PutBucketOwnershipControls", "cors": "s3:PutBucketCORS",
               "website": "s3:DeleteBucketWebsite", "replication": "s3:PutReplicationConfiguration"},
}
_OBJECT_ACTIONS: dict[str, dict[str, tuple[str, str]]] = {  # sub-resource -> (action, action on a version)
    "GET": {"acl": ("s3:GetObjectAcl", "s3:GetObjectVersionAcl"), "tagging": ("s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
            "attributes": ("s3:GetObjectAttributes", "s3:GetObjectVersionAttributes"),
            "retention": ("s3:GetObjectRetention", "s3:GetObjectRetention"), "legal-hold": ("s3:GetObjectLegalHold", "s3:GetObjectLegalHold"),
            "uploadId": ("s3:ListMultipartUploadParts", "s3:ListMultipartUploadParts")},
    "PUT": {"acl": ("s3:PutObjectAcl", "s3:PutObjectVersionAcl"), "tagging": ("s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
            "retention": ("s3:PutObjectRetention", "s3:PutObjectRetention"), "legal-hold": ("s3:PutObjectLegalHold", "s3:PutObjectLegalHold")},
    "DELETE": {"uploadId": ("s3:AbortMultipartUpload", "s3:AbortMultipartUpload"),
               "tagging": ("s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging")},
    "POST": {"restore": ("s3:RestoreObject", "s3:RestoreObject")},
}
_OBJECT_DEFAULTS = {"GET": ("s3:GetObject", "s3:GetObjectVersion"), "HEAD": ("s3:GetObject", "s3:GetObjectVersion"),
                    "PUT": ("s3:PutObject", "s3:PutObject"), "POST": ("s3:PutObject", "s3:PutObject"),
                    "DELETE": ("s3:DeleteObject", "s3:DeleteObjectVersion")}


def s3_action(method: str, query: dict[str, Any], *, object_request: bool) -> str:
    """The IAM action S3 authorizes for a REST request (S3 User Guide, "Actions, resources, and condition keys":
    a HEAD of an object is GetObject, a GET with versionId is GetObjectVersion, a listing is ListBucket)."""
    method = method.upper()
    if object_request:
        version = 1 if "versionId" in query else 0
        for subresource, actions in _OBJECT_ACTIONS.get(method, {}).items():
            if subresource in query:
                return actions[version]
        return _OBJECT_DEFAULTS.get(method, ("s3:GetObject", "s3:GetObject"))[version]
    for subresource, action in _BUCKET_ACTIONS.get(method, {}).items():
        if subresource in query:
            return action
    if method == "POST" and "delete" in query:
        return "s3:DeleteObject"  # checked per key by moto (FakeBucket.get_permission)
    return {"PUT": "s3:CreateBucket", "DELETE": "s3:DeleteBucket"}.get(method, "s3:ListBucket")


def request_principal(access_key: str) -> Any:
    """Who signed an emulator request: the role of an ``sts:AssumeRole*`` session (moto hands out keys per
    session), the IAM user owning the key, else the root of moto's default account (the ``testing`` keys)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    from tools.iam_policy import Principal

    for account_id, partitions in list(sts_backends.items()):
        for backend in list(partitions.values()):
            role = backend.get_assumed_role_from_access_key(access_key)
            if role is not None:
                return Principal("AWS", role.role_arn, account_id)
    for account_id, partitions in list(iam_backends.items()):
        for backend in list(partitions.values()):
            key = backend.access_keys.get(access_key)
            if key is not None and getattr(key, "role_arn", None) is None:
                return Principal("AWS", backend.get_user(key.user_name).arn, account_id)
    return Principal.root(DEFAULT_ACCOUNT_ID)


def _bucket_policy_decision(bucket: Any, action: str, resource: str) -> Optional[str]:
    """The bucket policy's decision for this thread's request (None when the bucket has no policy)."""
    from tools.iam_policy import Request, evaluate

    if bucket.policy is None:
        return None
    document = json.loads(bucket.policy.decode() if isinstance(bucket.policy, bytes) else bucket.policy)
    state = getattr(_s3_request, "state", None) or {}
    return evaluate(document, Request(action, resource, state.get("principal"), state.get("context", {})))


@_gap(
    "s3-bucket-policies",
    "Bucket policies are enforced only for object requests, by HTTP method (HEAD becomes s3:HeadObject, a GET of "
    "a version s3:GetObject), with only StringEquals conditions and without the requester: every other operator "
    "is ignored, so the state bucket's DenyInsecureTransport (Bool aws:SecureTransport=false) became an "
    "unconditional Deny, and Principal, NotResource, aws:PrincipalArn and s3:prefix were never evaluated.",
    "Evaluate the bucket policy for every bucket and object request with tools/iam_policy.py: the IAM action S3 "
    "authorizes (GetObjectVersion, ListBucket, ListBucketVersions, PutBucketPolicy, ...), the requester (the role "
    "of an AssumeRole session, an IAM user, else the default account's root), and the request context of AWS's "
    "HTTPS endpoints (aws:SecureTransport=true, aws:PrincipalArn, aws:PrincipalAccount, s3:prefix, the SSE "
    "headers); an explicit Deny refuses the request with 403 AccessDenied, as in AWS.",
)
def _patch_s3_bucket_policies() -> None:
    from moto.iam.access_control import PermissionResult
    from moto.s3 import models as s3
    from moto.s3.exceptions import S3AccessDeniedError, S3ClientError
    from moto.s3.responses import S3Response

    def get_permission(self: Any, action: str, resource: str) -> Any:  # moto's own object checks, DeleteObjects
        decision = _bucket_policy_decision(self, "s3:GetObject" if action == "s3:HeadObject" else action, resource)
        return {None: PermissionResult.NEUTRAL, "Deny": PermissionResult.DENIED,
                "Allow": PermissionResult.PERMITTED}.get(decision, PermissionResult.NEUTRAL)

    def checked(original: Callable[..., Any], object_request: bool) -> Callable[..., Any]:
        def response(self: Any, request: Any, full_url: str) -> Any:
            query = self._get_querystring(request, full_url)
            headers = {k.lower(): v for k, v in request.headers.items()}
            context: dict[str, Any] = {**S3_POLICY_CONTEXT,
                                       **{f"s3:{name}": headers[name] for name in S3_HEADER_KEYS if name in headers}}
            if "prefix" in query and not object_request:
                context["s3:prefix"] = query["prefix"][0]
            _s3_request.state = {"principal": request_principal(self.get_access_key()), "context": context}
            try:
                bucket_name = self.parse_bucket_name_from_url(request, full_url)
                try:
                    bucket = self.backend.get_bucket(bucket_name) if bucket_name else None
                except S3ClientError:
                    bucket = None
                if bucket is not None:
                    key = self.parse_key_name() if object_request else ""
                    resource = f"arn:{bucket.partition}:s3:::{bucket_name}" + (f"/{key}" if key else "")
                    action = s3_action(request.method, query, object_request=object_request and bool(key))
                    if _bucket_policy_decision(bucket, action, resource) == "Deny":
                        raise S3AccessDeniedError()
                return original(self, request, full_url)
            finally:
                _s3_request.state = None

        return response

    s3.FakeBucket.get_permission = get_permission
    S3Response._bucket_response = checked(S3Response._bucket_response, False)
    S3Response._key_response = checked(S3Response._key_response, True)


@_gap(
    "kms-key-policy-denies",
    "DescribeKey is refused (AccessDeniedException) whenever the key policy has any Deny statement naming kms:*, "
    "kms:Describe* or kms:DescribeKey on '*', whatever its Principal and Condition: a state key that denies only "
    "other environments' CI roles became unreadable to everyone, its own operator and Terraform included.",
    "Evaluate the key policy for the requester with tools/iam_policy.py (the role of an AssumeRole session, else "
    "the default account's root; aws:PrincipalArn, aws:PrincipalAccount, kms:CallerAccount): an applicable "
    "explicit Deny refuses, as in AWS. moto still checks no Allow (a key policy that grants nothing denies "
    "nothing here): who may use which key is evaluated in tests/test_ci_identity.py.",
)
def _patch_kms_key_policy_denies() -> None:
    from moto.kms.exceptions import AccessDeniedException
    from moto.kms.responses import KmsResponse

    from tools.iam_policy import DENY, Request, evaluate

    def validate_key_policy(self: Any, key_id: str, action: str) -> None:
        key = self.kms_backend.describe_key(self.kms_backend.get_key_id(key_id))
        try:
            document = json.loads(key.policy)
        except (TypeError, ValueError):
            return
        principal = request_principal(self.get_access_key())
        request = Request(action, key.arn, principal, {"kms:CallerAccount": principal.account})
        if evaluate(document, request) == DENY:
            raise AccessDeniedException(f"{principal.arn} is not authorized to perform {action} on {key.arn}: "
                                        "an explicit deny in the key policy")

    KmsResponse._validate_key_policy = validate_key_policy


def apply_gap_patches() -> list[str]:
    """Apply every patch in ``GAPS`` once per process; returns the names applied so far."""
    with _lock:
        for fn in _PATCHES:
            name = fn.gap_name  # type: ignore[attr-defined]
            if name not in _applied:
                fn()
                _applied.add(name)
        return sorted(_applied)


def describe_gaps() -> str:
    return "\n".join(f"- {name}: {problem}\n  patch: {fix}" for name, problem, fix in GAPS)


@dataclass
class Emulator:
    server: Any
    host: str
    port: int
    region: str = REGION
    patches: list[str] = field(default_factory=list)
    previous_config: Optional[dict[str, Any]] = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def account_id(self) -> str:
        """The account the fixed test credentials act in (moto's default account)."""
        from moto.core import DEFAULT_ACCOUNT_ID

        return DEFAULT_ACCOUNT_ID

    def terraform_env(self, credentials: Optional[dict[str, str]] = None) -> dict[str, str]:
        """Environment for terraform/boto3 talking to the emulator (the stack config carries the endpoints), with
        the fixed test credentials (the default account's root) or a session's (`session_credentials`)."""
        return {
            **(credentials or TEST_CREDENTIALS),
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_PROFILE": "",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }

    def session_credentials(self, role_arn: str, *, web_identity: bool = False) -> dict[str, str]:
        """Credentials of a session of `role_arn`, as `AWS_*` variables: requests made with them act in the role's
        account and as that role (moto keys each session's account by its access key), which is how stacks of
        several accounts are applied here. `web_identity`: through AssumeRoleWithWebIdentity, as a CI job does
        (moto checks neither the token nor the trust policy: tests/test_ci_identity.py evaluates those)."""
        sts = self.client("sts")
        name = role_arn.rsplit("/", 1)[-1][:64]
        if web_identity:
            answer = sts.assume_role_with_web_identity(RoleArn=role_arn, RoleSessionName=name,
                                                       WebIdentityToken="emulator.github.token")
        else:
            answer = sts.assume_role(RoleArn=role_arn, RoleSessionName=name)
        session = answer["Credentials"]
        return {"AWS_ACCESS_KEY_ID": session["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": session["SecretAccessKey"],
                "AWS_SESSION_TOKEN": session["SessionToken"]}

    def client(self, service: str, region: Optional[str] = None, credentials: Optional[dict[str, str]] = None) -> Any:
        """A boto3 client of the emulator, with the test credentials or a session's (`session_credentials`)."""
        import boto3

        credentials = credentials or TEST_CREDENTIALS
        return boto3.client(
            service,
            region_name=region or self.region,
            endpoint_url=self.endpoint,
            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=credentials.get("AWS_SESSION_TOKEN") or None,
        )

    def reset(self) -> None:
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST"), timeout=30).read()

    def stop(self) -> None:
        self.server.stop()
        if self.previous_config is not None:  # moto's config is process-wide: give it back as we found it
            from moto.moto_api import _internal as api

            api.moto_api_backend.set_config(self.previous_config)

    def set_config(self, config: dict[str, Any]) -> None:
        """POST /moto-api/config (moto's runtime switches, e.g. ``LAMBDA_WITHOUT_DOCKER``)."""
        import json
        import urllib.request

        request = urllib.request.Request(f"{self.endpoint}/moto-api/config", data=json.dumps(config).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        urllib.request.urlopen(request, timeout=30).read()


def start_emulator(port: int = 0, *, patches: bool = True) -> Emulator:
    """Start moto's ThreadedMotoServer on 127.0.0.1 (``port=0``: a free port) with the gap patches."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no per-request access log; 5xx tracebacks stay
    applied = apply_gap_patches() if patches else []
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, real_port = server.get_host_and_port()
    emulator = Emulator(server=server, host=host, port=real_port, patches=applied)
    if patches:
        from moto.moto_api import _internal as api

        emulator.previous_config = json.loads(json.dumps(api.moto_api_backend.get_config()))
        emulator.set_config(LAMBDA_WITHOUT_DOCKER)
        emulator.patches = sorted([*applied, "lambda-invoke-without-docker"])
    return emulator


def state_identifiers(show_json: dict) -> set[str]:
    """Every string attribute (id, arn, name, ..., nested ones too) of every managed resource in
    ``terraform show -json`` output: what ``leftovers(..., only=...)`` looks for after a destroy."""
    found: set[str] = set()

    def strings(value: Any) -> None:  # nested too: e.g. aws_db_instance.master_user_secret[0].secret_arn
        if isinstance(value, str):
            if value and len(value) < 2048:
                found.add(value)
        elif isinstance(value, dict):
            for v in value.values():
                strings(v)
        elif isinstance(value, list):
            for v in value:
                strings(v)

    def walk(module: dict) -> None:
        for res in module.get("resources", []):
            if res.get("mode") == "managed":
                strings(res.get("values") or {})
        for child in module.get("child_modules", []):
            walk(child)

    walk((show_json.get("values") or {}).get("root_module") or {})
    return found


#: Each kind ``inventory`` lists -> (Terraform type, state attribute) holding the same identifier: how
#: ``untracked`` finds an object in a stack's state. Attributes set from the configuration or the id, never
#: one read back after create: a create cut off mid-wait leaves a tainted resource with only those.
#: (A kind missing here, e.g. manual RDS snapshots, is never reported as untracked.)
STATE_IDENTITY: dict[str, tuple[str, str]] = {
    "ec2 vpc": ("aws_vpc", "id"),
    "ec2 subnet": ("aws_subnet", "id"),
    "ec2 security group": ("aws_security_group", "id"),
    "ec2 route table": ("aws_route_table", "id"),
    "ec2 vpc endpoint": ("aws_vpc_endpoint", "id"),
    "ec2 internet gateway": ("aws_internet_gateway", "id"),
    "ec2 nat gateway": ("aws_nat_gateway", "id"),
    "ec2 elastic ip": ("aws_eip", "id"),
    "ec2 flow log": ("aws_flow_log", "id"),
    "kinesis stream": ("aws_kinesis_stream", "name"),
    "rds instance": ("aws_db_instance", "identifier"),
    "rds subnet group": ("aws_db_subnet_group", "name"),
    "rds parameter group": ("aws_db_parameter_group", "name"),
    "rds event subscription": ("aws_db_event_subscription", "name"),
    "elasticache replication group": ("aws_elasticache_replication_group", "replication_group_id"),
    "elasticache subnet group": ("aws_elasticache_subnet_group", "name"),
    "elasticache user": ("aws_elasticache_user", "user_id"),
    "elasticache user group": ("aws_elasticache_user_group", "user_group_id"),
    "secretsmanager secret": ("aws_secretsmanager_secret", "id"),
    "cloudwatch alarm": ("aws_cloudwatch_metric_alarm", "alarm_name"),
    "cloudwatch dashboard": ("aws_cloudwatch_dashboard", "dashboard_name"),
    "logs log group": ("aws_cloudwatch_log_group", "name"),
    "sns topic": ("aws_sns_topic", "id"),
    "sqs queue": ("aws_sqs_queue", "id"),
    "lambda function": ("aws_lambda_function", "function_name"),
    "lambda event source mapping": ("aws_lambda_event_source_mapping", "id"),
    "scheduler schedule": ("aws_scheduler_schedule", "name"),
    "iam role": ("aws_iam_role", "name"),
    "iam policy": ("aws_iam_policy", "arn"),
    "iam oidc provider": ("aws_iam_openid_connect_provider", "arn"),
    "s3 bucket": ("aws_s3_bucket", "bucket"),
    "kms key (not pending deletion)": ("aws_kms_key", "id"),
}


@dataclass
class Inventory:
    """What exists in the emulator, by kind; ``member_of`` maps an ElastiCache member cluster to its group."""

    found: dict[str, list[str]]
    member_of: dict[str, str]


def inventory(emu: Emulator, *, keep_buckets: set[str] = frozenset(), keep_kms_aliases: set[str] = frozenset(),
              credentials: Optional[dict[str, str]] = None) -> Inventory:
    """Everything of the kinds our stacks create that exists in the emulator, in the account of ``credentials``
    (default: the test credentials' account).  KMS keys cannot be deleted, only scheduled: a key counts unless it
    is ``PendingDeletion`` (or belongs to an alias in ``keep_kms_aliases``).  Default VPC resources, main route
    tables and AWS-managed secrets of other services are not listed."""
    found: dict[str, list[str]] = {}

    def add(kind: str, items: list[str]) -> None:
        if items:
            found[kind] = sorted(items)

    def client(service: str) -> Any:
        return emu.client(service, credentials=credentials)

    ec2 = client("ec2")
    vpcs = [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if not v.get("IsDefault")]
    add("ec2 vpc", vpcs)
    if vpcs:
        flt = [{"Name": "vpc-id", "Values": vpcs}]
        add("ec2 subnet", [s["SubnetId"] for s in ec2.describe_subnets(Filters=flt)["Subnets"]])
        add("ec2 security group", [g["GroupId"] for g in ec2.describe_security_groups(Filters=flt)["SecurityGroups"] if g["GroupName"] != "default"])
        add("ec2 route table", [t["RouteTableId"] for t in ec2.describe_route_tables(Filters=flt)["RouteTables"]
                                if not any(a.get("Main") for a in t.get("Associations", []))])
    add("ec2 vpc endpoint", [e["VpcEndpointId"] for e in ec2.describe_vpc_endpoints()["VpcEndpoints"] if e.get("State") not in ("deleted", "Deleted")])
    add("ec2 internet gateway", [g["InternetGatewayId"] for g in ec2.describe_internet_gateways()["InternetGateways"] if any(a.get("VpcId") in vpcs for a in g.get("Attachments", [])) or not g.get("Attachments")])
    add("ec2 nat gateway", [n["NatGatewayId"] for n in ec2.describe_nat_gateways()["NatGateways"] if n.get("State") not in ("deleted", "deleting")])
    add("ec2 elastic ip", [a["AllocationId"] for a in ec2.describe_addresses()["Addresses"]])
    add("ec2 flow log", [f["FlowLogId"] for f in ec2.describe_flow_logs()["FlowLogs"]])

    add("kinesis stream", client("kinesis").list_streams()["StreamNames"])
    rds = client("rds")
    add("rds instance", [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]])
    add("rds subnet group", [g["DBSubnetGroupName"] for g in rds.describe_db_subnet_groups()["DBSubnetGroups"]])
    add("rds parameter group", [g["DBParameterGroupName"] for g in rds.describe_db_parameter_groups()["DBParameterGroups"] if not g["DBParameterGroupName"].startswith("default.")])
    add("rds snapshot", [s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]])
    add("rds event subscription", [e["CustSubscriptionId"] for e in rds.describe_event_subscriptions()["EventSubscriptionsList"]])
    ec = client("elasticache")
    add("elasticache replication group", [g["ReplicationGroupId"] for g in ec.describe_replication_groups()["ReplicationGroups"]])
    clusters = ec.describe_cache_clusters()["CacheClusters"]
    add("elasticache cluster", [c["CacheClusterId"] for c in clusters])
    member_of = {c["CacheClusterId"]: c["ReplicationGroupId"] for c in clusters if c.get("ReplicationGroupId")}
    add("elasticache subnet group", [g["CacheSubnetGroupName"] for g in ec.describe_cache_subnet_groups()["CacheSubnetGroups"] if g["CacheSubnetGroupName"] != "default"])
    # user id "default" is the account's built-in default user (in AWS as in moto), never ours
    add("elasticache user", [u["UserId"] for u in ec.describe_users()["Users"] if u["UserId"] != "default"])
    add("elasticache user group", [g["UserGroupId"] for g in ec.describe_user_groups()["UserGroups"]])
    # ARNs: also catches secrets a service created for us (e.g. RDS's managed master-user secret)
    add("secretsmanager secret", [s["ARN"] for s in client("secretsmanager").list_secrets()["SecretList"] if "DeletedDate" not in s])
    cw = client("cloudwatch")
    add("cloudwatch alarm", [a["AlarmName"] for a in cw.describe_alarms()["MetricAlarms"]])
    add("cloudwatch dashboard", [d["DashboardName"] for d in cw.list_dashboards()["DashboardEntries"]])
    add("logs log group", [g["logGroupName"] for g in client("logs").describe_log_groups()["logGroups"]])
    add("sns topic", [t["TopicArn"] for t in client("sns").list_topics()["Topics"]])
    add("sqs queue", client("sqs").list_queues().get("QueueUrls", []))
    lam = client("lambda")
    add("lambda function", [f["FunctionName"] for f in lam.list_functions()["Functions"]])
    add("lambda event source mapping", [m["UUID"] for m in lam.list_event_source_mappings()["EventSourceMappings"]])
    add("scheduler schedule", [s["Name"] for s in client("scheduler").list_schedules()["Schedules"]])
    iam = client("iam")
    add("iam role", [r["RoleName"] for r in iam.list_roles()["Roles"] if not r["Path"].startswith("/aws-service-role/")])
    add("iam policy", [p["Arn"] for p in iam.list_policies(Scope="Local")["Policies"]])
    add("iam oidc provider", [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]])
    add("s3 bucket", [b["Name"] for b in client("s3").list_buckets()["Buckets"] if b["Name"] not in keep_buckets])

    kms = client("kms")
    kept = {a["TargetKeyId"] for a in kms.list_aliases()["Aliases"] if a["AliasName"] in keep_kms_aliases and a.get("TargetKeyId")}
    live = []
    for key in kms.list_keys()["Keys"]:
        meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
        if meta["KeyManager"] == "CUSTOMER" and meta["KeyState"] != "PendingDeletion" and key["KeyId"] not in kept:
            live.append(key["KeyId"])
    add("kms key (not pending deletion)", live)
    return Inventory(found=found, member_of=member_of)


def leftovers(
    emu: Emulator,
    *,
    keep_buckets: set[str] = frozenset(),
    keep_kms_aliases: set[str] = frozenset(),
    only: Optional[set[str]] = None,
    credentials: Optional[dict[str, str]] = None,
) -> dict[str, list[str]]:
    """Everything of the kinds our stacks create that still exists in the emulator (empty dict = clean), in the
    account of ``credentials``.

    ``only``: restrict to these identifiers (e.g. ``state_identifiers`` of one stack, taken after apply),
    so stacks applied side by side in one emulator do not see each other (a replication group's member
    clusters match through the group's id).
    """
    stock = inventory(emu, keep_buckets=keep_buckets, keep_kms_aliases=keep_kms_aliases, credentials=credentials)
    if only is None:
        return stock.found
    left = {kind: [i for i in items if i in only or stock.member_of.get(i) in only]
            for kind, items in stock.found.items()}
    return {kind: items for kind, items in left.items() if items}


def untracked(emu: Emulator, show_json: dict, *, keep_buckets: set[str] = frozenset(),
              keep_kms_aliases: set[str] = frozenset(), credentials: Optional[dict[str, str]] = None) -> dict[str, list[str]]:
    """What exists in the emulator (in the account of ``credentials``) but is in no resource of the state
    (``terraform show -json``), kind by kind through ``STATE_IDENTITY``: an object of a kind counts as tracked only
    when a resource of that kind's type holds its identifier (a stream's name that is also the database's
    identifier does not make it tracked). Member clusters count with their replication group, RDS's managed
    master secret with its instance."""
    attributes = {rtype: attribute for rtype, attribute in STATE_IDENTITY.values()}
    in_state: dict[str, set[str]] = {rtype: set() for rtype in attributes}

    def walk(module: dict) -> None:
        for res in module.get("resources", []):
            values = res.get("values") or {}
            if res.get("mode") == "managed" and res["type"] in attributes:
                in_state[res["type"]].add(str(values.get(attributes[res["type"]])))
            if res.get("mode") == "managed" and res["type"] == "aws_db_instance":
                for secret in values.get("master_user_secret") or []:
                    in_state["aws_secretsmanager_secret"].add(secret.get("secret_arn", ""))
        for child in module.get("child_modules", []):
            walk(child)

    walk((show_json.get("values") or {}).get("root_module") or {})
    stock = inventory(emu, keep_buckets=keep_buckets, keep_kms_aliases=keep_kms_aliases, credentials=credentials)
    missing: dict[str, list[str]] = {}
    for kind, items in stock.found.items():
        if kind == "elasticache cluster":
            lost = [i for i in items if stock.member_of.get(i) not in in_state["aws_elasticache_replication_group"]]
        elif kind in STATE_IDENTITY:
            lost = [i for i in items if i not in in_state[STATE_IDENTITY[kind][0]]]
        else:
            continue  # e.g. manual RDS snapshots: never in state
        if lost:
            missing[kind] = lost
    return missing


# --------------------------------------------------------------------------------------------------------
# Command line: `python -m tools.emulator` / `make emulator` -- the emulator for a person at a shell
# --------------------------------------------------------------------------------------------------------
#: Project-local and git-ignored (``/build/``): the CLI config and the exports file.
EMULATOR_DIR = Path(__file__).resolve().parents[1] / "build" / "emulator"
DEFAULT_PORT = 4566
FIND_MIRROR_SCRIPT = Path(__file__).resolve().with_name("find-provider-mirror.sh")
CLI_CONFIG_HEADER = "# Written by `python -m tools.emulator`: for the local-emulator trial ONLY.\n"


def provider_mirror() -> Optional[str]:
    """TF_PLUGIN_MIRROR, else what tools/find-provider-mirror.sh finds on disk, else None (online)."""
    import subprocess

    found = subprocess.run(["sh", str(FIND_MIRROR_SCRIPT)], capture_output=True, text=True, check=False).stdout.strip()
    return found or None


def write_cli_config(workdir: Path, mirror: Optional[str]) -> Path:
    """A Terraform CLI config for the trial: ``mirror``'s providers, the rest direct.  Same rule as the test
    harness (``tools.terraform.decide_providers``), no plugin cache."""
    from tools.terraform import decide_providers, render_cli_config

    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "terraform.tfrc"
    config.write_text(CLI_CONFIG_HEADER + render_cli_config(decide_providers(mirror or ""), None), encoding="utf-8")
    return config


#: The trial's state bucket (the trial configuration's `[backend] bucket`).
TRIAL_STATE_BUCKET = "japancart-trial-state"
#: The trial configuration's repository: the CI roles trust it, and no workflow runs there.
TRIAL_REPOSITORY = "local/emulator-trial"


def write_trial_config(workdir: Path, emulator: Emulator) -> Path:
    """The shipped configuration, filled in for the trial: the trial bucket, every account the emulator's
    default one (the single-account layout, so the exported credentials deploy every stack), a local repository.
    The trial edits this copy (phase 2 of the bootstrap), never config/environments.toml."""
    from processor.contract import ENVIRONMENTS
    from tools.operator_config import write_filled_config

    accounts = {name: emulator.account_id for name in ("backend", *ENVIRONMENTS)}
    return write_filled_config(workdir / "environments.toml", bucket=TRIAL_STATE_BUCKET, accounts=accounts,
                               repository=TRIAL_REPOSITORY, repository_id=1)


def shell_exports(emulator: Emulator, cli_config: Path, config: Path) -> list[str]:
    """The lines a user pastes: the emulator endpoint and the trial configuration for synthesis, its credentials
    and region for terraform/cdktf/boto3, the trial CLI config, and no real AWS profile or session token leaking in."""
    import shlex

    env = {
        "JAPANCART_AWS_ENDPOINT": emulator.endpoint,
        "JAPANCART_CONFIG": str(config),
        **{k: v for k, v in emulator.terraform_env().items() if k != "AWS_PROFILE"},
        "TF_CLI_CONFIG_FILE": str(cli_config),
        # cdktf would otherwise set TF_PLUGIN_CACHE_DIR=~/.terraform.d/plugin-cache and copy providers there
        "CDKTF_DISABLE_PLUGIN_CACHE_ENV": "1",
    }
    return ["unset AWS_PROFILE AWS_SESSION_TOKEN"] + [f"export {k}={shlex.quote(v)}" for k, v in env.items()]


def port_is_free(port: int) -> bool:
    """Whether 127.0.0.1:``port`` can be listened on now."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def main(argv: Optional[list[str]] = None) -> int:
    """Run the emulator in the foreground until Ctrl-C or SIGTERM; print the exports for `make` targets."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(prog="python -m tools.emulator", description=main.__doc__)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (0: a free one; default {DEFAULT_PORT})")
    parser.add_argument("--dir", type=Path, default=EMULATOR_DIR, help="where the CLI config and exports go (default: build/emulator)")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be 0-65535, got {args.port}")

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    if args.port and not port_is_free(args.port):  # moto's server thread would die and start() wait forever
        parser.exit(2, f"python -m tools.emulator: --port {args.port} is in use on 127.0.0.1; pick another (0: a free one)\n")
    emulator = start_emulator(port=args.port)
    try:
        cli_config = write_cli_config(args.dir, provider_mirror())
        exports = shell_exports(emulator, cli_config, write_trial_config(args.dir, emulator))
        env_file = args.dir / "env.sh"
        env_file.write_text("\n".join(exports) + "\n", encoding="utf-8")
        print(f"# AWS emulator (moto, in memory: everything is gone when it stops) on {emulator.endpoint}", flush=True)
        print(f"# In the shell you run make in: source {env_file}   (or paste:)", flush=True)
        print("\n".join(exports), flush=True)
        print("# Ctrl-C or SIGTERM stops it.", flush=True)
        stop.wait()
    finally:
        emulator.stop()
        (args.dir / "env.sh").unlink(missing_ok=True)  # its endpoint is dead now
        print("# emulator stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
