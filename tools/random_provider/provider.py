"""Offline stand-in for ``registry.terraform.io/hashicorp/random`` 3.6.3: the ``random_password`` resource.

Built on the ``tf`` package (Python Terraform plugin framework, protocol 6).  Terraform launches this file
as the provider plugin through the wrapper script that ``tools.random_provider.install_mirror``
writes into a temporary filesystem mirror; only the test harness and the emulator plan use it, where the real
provider cannot be installed (see ``tools.terraform`` for the rule).

This module is executed as a script, so it imports nothing from the project.

Fidelity to hashicorp/random 3.6.3 ``random_password`` (schema version 3):

* arguments: ``length`` (required, >= 1 and >= the sum of the ``min_*``), ``special``/``upper``/``lower``/
  ``numeric`` (default true), ``number`` (deprecated alias of ``numeric``, kept in sync with it like the
  real provider does), ``min_upper``/``min_lower``/``min_numeric``/``min_special`` (default 0),
  ``override_special``, ``keepers``; every one of them forces replacement (``keepers`` only when a
  non-null value changes, like ``RequiresReplaceIfValuesNotNull``).
* ``result`` (sensitive, computed) is generated once with ``secrets`` using the real provider's
  algorithm (the ``min_*`` characters from their classes, the rest from all enabled classes, then
  shuffled) and is kept in state: it is never regenerated unless a replacement is forced.
* ``bcrypt_hash`` (sensitive, computed): a real bcrypt hash of ``result`` (cost 10, first 72 bytes, ``$2a$``
  prefix like Go's x/crypto/bcrypt), computed with the standard library's ``crypt`` (libxcrypt) or the
  ``bcrypt`` package.  Only if neither is available is it set to the placeholder
  ``BCRYPT_UNAVAILABLE`` (documented here; nothing in our stacks reads it).
* ``id`` is ``"none"``; ``terraform import random_password.x <password>`` is supported like upstream.
"""

from __future__ import annotations

import secrets
import sys
import warnings
from typing import Any, Optional

from tf import provider as tf_provider
from tf import runner
from tf.iface import (
    Config,
    CreateContext,
    DataSource,
    DeleteContext,
    ImportContext,
    PlanContext,
    ReadContext,
    Resource,
    State,
    UpdateContext,
)
from tf.schema import Attribute, Schema
from tf.types import Bool, Map, Number, String, Unknown
from tf.utils import Diagnostics, read_dynamic_value, to_dynamic_value

SOURCE = "registry.terraform.io/hashicorp/random"
VERSION = "3.6.3"

LOWER = "abcdefghijklmnopqrstuvwxyz"
UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
NUMERIC = "0123456789"
SPECIAL = "!@#$%&*()-_=+[]{}<>:?"
BCRYPT_UNAVAILABLE = "BCRYPT_UNAVAILABLE"
BCRYPT_COST = 10  # Go's bcrypt.DefaultCost, which the real provider uses


def generate_password(
    length: int,
    *,
    upper: bool = True,
    lower: bool = True,
    numeric: bool = True,
    special: bool = True,
    min_upper: int = 0,
    min_lower: int = 0,
    min_numeric: int = 0,
    min_special: int = 0,
    override_special: Optional[str] = None,
) -> str:
    """The real provider's ``CreateString``: minimums first (from their own class, enabled or not), then the
    rest from every enabled class, then a cryptographically random shuffle."""
    special_chars = override_special if override_special else SPECIAL
    chars = (UPPER if upper else "") + (LOWER if lower else "") + (NUMERIC if numeric else "")
    chars += special_chars if special else ""
    out = []
    for charset, minimum in ((NUMERIC, min_numeric), (LOWER, min_lower), (UPPER, min_upper), (special_chars, min_special)):
        out.extend(secrets.choice(charset) for _ in range(minimum))
    rest = length - len(out)
    if rest > 0 and not chars:
        raise ValueError("the character set is empty: enable at least one of upper, lower, numeric, special")
    out.extend(secrets.choice(chars) for _ in range(max(rest, 0)))
    secrets.SystemRandom().shuffle(out)
    return "".join(out)


