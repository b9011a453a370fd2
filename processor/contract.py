"""The seam between the stacks and the Lambda: every name both sides must spell the same way.

The constructs (``constructs_lib``) build the functions' environments, secrets, users and alarms from these
names; the runtime (``processor``) reads them back. Standard library only: this module ships in the Lambda
zip and is imported at synth time, so it must import nothing else of either side.
``tests/test_contract.py`` feeds each synthesized function's environment to the runtime's parsers.
"""

from __future__ import annotations

from typing import Final

#: Every environment, in deployment order: the one list (stacks/config.py and the tests derive theirs from it).
ENVIRONMENTS: Final = ("dev", "staging", "prod")

# --- Entry points of the zip's functions -------------------------------------------------------------------
PROCESSOR_HANDLER: Final = "processor.handler.handle"
MIGRATION_HANDLER: Final = "processor.migrate.handle"
MAINTENANCE_HANDLER: Final = "processor.maintain.handle"
#: The event the schedule sends the maintenance function (it also accepts none).
MAINTENANCE_EVENT: Final = {"action": "maintain"}

# --- Environment variables ---------------------------------------------------------------------------------
# Every function reads the connection secret; the processor and the maintenance function sign in as their
# own roles (DB_AUTH), the migration function as the master (from the secret named inside the connection).
ENV_DB_SECRET: Final = "DB_CONNECTION_SECRET_ARN"
ENV_DB_AUTH: Final = "DB_AUTH"
ENV_DB_PASSWORD_SECRET: Final = "DB_PASSWORD_SECRET_ARN"  # only with DB_AUTH=password (the test rig)
ENV_DB_CA_BUNDLE: Final = "DB_CA_BUNDLE"  # optional: the zip's RDS bundle otherwise
ENV_REDIS_HOST: Final = "REDIS_HOST"
ENV_REDIS_PORT: Final = "REDIS_PORT"
ENV_REDIS_USER: Final = "REDIS_USER"
ENV_REDIS_CACHE_NAME: Final = "REDIS_CACHE_NAME"  # the replication group id IAM tokens are signed for
ENV_REDIS_AUTH: Final = "REDIS_AUTH"
ENV_REDIS_PASSWORD_SECRET: Final = "REDIS_PASSWORD_SECRET_ARN"  # only with REDIS_AUTH=password (the test rig)
ENV_HISTORY_TTL: Final = "HISTORY_TTL_SECONDS"
ENV_MAX_TXNS_PER_HOUR: Final = "RULE_MAX_TXNS_PER_HOUR"
ENV_MAX_DAILY_TOTAL: Final = "RULE_MAX_DAILY_TOTAL"
ENV_MAX_SINGLE_AMOUNT: Final = "RULE_MAX_SINGLE_AMOUNT"
ENV_METRIC_NAMESPACE: Final = "METRIC_NAMESPACE"
ENV_ENVIRONMENT: Final = "ENVIRONMENT"
ENV_STREAM_ARN: Final = "STREAM_ARN"  # the one stream whose records the processor accepts
ENV_REGIONS: Final = ("AWS_REGION", "AWS_DEFAULT_REGION")  # set by Lambda itself, never by the constructs

#: How a function signs in to either store (the value of DB_AUTH and REDIS_AUTH): short-lived IAM tokens in
#: AWS, a password only on the test rig.
AUTH_IAM: Final = "iam"
AUTH_PASSWORD: Final = "password"

# --- The connection secret (JSON written by the database construct, read by every function) ----------------
SECRET_APP_USERNAME: Final = "app_username"
SECRET_MAINTAINER_USERNAME: Final = "maintainer_username"
SECRET_PASSWORD_SECRET_ARN: Final = "password_secret_arn"  # the RDS-managed master secret

# --- Users -------------------------------------------------------------------------------------------------
#: The database's owner, unless configured (`database.master_username`): the migration function's user.
MASTER_DB_USER: Final = "japancart_admin"
#: The PostgreSQL role the processor logs in as (created by the migrations, IAM auth on RDS).
APP_DB_USER: Final = "txn_writer"
#: The role the daily data-lifecycle run logs in as: it may only execute the lifecycle functions.
MAINTAINER_DB_USER: Final = "txn_maintainer"
#: What the processor's ElastiCache user may do: its own key prefixes and the commands below (EVAL runs the
#: batch script, whose calls, INFO included, Redis checks against the same rules). The cache construct
#: grants exactly this; the test rig's redis-server too.
REDIS_ACL_RULES: Final = (
    "~txn:* ~cust:* ~history:* -@all +ping +info +eval +get +set +del +zadd +zremrangebyscore +pexpireat"
)


def redis_app_user(replication_group_id: str) -> str:
    """The processor's ElastiCache user (name and id) unless configured: named for its cache, so one
    account can hold several environments' users."""
    return f"{replication_group_id}-processor"


# --- Rules -------------------------------------------------------------------------------------------------
#: The longest window a rule looks back over (the daily total): a shorter history TTL would let history keys
#: expire while their day still counts. The construct refuses such a TTL; so does the runtime.
LONGEST_RULE_WINDOW_SECONDS: Final = 86_400

# --- Metrics (CloudWatch Embedded Metric Format, alarmed on by the processor construct) ---------------------
METRIC_NAMESPACE: Final = "JapanCart/TransactionMonitoring"
METRIC_RULE_HITS: Final = "RuleHits"
METRIC_CONFLICTS: Final = "TransactionConflicts"
DIMENSION_ENVIRONMENT: Final = "Environment"
DIMENSION_RULE: Final = "Rule"
