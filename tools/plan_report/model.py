"""What the plan risk report reads a plan into: one ``StackPlan`` per plan file, holding its ``ResourceChange``s
(each with its masked ``AttributeChange``s and their ``JsonChange``s), ``Drift``, ``Rename``s and ``Provisioner``s;
the rows of the red sections (``Danger``, ``DamageRow``, ``StateWarning``); the parsed command line (``Options``);
and the vocabulary every stage shares (Terraform's actions as the report names them, the override variable).
Plain frozen dataclasses with no logic beyond what a value says about itself, so that every other module of
``tools.plan_report`` depends on this one and this one on none of them (``tools.plan_damage`` only, for ``Damage``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from tools.plan_damage import Damage

#: Set to 1 (or true/yes/on) to let a red report through, like ``--allow-destructive``; the red sections name it.
OVERRIDE_ENV = "PLAN_REPORT_ALLOW_DESTRUCTIVE"

#: Terraform ``actions`` lists -> (our label, the symbol Terraform prints).
ACTION_LABELS: Mapping[tuple[str, ...], tuple[str, str]] = {
    ("create",): ("create", "+"),
    ("update",): ("update", "~"),
    ("delete",): ("destroy", "-"),
    ("delete", "create"): ("replace", "-/+"),
    ("create", "delete"): ("replace (create before destroy)", "+/-"),
    ("read",): ("read", "<="),
    ("no-op",): ("no-op", " "),
    ("forget",): ("forget (removed from state only)", "."),
}
DESTRUCTIVE_ACTIONS = frozenset({"destroy", "replace", "replace (create before destroy)"})


@dataclass(frozen=True)
class JsonChange:
    """One path inside a JSON document (a policy) that is added (``+``), removed (``-``) or changed (``~``)."""

    kind: str
    path: str
    before: str = ""
    after: str = ""


@dataclass(frozen=True)
class AttributeChange:
    """One top-level attribute whose value changes, already masked and rendered as short text.

    ``json_changes`` is set when both sides are JSON documents: the reviewer reads what changes inside,
    not two blobs."""

    name: str
    before: str
    after: str
    forces_replacement: bool = False
    json_changes: tuple[JsonChange, ...] | None = None


@dataclass(frozen=True)
class ResourceChange:
    """One entry of ``resource_changes`` reduced to what a reviewer needs."""

    address: str
    type: str
    action: str
    symbol: str
    replace_paths: tuple[str, ...] = ()
    reason: str | None = None
    attributes: tuple[AttributeChange, ...] = ()
    omitted_attributes: int = 0
    known_after_apply: tuple[str, ...] = ()
    previous_address: str | None = None
    #: The in-place damage rules (``tools.plan_damage.RULES``) this change trips.
    damage: tuple[Damage, ...] = ()

    @property
    def destructive(self) -> bool:
        """True for a destroy or a replace (either order)."""
        return self.action in DESTRUCTIVE_ACTIONS

    @property
    def shown(self) -> bool:
        """Whether the change belongs in the table (no-ops and data-source reads do not)."""
        return self.action not in ("no-op", "read")


@dataclass(frozen=True)
class Rename:
    """A destroy and a create of one real object whose Terraform address changed (a construct id was renamed).

    Applied as planned, the object and its data are deleted and an empty one is created; a ``moved`` block
    (cdktf: ``move_from_id`` on the new resource) moves the state instead."""

    type: str
    old_address: str
    new_address: str
    identifier: str

    @property
    def moved_block(self) -> str:
        """The HCL fix: a ``moved`` block from the old address to the new one."""
        return f"moved {{\n  from = {self.old_address}\n  to   = {self.new_address}\n}}"

    @property
    def cdktf_call(self) -> str:
        """The same fix in cdktf (0.20+) Python, called on the resource object that now has the new address."""
        return f"resource.move_from_id({json.dumps(self.old_address)})"


@dataclass(frozen=True)
class Drift:
    """A resource changed (or deleted) outside Terraform since the last apply, with what changed."""

    address: str
    deleted: bool
    attributes: tuple[AttributeChange, ...] = ()
    omitted_attributes: int = 0
    reverted: bool = False
    type: str = ""


@dataclass(frozen=True)
class Provisioner:
    """A provisioner in the plan's configuration: a command Terraform runs where it applies, next to its credentials."""

    address: str
    type: str
    command: str


@dataclass(frozen=True)
class StackPlan:
    """One plan file: its stack name and its changes."""

    name: str
    path: str
    terraform_version: str
    changes: tuple[ResourceChange, ...]
    drift: tuple[Drift, ...] = ()
    errored: bool = False
    complete: bool = True
    prior_resources: int = 0
    renames: tuple[Rename, ...] = ()
    provisioners: tuple[Provisioner, ...] = ()

    @property
    def drifted(self) -> int:
        """How many resources changed outside Terraform."""
        return len(self.drift)

    def count(self, *actions: str) -> int:
        """How many changes have one of ``actions``."""
        return sum(1 for c in self.changes if c.action in actions)

    def rename_of(self, address: str) -> Rename | None:
        """The rename whose old or new address is ``address``, if any."""
        return next((r for r in self.renames if address in (r.old_address, r.new_address)), None)


@dataclass(frozen=True)
class Danger:
    """A destroy or replace of a stateful resource: one row of the red section (``rename`` when it is one)."""

    stack: str
    change: ResourceChange
    at_risk: str
    rename: Rename | None = None


@dataclass(frozen=True)
class DamageRow:
    """One row of the red in-place damage section: a rule a change trips, or a stateful resource deleted outside
    Terraform (``damage`` None)."""

    stack: str
    address: str
    action: str
    at_risk: str
    damage: Damage | None = None


@dataclass(frozen=True)
class StateWarning:
    """A stack whose plan does not start from the state the running environment lives in."""

    stack: str
    message: str


@dataclass
class Options:
    """Parsed command line."""

    plans: list[str]
    output: str | None
    names: dict[str, str] = field(default_factory=dict)
    allow_destructive: bool = False
    stack_configs: dict[str, str] = field(default_factory=dict)
    base_configs: dict[str, str] = field(default_factory=dict)