def bcrypt_hash(password: str) -> str:
    data = password.encode()[:72]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt  # libxcrypt; removed from the standard library in Python 3.13

        if crypt.METHOD_BLOWFISH in crypt.methods:
            hashed = crypt.crypt(data.decode(errors="ignore"), crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=2**BCRYPT_COST))
            if hashed and hashed.startswith("$2"):
                return "$2a$" + hashed[4:]
    except ImportError:
        pass
    try:
        import bcrypt  # type: ignore[import-not-found]

        return "$2a$" + bcrypt.hashpw(data, bcrypt.gensalt(BCRYPT_COST)).decode()[4:]
    except ImportError:
        return BCRYPT_UNAVAILABLE


class KeepersMap(Map):
    """``keepers`` is ``RequiresReplaceIfValuesNotNull``: adding/removing keys whose value is null does not
    replace the password."""

    def semantically_equal(self, a_decoded, b_decoded) -> bool:
        def norm(m):
            if m is None or m is Unknown:
                return m if m is Unknown else {}
            return {k: v for k, v in m.items() if v is not None}

        return norm(a_decoded) == norm(b_decoded)


_MINS = ("min_numeric", "min_upper", "min_lower", "min_special")
_CLASSES = ("special", "upper", "lower", "numeric", "number")


class RandomPassword(Resource):
    def __init__(self, provider: "RandomProvider"):
        self.provider = provider

    @classmethod
    def get_name(cls) -> str:
        return "password"

    @classmethod
    def get_schema(cls) -> Schema:
        def flag(name: str, desc: str, **kw: Any) -> Attribute:
            return Attribute(name, Bool(), description=desc, optional=True, computed=True, default=True, requires_replace=True, **kw)

        def minimum(name: str, desc: str) -> Attribute:
            return Attribute(name, Number(), description=desc, optional=True, computed=True, default=0, requires_replace=True)

        return Schema(
            version=3,
            description="Test stand-in for hashicorp/random 3.6.3 random_password.",
            attributes=[
                Attribute("keepers", KeepersMap(String()), description="Arbitrary map that forces replacement when a non-null value changes.", optional=True, requires_replace=True),
                Attribute("length", Number(), description="Length of the password (>= 1, >= sum of min_*).", required=True, requires_replace=True),
                flag("special", "Include special characters."),
                flag("upper", "Include uppercase letters."),
                flag("lower", "Include lowercase letters."),
                flag("number", "Deprecated: use numeric.", deprecated=True),
                flag("numeric", "Include digits."),
                minimum("min_numeric", "Minimum number of digits."),
                minimum("min_upper", "Minimum number of uppercase letters."),
                minimum("min_lower", "Minimum number of lowercase letters."),
                minimum("min_special", "Minimum number of special characters."),
                Attribute("override_special", String(), description="Replaces the default special characters.", optional=True, requires_replace=True),
                Attribute("result", String(), description="The generated password.", computed=True, sensitive=True),
                Attribute("bcrypt_hash", String(), description="bcrypt hash of result.", computed=True, sensitive=True),
                Attribute("id", String(), description="Static value \"none\".", computed=True),
            ],
        )

    # -- validation (upstream: int64validator.AtLeast(1), AtLeastSumOf(min_*), AtLeast(0) for min_*) --
    def validate(self, diags: Diagnostics, type_name: str, config: Config):
        super().validate(diags, type_name, config)
        if diags.has_errors():
            return
        length = config.get("length")
        if isinstance(length, (int, float)) and length < 1:
            diags.add_error("Invalid Attribute Value", f"Attribute length value must be at least 1, got: {length}", path=["length"])
        mins = {k: config.get(k) for k in _MINS}
        for k, v in mins.items():
            if isinstance(v, (int, float)) and v < 0:
                diags.add_error("Invalid Attribute Value", f"Attribute {k} value must be at least 0, got: {v}", path=[k])
        if isinstance(length, (int, float)) and all(v is None or isinstance(v, (int, float)) for v in mins.values()):
            total = sum(v or 0 for v in mins.values())
            if length < total:
                diags.add_error(
                    "Invalid Attribute Value",
                    f"Attribute length value must be at least sum of min_upper + min_lower + min_numeric + min_special, got: {length}",
                    path=["length"],
                )
        if config.get("number") is not None:
            diags.add_warning("Attribute Deprecated", "Use numeric instead.", path=["number"])

    # -- planning --
    def plan_create(self, config: Config, planned: State) -> State:
        """Upstream ``NumberNumericAttributePlanModifier``: when only one of number/numeric is configured,
        the other follows it."""
        number, numeric = config.get("number"), config.get("numeric")
        if number is not None and numeric is None:
            planned["numeric"] = number
        elif numeric is not None and number is None:
            planned["number"] = numeric
        return planned

    def plan(self, ctx: PlanContext, current: Optional[State], planned: State) -> Optional[State]:
        return planned

    # -- CRUD --
    def create(self, ctx: CreateContext, planned: State) -> Optional[State]:
        state = dict(planned)
        try:
            state["result"] = generate_password(
                int(state["length"]),
                upper=bool(state["upper"]),
                lower=bool(state["lower"]),
                numeric=bool(state["numeric"]),
                special=bool(state["special"]),
                min_upper=int(state["min_upper"]),
                min_lower=int(state["min_lower"]),
                min_numeric=int(state["min_numeric"]),
                min_special=int(state["min_special"]),
                override_special=state.get("override_special"),
            )
        except ValueError as exc:
            ctx.diagnostics.add_error("Create Random Password error", str(exc))
            return None
        state["bcrypt_hash"] = bcrypt_hash(state["result"])
        state["id"] = "none"
        return state

    def read(self, ctx: ReadContext, current: State) -> Optional[State]:
        return current  # nothing remote: the state is the truth

    def update(self, ctx: UpdateContext, current: State, planned: State) -> Optional[State]:
        # Only reachable for changes that do not force replacement (keepers gaining/losing null values).
        state = dict(planned)
        for k in ("result", "bcrypt_hash", "id"):
            state[k] = current[k]
        return state

    def delete(self, ctx: DeleteContext, current: State):
        return None

    def import_(self, ctx: ImportContext, id: str) -> Optional[State]:
        return {
            "keepers": None,
            "length": len(id),
            "special": True,
            "upper": True,
            "lower": True,
            "number": True,
            "numeric": True,
            "min_numeric": 0,
            "min_upper": 0,
            "min_lower": 0,
            "min_special": 0,
            "override_special": None,
            "result": id,
            "bcrypt_hash": bcrypt_hash(id),
            "id": "none",
        }


