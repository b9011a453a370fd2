"""Every props field is documented; every defaulted one says `Default:` and what the default does."""

from __future__ import annotations

import dataclasses
import inspect
import re

import pytest

from constructs_lib.alarms import AlertTopicProps, SystemAlarmsProps
from constructs_lib.cache import TransactionCacheProps
from constructs_lib.database import TransactionDatabaseProps
from constructs_lib.encryption import EncryptionKeyProps
from constructs_lib.networking import NetworkingProps
from constructs_lib.processor import TransactionProcessorProps
from constructs_lib.schema_migration import SchemaMigrationProps
from constructs_lib.secrets import SecretProps
from constructs_lib.stream import TransactionStreamProps

PROPS = (
    NetworkingProps,
    TransactionStreamProps,
    TransactionCacheProps,
    TransactionDatabaseProps,
    AlertTopicProps,
    SystemAlarmsProps,
    TransactionProcessorProps,
    SchemaMigrationProps,
    SecretProps,
    EncryptionKeyProps,
)
#: A docstring entry: `name: text`, or several names joined by ' / ' or ', ', then indented continuation lines.
_ENTRY = re.compile(r"^    (?P<names>[a-z_]+(?:(?: / |, )[a-z_]+)*): ?(?P<text>.*(?:\n      .*)*)", re.MULTILINE)


def entries(cls: type) -> dict[str, str]:
    """Field name -> its documentation, from the docstrings of `cls` and its bases."""
    documented: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        for match in _ENTRY.finditer(inspect.cleandoc(klass.__doc__ or "").replace("\n", "\n    ")):
            for name in re.split(r" / |, ", match["names"]):
                documented[name] = match["text"]
    return documented


@pytest.mark.parametrize("props", PROPS, ids=lambda cls: cls.__name__)
def test_every_field_is_documented_and_every_default_explained(props: type) -> None:
    documented = entries(props)
    fields = dataclasses.fields(props)
    assert [f.name for f in fields if f.name not in documented] == []
    defaulted = [
        f.name for f in fields if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    ]
    assert [name for name in defaulted if "Default:" not in documented[name]] == []
