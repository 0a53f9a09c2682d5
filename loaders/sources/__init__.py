"""Source-format readers: which source table a landed object belongs to, its columns, its records.

`identify(obj, layout)` maps a key to a `SourceFile` (or None when the key lies outside every source's
prefix, e.g. the loader's own manifests); a key under a source prefix that breaks the layout or names
an unknown table raises UnknownObjectError (the object is quarantined, never used as an identifier).
`inspect(zone, sf)` reads what is needed to know the file's columns (CSV header, Parquet footer, JSON
keys); `record_batches(zone, sf, info)` streams its records as Arrow batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Mapping, Sequence

import pyarrow as pa

from loaders.landing import LandedObject, LandingZone
from loaders.source_tables import SYSTEMS
from loaders.sources import appflow, dms, tms
from loaders.sources.base import (FileFormatError, FileInfo, SchemaError, SourceFile, UnknownObjectError)

__all__ = ["Layout", "SourceFile", "FileInfo", "identify", "inspect", "record_batches", "UnknownObjectError",
           "FileFormatError", "SchemaError", "SYSTEM_SOURCE"]

SYSTEM_SOURCE = {"azureware": "dms", "salesforce": "appflow", "tms": "tms"}


@dataclass(frozen=True)
class Layout:
    """Where each source writes in the landing zone (prefixes end with '/')."""

    dms_prefix: str = "dms/azureware/"
    dms_schema: str = "dbo"
    appflow_prefix: str = "appflow/salesforce/"
    appflow_flow_prefix: str = "salesforce-"
    tms_prefix: str = "tms/"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "Layout":
        def prefix(name: str, default: str) -> str:
            value = (env.get(name) or default).strip("/")
            return value + "/"

        return cls(
            dms_prefix=prefix("UNIFY_DMS_PREFIX", cls.dms_prefix),
            dms_schema=env.get("UNIFY_DMS_SCHEMA") or cls.dms_schema,
            appflow_prefix=prefix("UNIFY_APPFLOW_PREFIX", cls.appflow_prefix),
            appflow_flow_prefix=env.get("UNIFY_APPFLOW_FLOW_PREFIX") or cls.appflow_flow_prefix,
            tms_prefix=prefix("UNIFY_TMS_PREFIX", cls.tms_prefix),
        )

    def prefix(self, system: str) -> str:
        return {"azureware": self.dms_prefix, "salesforce": self.appflow_prefix, "tms": self.tms_prefix}[system]

    def system_of(self, key: str) -> str | None:
        for system in SYSTEMS:
            if key.startswith(self.prefix(system)):
                return system
        return None


def identify(obj: LandedObject, layout: Layout, systems: Sequence[str] = SYSTEMS) -> SourceFile | None:
    system = layout.system_of(obj.key)
    if system is None or system not in systems:
        return None
    rest = obj.key[len(layout.prefix(system)):]
    if system == "azureware":
        return dms.identify(obj, rest, layout.dms_schema)
    if system == "salesforce":
        return appflow.identify(obj, rest, layout.appflow_flow_prefix)
    return tms.identify(obj, rest)


_READERS = {"dms": dms, "appflow": appflow, "tms": tms}


def inspect(zone: LandingZone, sf: SourceFile) -> FileInfo:
    return _READERS[sf.source].inspect(zone, sf)


def record_batches(zone: LandingZone, sf: SourceFile, info: FileInfo) -> Iterator[pa.RecordBatch]:
    return _READERS[sf.source].record_batches(zone, sf, info)