class RandomProvider:
    def get_model_prefix(self) -> str:
        return "random_"

    def full_name(self) -> str:
        return SOURCE

    def get_provider_schema(self, diags: Diagnostics) -> Schema:
        return Schema(version=0, attributes=[])

    def validate_config(self, diags: Diagnostics, config: Config):
        pass

    def configure_provider(self, diags: Diagnostics, config: Config):
        pass

    def get_data_sources(self) -> list[type[DataSource]]:
        return []

    def get_resources(self) -> list[type[Resource]]:
        return [RandomPassword]

    def get_functions(self) -> list:
        return []

    def new_resource(self, klass):
        return klass(self)

    def new_data_source(self, klass):
        return klass(self)

    def new_function(self, klass):
        return klass(self)


class _Servicer(tf_provider.ProviderServicer):
    """The ``tf`` framework builds create plans without calling the resource; add a ``plan_create`` hook so
    create plans can apply upstream's plan modifiers."""

    def PlanResourceChange(self, request, context):
        resp = super().PlanResourceChange(request, context)
        prior = read_dynamic_value(request.prior_state)
        if prior is None and resp.planned_state.msgpack:
            inst = self.app.new_resource(self._get_res_cls(request.type_name))
            hook = getattr(inst, "plan_create", None)
            if hook is not None:
                planned = read_dynamic_value(resp.planned_state)
                config = read_dynamic_value(request.config) or {}
                resp.planned_state.CopyFrom(to_dynamic_value(hook(config, planned)))
        return resp


def main(argv: Optional[list[str]] = None) -> None:
    tf_provider.ProviderServicer = _Servicer  # run_provider looks the class up at call time
    runner.run_provider(RandomProvider(), argv or sys.argv)


if __name__ == "__main__":
    main()
