"""ElastiCache gap patches: replication groups (their member clusters, their deletion), cache subnet group
deletion and cache parameter groups, plus the helpers the user-group patch shares (``resource_arn``,
``tag_from_request``, ``accept_arn_kinds``).

Why: the Terraform AWS provider reads a replication group's first member after create, waits for a deleted
group to disappear, and creates/deletes subnet and parameter groups; moto 5.2.5 fails or hangs on each.
Users and user groups (RBAC) are in ``elasticache_users``.
"""

from __future__ import annotations

from typing import Any

from tools.emulator.patches.registry import gap


def resource_arn(backend: Any, kind: str, name: str) -> str:
    """The ARN of an ElastiCache resource of ``kind`` (``parametergroup``, ``usergroup``) in ``backend``'s region."""
    from moto.utilities.utils import get_partition

    return (
        f"arn:{get_partition(backend.region_name)}:elasticache:{backend.region_name}:{backend.account_id}:{kind}:{name}"
    )


def tag_from_request(response: Any, backend: Any, arn: str) -> None:
    """Tag ``arn`` with the request's ``Tags`` (query protocol: ``Tags.Tag.N`` or a list), as Create* does in AWS."""
    tags = response._get_param("Tags")
    if isinstance(tags, dict):
        tags = tags.get("Tag") or []
    if tags:
        backend.tagging_service.tag_resource(arn, tags if isinstance(tags, list) else [tags])


#: The resource kinds whose ARNs ``ElastiCacheBackend.arn_regex`` (tagging) accepts: moto 5.2.5's own, then
#: those ``accept_arn_kinds`` added.
_ARN_KINDS = ["cluster", "snapshot", "subnetgroup", "replicationgroup", "user"]
_arn_init_wrapped = False


def accept_arn_kinds(*kinds: str) -> None:
    """Let every ElastiCache backend created from now on accept ARNs of ``kinds`` for tagging (moto 5.2.5 sets
    ``arn_regex`` in ``ElastiCacheBackend.__init__``). One wrapper of ``__init__`` serves every patch that asks,
    so the patches apply in any order and the pattern names every kind any of them added."""
    from moto.elasticache import models as ec

    global _arn_init_wrapped
    _ARN_KINDS.extend(kind for kind in kinds if kind not in _ARN_KINDS)
    if _arn_init_wrapped:
        return
    original_init = ec.ElastiCacheBackend.__init__

    def __init__(self: Any, region_name: str, account_id: str) -> None:
        original_init(self, region_name, account_id)
        self.arn_regex = ec.re_compile(rf"^arn:aws:elasticache:.*:[0-9]*:({'|'.join(_ARN_KINDS)}):.*$")

    ec.ElastiCacheBackend.__init__ = __init__
    _arn_init_wrapped = True


