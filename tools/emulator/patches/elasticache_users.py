"""ElastiCache RBAC gap patches: user groups (not in moto 5.2.5 at all) and the user actions the move to IAM
authentication needs (ModifyUser; DeleteUser's checks against the groups holding a user).

Why: a replication group with ``user_group_ids`` cannot be created without user groups, and an environment
deployed with password users moves to IAM auth by modifying and deleting users (docs/deploying.md).
Shares ``resource_arn``, ``tag_from_request`` and ``accept_arn_kinds`` with ``elasticache``.
"""

from __future__ import annotations

from typing import Any

from tools.emulator.patches.elasticache import accept_arn_kinds, resource_arn, tag_from_request
from tools.emulator.patches.registry import gap


@gap(
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
    """Observed on moto 5.2.5. No upstream issue found (searched 2026-12-03). Retire when moto implements
    Create/Describe/Modify/DeleteUserGroup with AWS's checks and accepts usergroup ARNs for tagging."""
    from moto.core.exceptions import ServiceException
    from moto.core.responses import ActionResult
    from moto.elasticache import responses as rs

    class UserGroupNotFound(ServiceException):
        code = "UserGroupNotFound"

    class UserGroupAlreadyExists(ServiceException):
        code = "UserGroupAlreadyExists"

    class DefaultUserRequired(ServiceException):
        code = "DefaultUserRequired"

    class UserNotFound(ServiceException):
        code = "UserNotFound"

    accept_arn_kinds("usergroup")

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
        using = [
            rg_id
            for rg_id, rg in backend.replication_groups.items()
            if group["UserGroupId"] in (rg.user_group_ids or [])
        ]
        return {
            **{k: v for k, v in group.items() if not k.startswith("_")},
            "ReplicationGroups": using,
            "PendingChanges": {},
        }

    def create(self: Any) -> Any:
        backend = self.elasticache_backend
        group_id = (self._get_param("UserGroupId") or "").lower()
        if group_id in _groups(backend):
            raise UserGroupAlreadyExists(f"User group {group_id} already exists.")
        user_ids = _ids(self._get_param("UserIds"))
        _check_users(backend, user_ids)
        arn = resource_arn(backend, "usergroup", group_id)
        group = {
            "UserGroupId": group_id,
            "Status": "active",
            "Engine": (self._get_param("Engine") or "redis").lower(),
            "UserIds": user_ids,
            "MinimumEngineVersion": "6.0",
            "ARN": arn,
        }
        _groups(backend)[group_id] = group
        tag_from_request(self, backend, arn)
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

    for action, fn in {
        "create_user_group": create,
        "describe_user_groups": describe,
        "modify_user_group": modify,
        "delete_user_group": delete,
    }.items():
        if not hasattr(rs.ElastiCacheResponse, action):
            setattr(rs.ElastiCacheResponse, action, fn)


@gap(
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
    """Observed on moto 5.2.5. No upstream issue found (searched 2026-12-03). Retire when moto implements
    ModifyUser and makes DeleteUser refuse a default user a group holds (DefaultUserAssociatedToUserGroup) and
    take any other user out of its groups."""
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
                "User is associated to user group(s) as a default user and can't be deleted."
            )
        for group in holding:
            group["UserIds"] = [u for u in group["UserIds"] if u != user_id]
        return original_delete(self)

    if not hasattr(rs.ElastiCacheResponse, "modify_user"):
        rs.ElastiCacheResponse.modify_user = modify_user
    rs.ElastiCacheResponse.delete_user = delete_user


#: This module's patches, in the order they are applied.
PATCHES = (
    _patch_elasticache_user_groups,
    _patch_elasticache_users,
)
