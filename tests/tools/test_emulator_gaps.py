"""The emulator's ElastiCache user gap (tools/emulator/patches/elasticache_users.py) behaves as AWS documents it:
ModifyUser changes how a user signs in, a default user a group holds cannot be deleted, and deleting any other
user takes it out of its groups. These are what an environment deployed with password users relies on when it
moves to IAM auth (docs/deploying.md, "Moving an environment deployed before Redis IAM auth")."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import botocore.exceptions
import pytest

from tools.emulator import Emulator, start_emulator
from tools.emulator.patches import GAPS, PATCHES

ACCESS = "on ~txn:* -@all +get"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def elasticache() -> Iterator[object]:
    emulator: Emulator = start_emulator()
    try:
        yield emulator.client("elasticache")
    finally:
        emulator.stop()


def test_modify_user_moves_a_password_user_to_no_password(elasticache) -> None:
    elasticache.create_user(
        UserId="g1-default",
        UserName="default",
        Engine="redis",
        AccessString="off -@all",
        Passwords=["a-password-of-16-chars"],
    )
    elasticache.modify_user(UserId="g1-default", NoPasswordRequired=True)
    [user] = elasticache.describe_users(UserId="g1-default")["Users"]
    assert user["Authentication"] == {"Type": "no-password"} and user["AccessString"] == "off -@all"
    elasticache.modify_user(UserId="g1-default", AuthenticationMode={"Type": "iam"}, AccessString=ACCESS)
    [user] = elasticache.describe_users(UserId="g1-default")["Users"]
    assert user["Authentication"]["Type"] == "iam" and user["AccessString"] == ACCESS


def test_a_default_user_a_group_holds_cannot_be_deleted_and_other_users_leave_their_groups(elasticache) -> None:
    elasticache.create_user(
        UserId="g2-default", UserName="default", Engine="redis", AccessString="off -@all", NoPasswordRequired=True
    )
    elasticache.create_user(
        UserId="g2-app", UserName="g2-app", Engine="redis", AccessString=ACCESS, AuthenticationMode={"Type": "iam"}
    )
    elasticache.create_user_group(UserGroupId="g2", Engine="redis", UserIds=["g2-default", "g2-app"])

    with pytest.raises(botocore.exceptions.ClientError) as refused:
        elasticache.delete_user(UserId="g2-default")
    assert refused.value.response["Error"]["Code"] == "DefaultUserAssociatedToUserGroup"
    elasticache.delete_user(UserId="g2-app")
    assert elasticache.describe_user_groups(UserGroupId="g2")["UserGroups"][0]["UserIds"] == ["g2-default"]

    elasticache.delete_user_group(UserGroupId="g2")
    elasticache.delete_user(UserId="g2-default")  # no group holds it any more


def test_every_gap_is_listed_once_and_every_patch_says_when_it_can_go() -> None:
    """GAPS (docs/testing.md) comes from the patch modules; each patch names the moto it was observed on and what
    would retire it. moto is pinned to that version: an upgrade is the moment to re-check every patch."""
    import moto

    names = [name for name, _, _ in GAPS]
    assert len(names) == len(set(names)) and {patch.gap.name for patch in PATCHES} <= set(names)
    assert moto.__version__ == "5.2.5"
    for patch in PATCHES:
        doc = " ".join((patch.__doc__ or "").split())
        assert doc.startswith("Observed on moto 5.2.5.") and "retire" in doc.lower(), patch.__qualname__


def test_user_groups_and_parameter_groups_are_both_taggable(elasticache) -> None:
    """Both ElastiCache patches widen the backend's ARN pattern through one wrapper: each kind is accepted."""
    elasticache.create_user(
        UserId="g3-default", UserName="default", Engine="redis", AccessString="off -@all", NoPasswordRequired=True
    )
    tags = [{"Key": "Project", "Value": "japancart"}]
    group = elasticache.create_user_group(UserGroupId="g3", Engine="redis", UserIds=["g3-default"], Tags=tags)
    parameters = elasticache.create_cache_parameter_group(
        CacheParameterGroupName="g3-params", CacheParameterGroupFamily="redis7", Description="g3", Tags=tags
    )["CacheParameterGroup"]
    for arn in (group["ARN"], parameters["ARN"]):
        assert elasticache.list_tags_for_resource(ResourceName=arn)["TagList"] == tags


def test_the_elasticache_patches_widen_the_arn_pattern_in_either_order() -> None:
    """Applied users-first (the reverse of ``MODULES``), a new backend still accepts every kind either patch
    added, and moto's own."""
    code = (
        "from tools.emulator.patches import elasticache, elasticache_users\n"
        "elasticache_users._patch_elasticache_user_groups()\n"
        "elasticache._patch_elasticache_parameter_groups()\n"
        "from moto.elasticache.models import ElastiCacheBackend\n"
        "backend = ElastiCacheBackend('us-east-1', '123456789012')\n"
        "kinds = ('usergroup', 'parametergroup', 'replicationgroup', 'user', 'nosuchkind')\n"
        "print([k for k in kinds if backend.arn_regex.match(f'arn:aws:elasticache:us-east-1:123456789012:{k}:x')])\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "['usergroup', 'parametergroup', 'replicationgroup', 'user']"
