"""The pydantic data converter, with one type-adapter cache per process.

Same wire format as ``temporalio.contrib.pydantic.pydantic_data_converter`` (JSON via pydantic),
so clients using either read each other's payloads. The difference is memory: the SDK builds a
fresh payload converter for every workflow run (serialization context), and the stock pydantic
converter gives each one its own ``TypeAdapter`` cache, so every cached workflow rebuilt the
adapters of every type it touched (tens of KB each). Sharing the cache keeps a worker with
thousands of open cases in a few hundred MB. ``TypeAdapter`` validation is thread-safe.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import TypeAdapter
from temporalio.contrib.pydantic import (
    PydanticJSONPlainPayloadConverter,
    PydanticPayloadConverter,
)
from temporalio.converter import DataConverter

__all__ = ["SharedPydanticPayloadConverter", "shared_pydantic_data_converter", "type_adapter"]

type_adapter: functools._lru_cache_wrapper[TypeAdapter[Any]] = functools.lru_cache(maxsize=1024)(
    TypeAdapter
)
"""The process-wide cache: one ``TypeAdapter`` per type hint."""


class SharedPydanticPayloadConverter(PydanticPayloadConverter):
    """:class:`PydanticPayloadConverter` whose JSON converter uses :data:`type_adapter`."""

    def __init__(self) -> None:
        super().__init__()
        for converter in self.converters.values():
            if isinstance(converter, PydanticJSONPlainPayloadConverter):
                # (private in the SDK; tests/unit/test_temporal_converter.py checks it holds)
                converter._type_adapter = type_adapter


shared_pydantic_data_converter = DataConverter(
    payload_converter_class=SharedPydanticPayloadConverter
)
