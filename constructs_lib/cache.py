"""ElastiCache Redis: the 24-hour transaction history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cdktf_cdktf_provider_aws.elasticache_parameter_group import (
    ElasticacheParameterGroup,
    ElasticacheParameterGroupParameter,
)
from cdktf_cdktf_provider_aws.elasticache_replication_group import (
    ElasticacheReplicationGroup,
    ElasticacheReplicationGroupLogDeliveryConfiguration,
)
from cdktf_cdktf_provider_aws.elasticache_subnet_group import ElasticacheSubnetGroup
from cdktf_cdktf_provider_aws.elasticache_user import ElasticacheUser, ElasticacheUserAuthenticationMode
from cdktf_cdktf_provider_aws.elasticache_user_group import ElasticacheUserGroup
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from constructs import Construct

from processor.contract import REDIS_ACL_RULES, redis_app_user

from .grants import PolicyGrantee
from .logs import encrypted_log_group
from .monitoring import AlarmSpec, DashboardGraph, SpecCommon
from .security_group_rules import allow_from_store, store_security_group
from .store import PrivateStoreProps
from .validation import (
    NameRule,
    require,
    require_bool,
    require_clear_windows,
    require_int,
    require_name,
)

REDIS_PORT = 6379
#: ElastiCache's name for the user every new connection starts as; a user group must contain one.
DEFAULT_USER_NAME = "default"
#: The default user's rules: disabled ("off": no connection can authenticate as it), no commands, no keys.
DISABLED_ACCESS_STRING = "off -@all"
#: What the application user signs in with: a 15-minute IAM token for `elasticache:Connect`, no password.
APP_AUTHENTICATION = "iam"
#: ElastiCache user ids: a letter, then letters, digits and hyphens; stored in lowercase. An IAM user's
#: name must equal its id, so the name is held to the same, in lowercase.
USER_ID_PATTERN = r"[a-z][a-z0-9-]*"
# Rules ElastiCache manages itself or that would smuggle a state or a password into an access string.
_RESERVED_ACL_RULES = frozenset({"on", "off", "reset", "nopass", "resetpass"})


@dataclass(frozen=True, kw_only=True)
class CacheSettings:
    """Shape of the Redis replication group.

    node_type: ElastiCache node class. Default: cache.t4g.small.
    num_nodes: primary plus replicas, 1-6. Default: 2 (one replica in another AZ).
    automatic_failover: promote a replica when the primary fails; also turns on Multi-AZ.
      Needs 2+ nodes. Default: on.
    engine_version: Redis 7 release. Default: 7.1.
    snapshot_retention_days: daily snapshots kept, 0-35. Default: 7.
    snapshot_window / maintenance_window: UTC windows that must not overlap.
      Default: 15:00-16:00 daily and sun:17:00-sun:18:00 (00:00 and Monday 02:00 in Tokyo).
    """

    node_type: str = "cache.t4g.small"
    num_nodes: int = 2
    automatic_failover: bool = True
    engine_version: str = "7.1"
    snapshot_retention_days: int = 7
    snapshot_window: str = "15:00-16:00"
    maintenance_window: str = "sun:17:00-sun:18:00"

    def __post_init__(self) -> None:
        require_name(
            "node_type",
            self.node_type,
            r"cache\.[a-z0-9]+\.[a-z0-9]+",
            "an ElastiCache node type such as cache.t4g.small",
        )
        require_int("num_nodes", self.num_nodes, 1, 6)
        require_bool("automatic_failover", self.automatic_failover)
        if self.automatic_failover:
            require(self.num_nodes >= 2, "num_nodes", self.num_nodes, "at least 2 when automatic_failover is on")
        require_name("engine_version", self.engine_version, r"7\.\d+", "a Redis 7 version such as 7.1")
        require_int("snapshot_retention_days", self.snapshot_retention_days, 0, 35)
        require_clear_windows("snapshot_window", self.snapshot_window, "maintenance_window", self.maintenance_window)


@dataclass(frozen=True, kw_only=True)
class TransactionCacheProps(CacheSettings, PrivateStoreProps):
    """Inputs of `TransactionCache`: the group's shape (the `CacheSettings` fields, each defaulted), what every
    private store takes (`PrivateStoreProps`: networking, log retention) and:

    name: replication group id (lowercase, at most 35 characters so member ids fit). Required.
    keys: `data` encrypts the data at rest, `logs` the slow log. Required.
    app_user_name: the RBAC user the application signs in as with IAM auth tokens; also its user id (ElastiCache
      requires them equal for IAM users, and ids are unique in the account and region). Lowercase letters,
      digits and hyphens. Default: `<name>-processor`.
    app_access_rules: that user's Redis ACL rules (key patterns and commands), without `on`/`off`
      or passwords: the construct enables the user, and it has no password.
      Default: the processor's rules (`processor.contract.REDIS_ACL_RULES`): its own keys, its own commands.

    No security group is admitted until `TransactionCache.allow_from` names one, and no role may sign in until
    `TransactionCache.grant_connect` names it.
    """

    NAME_RULE: ClassVar[NameRule] = NameRule(
        r"[a-z](?!.*--)[a-z0-9-]{0,33}[a-z0-9]",
        "a replication group id: lowercase letters, digits, single hyphens, at most 35 characters",
    )

    name: str
    app_user_name: str = ""
    app_access_rules: str = REDIS_ACL_RULES

    def __post_init__(self) -> None:
        super().__post_init__()
        self.NAME_RULE.check("name", self.name)
        if self.app_user_name:
            require_name(
                "app_user_name",
                self.app_user_name,
                USER_ID_PATTERN,
                "an ElastiCache IAM user id: lowercase letters, digits and hyphens, starting with a letter",
            )
            require(
                self.app_user_name != DEFAULT_USER_NAME,
                "app_user_name",
                self.app_user_name,
                "a user other than 'default' (the group's disabled default user)",
            )
        rules = self.app_access_rules.split() if isinstance(self.app_access_rules, str) else []
        require(
            bool(rules) and not any(r.lower() in _RESERVED_ACL_RULES or r[0] in "><#!" for r in rules),
            "app_access_rules",
            self.app_access_rules,
            "Redis ACL key and command rules without on/off, reset or passwords",
        )
        self.check_store("automatic_failover", self.automatic_failover)

    @property
    def user_name(self) -> str:
        """The application user's name and id: `app_user_name`, or `<name>-processor`."""
        return self.app_user_name or redis_app_user(self.name)


