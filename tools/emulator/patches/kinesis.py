"""Kinesis gap patch: CreateStream keeps its tags.

Why: moto 5.2.5 drops CreateStream's Tags, so a stream created with the provider's default_tags shows a perpetual
tags_all diff.
"""

from __future__ import annotations

from typing import Any

from tools.emulator.patches.registry import gap


@gap(
    "kinesis-create-stream-tags",
    "CreateStream drops its Tags parameter, so a stream created with tags (provider default_tags) has none: "
    "perpetual tags_all diff.",
    "After CreateStream, apply the request's Tags with the backend's own add_tags_to_stream.",
)
def _patch_kinesis_create_stream_tags() -> None:
    """Observed on moto 5.2.5. No upstream issue found (searched 2026-12-03). Retire when moto's CreateStream
    applies its Tags parameter."""
    from moto.kinesis import responses as kr

    original = kr.KinesisResponse.create_stream

    def create_stream(self: Any) -> Any:
        result = original(self)
        tags = self._get_param("Tags")
        if tags:
            self.kinesis_backend.add_tags_to_stream(None, self._get_param("StreamName"), tags)
        return result

    kr.KinesisResponse.create_stream = create_stream


#: This module's patches, in the order they are applied.
PATCHES = (_patch_kinesis_create_stream_tags,)