@gap(
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
    """Observed on moto 5.2.5. No upstream issue found (searched 2026-12-03). getmoto/moto#8932 (closed)
    requested CreateReplicationGroup, not its member clusters. Retire when moto registers a
    group's member clusters as cache clusters and honours NumCacheClusters with cluster mode disabled."""
    from moto.elasticache import models as ec

    backend_cls = ec.ElastiCacheBackend
    original = backend_cls.create_replication_group

    def create_replication_group(self: Any, *args: Any, **kwargs: Any) -> Any:
        rg = original(self, *args, **kwargs)
        num = kwargs.get("num_cache_clusters")
        if (
            rg.cluster_mode != "enabled"
            and num
            and not kwargs.get("replicas_per_node_group")
            and len(rg.member_clusters) != int(num)
        ):
            ng = rg.node_groups[0]
            domain = ng["primary_endpoint_address"].split(".", 1)[1]
            ng["node_group_members"] = []
            rg.member_clusters.clear()
            rg._set_node_members_clusters_disabled(
                member_clusters=rg.member_clusters,
                replication_group_id=rg.replication_group_id,
                replication_group_domain=domain,
                node_group=ng,
                preferred_cache_cluster_azs=kwargs.get("preferred_cache_cluster_azs")
                or [f"{self.region_name}a", f"{self.region_name}c"],
                num_cache_clusters=int(num),
                replicas_per_node_group=int(num) - 1,
            )
        azs = {
            m["cache_cluster_id"]: m.get("preferred_availability_zone")
            for g in rg.node_groups
            for m in g.get("node_group_members", [])
        }
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
            cluster.cache_parameter_group = {
                "CacheParameterGroupName": rg.cache_parameter_group_name or "default.redis7",
                "ParameterApplyStatus": "in-sync",
            }
            cluster.security_groups = [
                {"SecurityGroupId": sg, "Status": "active"} for sg in (rg.security_group_ids or [])
            ]
            cluster.cache_nodes = [
                {
                    "CacheNodeId": "0001",
                    "CacheNodeStatus": "available",
                    "Endpoint": {"Address": f"{member_id}.emulator.cache.amazonaws.com", "Port": rg.port},
                }
            ]
            self.cache_clusters[member_id] = cluster
        return rg

    backend_cls.create_replication_group = create_replication_group


@gap(
    "elasticache-replication-group-delete",
    "DeleteReplicationGroup only sets status 'deleting' and keeps the group (and members) forever, so the "
    "provider's deletion waiter polls until its 40-minute timeout.",
    "After DeleteReplicationGroup returns the 'deleting' group, forget the group and its member clusters "
    "(as AWS does once deletion completes).",
)
def _patch_elasticache_delete() -> None:
    """Observed on moto 5.2.5. DeleteReplicationGroup came with getmoto/moto#9147 (a pull request) and leaves
    the group 'deleting'; no upstream issue about it never completing found (searched 2026-12-03). Retire when
    moto forgets a deleted group and its members."""
    from moto.elasticache import models as ec

    backend_cls = ec.ElastiCacheBackend
    original = backend_cls.delete_replication_group

    def delete_replication_group(self: Any, replication_group_id: str, retain_primary_cluster: bool | None) -> Any:
        members = (
            list(self.replication_groups[replication_group_id].member_clusters)
            if replication_group_id in self.replication_groups
            else []
        )
        rg = original(self, replication_group_id, retain_primary_cluster)
        self.replication_groups.pop(replication_group_id, None)
        for member in members + list(rg.member_clusters):
            self.cache_clusters.pop(member, None)
        return rg

    backend_cls.delete_replication_group = delete_replication_group


@gap(
    "elasticache-delete-cache-subnet-group",
    "DeleteCacheSubnetGroup is not implemented (HTTP 500 NotImplementedError); the provider retries 5xx, so "
    "destroying an aws_elasticache_subnet_group hangs until its timeout.",
    "Add DeleteCacheSubnetGroup: forget the group (CacheSubnetGroupNotFoundFault if unknown), empty result.",
)
def _patch_elasticache_delete_subnet_group() -> None:
    """Observed on moto 5.2.5. No upstream issue found (searched 2026-12-03). getmoto/moto#8991 added
    Create/DescribeCacheSubnetGroups (part of getmoto/moto#8932) but not the delete. Retire when moto
    implements DeleteCacheSubnetGroup."""
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


@gap(
    "elasticache-parameter-groups",
    "Cache parameter groups are not implemented at all (Create/Describe/Modify/Reset/Delete"
    "CacheParameterGroup, DescribeCacheParameters): aws_elasticache_parameter_group cannot be created, and "
    "ListTagsForResource rejects parametergroup ARNs.",
    "A minimal in-memory implementation: groups with name/family/description/ARN/tags, user-set parameters "
    "(Source=user) stored by Modify, cleared by Reset, CacheParameterGroupNotFound/"
    "CacheParameterGroupAlreadyExists errors; parametergroup ARNs accepted for tagging.",
)
def _patch_elasticache_parameter_groups() -> None:
    """Observed on moto 5.2.5. No upstream issue found (searched 2026-12-03). Retire when moto implements cache
    parameter groups (Create/Describe/Modify/ Reset/DeleteCacheParameterGroup, DescribeCacheParameters) and
    accepts parametergroup ARNs for tagging."""
    from moto.core.exceptions import ServiceException
    from moto.core.responses import ActionResult, EmptyResult
    from moto.elasticache import responses as rs

    class CacheParameterGroupNotFound(ServiceException):
        code = "CacheParameterGroupNotFound"

    class CacheParameterGroupAlreadyExists(ServiceException):
        code = "CacheParameterGroupAlreadyExists"

    accept_arn_kinds("parametergroup")

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
        arn = resource_arn(backend, "parametergroup", name)
        group = {
            "CacheParameterGroupName": name,
            "CacheParameterGroupFamily": self._get_param("CacheParameterGroupFamily"),
            "Description": self._get_param("Description"),
            "IsGlobal": False,
            "ARN": arn,
            "_parameters": {},
        }
        backend.cache_parameter_groups[name] = group
        tag_from_request(self, backend, arn)
        return ActionResult({"CacheParameterGroup": {k: v for k, v in group.items() if not k.startswith("_")}})

    def describe(self: Any) -> Any:
        backend = self.elasticache_backend
        name = self._get_param("CacheParameterGroupName")
        groups = [_group(backend, name)] if name else list(getattr(backend, "cache_parameter_groups", {}).values())
        return ActionResult(
            {"CacheParameterGroups": [{k: v for k, v in g.items() if not k.startswith("_")} for g in groups]}
        )

    def describe_parameters(self: Any) -> Any:
        group = _group(self.elasticache_backend, self._get_param("CacheParameterGroupName"))
        source = self._get_param("Source")
        params = [
            {
                "ParameterName": k,
                "ParameterValue": v,
                "Source": "user",
                "DataType": "string",
                "IsModifiable": True,
                "ChangeType": "immediate",
            }
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


#: This module's patches, in the order they are applied.
PATCHES = (
    _patch_elasticache_members,
    _patch_elasticache_delete,
    _patch_elasticache_delete_subnet_group,
    _patch_elasticache_parameter_groups,
)