class TransactionCache(Construct):
    """A Redis 7 replication group: encrypted at rest and in transit, private, with RBAC and IAM auth.

    Access control is a user group of two ElastiCache users: the `default` user every connection starts
    as, disabled and without a password, and the application's user with its own ACL rules, which signs
    in with IAM auth tokens. No password exists anywhere, so none is in Terraform state.
    """

    def __init__(self, scope: Construct, construct_id: str, props: TransactionCacheProps) -> None:
        super().__init__(scope, construct_id)
        net = props.networking

        self._security_group = store_security_group(
            self,
            name=f"{props.name}-cache",
            vpc_id=net.vpc_id,
            description="Redis history; admits only the application security group",
        )

        subnets = ElasticacheSubnetGroup(
            self,
            "subnets",
            name=props.name,
            subnet_ids=net.private_subnet_ids,
            description="Private subnets of the transaction history",
        )
        parameters = ElasticacheParameterGroup(
            self,
            "parameters",
            name=f"{props.name}-redis7",
            family="redis7",
            description="Evict the keys closest to expiry first when memory runs out",
            parameter=[ElasticacheParameterGroupParameter(name="maxmemory-policy", value="volatile-ttl")],
        )
        slow_log = encrypted_log_group(
            self,
            "slow-log",
            name=f"/elasticache/{props.name}/slow-log",
            key_arn=props.keys.logs.key_arn,
            retention_days=props.log_retention_days,
        )
        self._user_group, self._app_user = self._users(props)

        self._replication_group = ElasticacheReplicationGroup(
            self,
            "group",
            replication_group_id=props.name,
            description="Transaction history for the last 24 hours",
            engine="redis",
            engine_version=props.engine_version,
            node_type=props.node_type,
            num_cache_clusters=props.num_nodes,
            automatic_failover_enabled=props.automatic_failover,
            multi_az_enabled=props.automatic_failover,
            port=REDIS_PORT,
            parameter_group_name=parameters.name,
            subnet_group_name=subnets.name,
            security_group_ids=[self._security_group.id],
            at_rest_encryption_enabled="true",
            kms_key_id=props.keys.data.key_arn,
            transit_encryption_enabled=True,
            user_group_ids=[self._user_group.user_group_id],
            auto_minor_version_upgrade="true",
            snapshot_retention_limit=props.snapshot_retention_days,
            snapshot_window=props.snapshot_window,
            maintenance_window=props.maintenance_window,
            log_delivery_configuration=[
                ElasticacheReplicationGroupLogDeliveryConfiguration(
                    destination=slow_log.name,
                    destination_type="cloudwatch-logs",
                    log_format="json",
                    log_type="slow-log",
                )
            ],
        )

        #: The replication group id: what IAM auth tokens are signed for (`REDIS_CACHE_NAME`).
        self.replication_group_id: str = props.name
        #: The Redis nodes' own security group (admits what `allow_from` named).
        self.security_group_id: str = self._security_group.id
        self.member_cluster_ids: list[str] = [f"{props.name}-{n:03d}" for n in range(1, props.num_nodes + 1)]
        self.primary_endpoint_address: str = self._replication_group.primary_endpoint_address
        self.port: int = REDIS_PORT
        #: The application user's name, equal to its user id (IAM auth requires it).
        self.app_user_name: str = props.user_name

    def grant_connect(self, grantee: PolicyGrantee, sid: str = "SignInToTheHistoryAsTheAppUser") -> None:
        """Let `grantee` sign in with IAM auth tokens to this replication group as the application user, and as
        no other user: `elasticache:Connect` names both the group and the user."""
        grantee.allow(sid, ["elasticache:Connect"], [self._replication_group.arn, self._app_user.arn])

    def allow_from(self, clients: SecurityGroup, construct_id: str = "clients") -> None:
        """Admit `clients` on the Redis port (an egress rule on it, an ingress rule here), under `construct_id`."""
        allow_from_store(
            self, construct_id, clients=clients, store=self._security_group, port=REDIS_PORT, service="Redis"
        )

    def alarm_specs(
        self, *, engine_cpu_percent: float, memory_percent: float, evictions: float, replication_lag_seconds: float
    ) -> list[AlarmSpec]:
        """Host metrics are reported per member cluster, so each member gets its own alarms."""
        specs = []
        for ordinal, member in enumerate(self.member_cluster_ids, start=1):
            label = f"cache-{ordinal:03d}"
            common = SpecCommon(
                namespace="AWS/ElastiCache", dimensions={"CacheClusterId": member}, comparison="GreaterThanThreshold"
            )
            specs += [
                AlarmSpec(
                    suffix=f"{label}-engine-cpu",
                    metric="EngineCPUUtilization",
                    statistic="Average",
                    threshold=engine_cpu_percent,
                    treat_missing_data="missing",
                    description=f"Redis engine thread of {member} is busy",
                    **common,
                ),
                AlarmSpec(
                    suffix=f"{label}-memory",
                    metric="DatabaseMemoryUsagePercentage",
                    statistic="Average",
                    threshold=memory_percent,
                    treat_missing_data="missing",
                    description=f"Redis memory of {member} is nearly full; history keys will be evicted",
                    **common,
                ),
                AlarmSpec(
                    suffix=f"{label}-evictions",
                    metric="Evictions",
                    statistic="Sum",
                    threshold=evictions,
                    treat_missing_data="notBreaching",
                    description=f"{member} evicts keys before their 24-hour expiry",
                    **common,
                ),
                # Only replicas report ReplicationLag; a primary's missing data is healthy.
                AlarmSpec(
                    suffix=f"{label}-replication-lag",
                    metric="ReplicationLag",
                    statistic="Maximum",
                    threshold=replication_lag_seconds,
                    treat_missing_data="notBreaching",
                    description=f"Replica {member} lags its primary",
                    **common,
                ),
            ]
        return specs

    def dashboard_graphs(self) -> list[DashboardGraph]:
        """Memory used and engine CPU of every member."""
        members = self.member_cluster_ids
        return [
            DashboardGraph(
                "Redis memory used (%)",
                [["AWS/ElastiCache", "DatabaseMemoryUsagePercentage", "CacheClusterId", m] for m in members],
                "Average",
            ),
            DashboardGraph(
                "Redis engine CPU (%)",
                [["AWS/ElastiCache", "EngineCPUUtilization", "CacheClusterId", m] for m in members],
                "Average",
            ),
        ]

    def _users(self, props: TransactionCacheProps) -> tuple[ElasticacheUserGroup, ElasticacheUser]:
        """The RBAC user group (a disabled `default` user and the application's user) and the application user.

        User and group ids are unique in the account and region, hence made from the group's name. The default
        user (ElastiCache requires a user named `default` in every group) is off, so nothing authenticates as
        it, and has no password (`no_password_required`) rather than a generated one that would sit in state.

        The application user has a new id and construct id (the password user it replaced was `<name>-app`):
        an environment deployed with that one creates this user, deletes the old one (ElastiCache takes a deleted
        user out of its group) and then updates the group. The default user keeps its id and is changed in
        place: ElastiCache refuses to delete a default user while a group holds it, and Terraform deletes users a
        group drops before it updates the group.
        """
        default_user = ElasticacheUser(
            self,
            "default-user",
            user_id=f"{props.name}-default",
            user_name=DEFAULT_USER_NAME,
            engine="redis",
            access_string=DISABLED_ACCESS_STRING,
            no_password_required=True,
        )
        app_user = ElasticacheUser(
            self,
            "iam-app-user",
            user_id=props.user_name,
            user_name=props.user_name,
            engine="redis",
            access_string=f"on {props.app_access_rules}",
            authentication_mode=ElasticacheUserAuthenticationMode(type=APP_AUTHENTICATION),
        )
        group = ElasticacheUserGroup(
            self, "users", user_group_id=props.name, engine="redis", user_ids=[default_user.user_id, app_user.user_id]
        )
        return group, app_user
