"""The shipped TDX production policy table: parse and validate ``trustdata/tdx_policy.json``.

The values (which Intel TDX modules the Tinfoil fleet runs, the minimum TCB evaluation data
number, TEE_TCB_SVN, TD_ATTRIBUTES, XFAM) change when Tinfoil's fleet does, so they live in
one data file with the source of every value beside it, not in code. This module only reads
that file strictly: an unknown member, a wrong length or a module listed both as accepted and
retired is TRUST_ROOT_INVALID, never a silently weaker policy.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from attestation import trustdata
from attestation.errors import Code, TrustError

POLICY_FILE: Final = "tdx_policy.json"
_KEYS: Final = frozenset(
    {
        "_about",
        "mr_seam_accepted",
        "mr_seam_retired",
        "min_tcb_evaluation_data_number",
        "min_tee_tcb_svn",
        "td_attributes",
        "xfam",
    }
)


@dataclass(frozen=True, slots=True)
class TdxModule:
    """One Intel TDX module release: its version name, MR_SEAM and where the value is from."""

    version: str
    mr_seam: bytes
    provenance: str


@dataclass(frozen=True, slots=True)
class TdxPolicyTable:
    """The production TDX values, each from the data file (``about`` names its sources)."""

    accepted: tuple[TdxModule, ...]
    retired: tuple[TdxModule, ...]
    min_tcb_evaluation_data_number: int
    min_tee_tcb_svn: bytes
    td_attributes: bytes
    xfam: bytes
    about: str

    def mr_seam(self, version: str) -> bytes:
        """The MR_SEAM of an accepted or retired module by version (KeyError if unknown)."""
        for module in (*self.accepted, *self.retired):
            if module.version == version:
                return module.mr_seam
        raise KeyError(version)

    def describe(self, mr_seam: bytes) -> str:
        """A human name for an MR_SEAM, for rejection messages and logs."""
        for module in self.accepted:
            if module.mr_seam == mr_seam:
                return f"TDX module {module.version}"
        for module in self.retired:
            if module.mr_seam == mr_seam:
                return f"TDX module {module.version}, retired from the production policy"
        return "an unknown TDX module"


def _invalid(why: str) -> TrustError:
    return TrustError(Code.TRUST_ROOT_INVALID, f"TDX policy table: {why}")


def _hex(value: object, size: int, what: str) -> bytes:
    try:
        out = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        out = b""
    if len(out) != size:
        raise _invalid(f"{what} is not {size} hex-encoded bytes")
    return out


def _modules(raw: object, what: str) -> tuple[TdxModule, ...]:
    if not isinstance(raw, dict) or not raw:
        raise _invalid(f"{what} is not a non-empty object")
    modules = []
    for version, entry in raw.items():
        if not isinstance(entry, dict) or "mr_seam" not in entry:
            raise _invalid(f"{what}.{version} has no mr_seam")
        sources = entry.get("in", entry.get("note", ""))
        provenance = ", ".join(sources) if isinstance(sources, list) else str(sources)
        modules.append(TdxModule(version, _hex(entry["mr_seam"], 48, f"{version}"), provenance))
    return tuple(modules)


def parse_policy_table(data: bytes) -> TdxPolicyTable:
    """Parse and validate a TDX policy table document."""
    try:
        doc: Any = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _invalid("not JSON") from exc
    if not isinstance(doc, Mapping) or set(doc) != _KEYS:
        raise _invalid(f"members must be exactly {sorted(_KEYS)}")
    accepted = _modules(doc["mr_seam_accepted"], "mr_seam_accepted")
    retired = _modules(doc["mr_seam_retired"], "mr_seam_retired")
    if {m.mr_seam for m in accepted} & {m.mr_seam for m in retired}:
        raise _invalid("a module is both accepted and retired")
    number = doc["min_tcb_evaluation_data_number"]
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise _invalid("min_tcb_evaluation_data_number is not a positive integer")
    about = doc["_about"]
    if not isinstance(about, str) or not about:
        raise _invalid("_about (the provenance) is missing")
    return TdxPolicyTable(
        accepted=accepted,
        retired=retired,
        min_tcb_evaluation_data_number=number,
        min_tee_tcb_svn=_hex(doc["min_tee_tcb_svn"], 16, "min_tee_tcb_svn"),
        td_attributes=_hex(doc["td_attributes"], 8, "td_attributes"),
        xfam=_hex(doc["xfam"], 8, "xfam"),
        about=about,
    )


@functools.cache
def production_table() -> TdxPolicyTable:
    """The table shipped in the package (parsed once)."""
    try:
        data = trustdata.read(POLICY_FILE)
    except (OSError, ValueError) as exc:
        raise _invalid(f"the installed package lacks {POLICY_FILE}") from exc
    return parse_policy_table(data)


__all__ = ["POLICY_FILE", "TdxModule", "TdxPolicyTable", "parse_policy_table", "production_table"]
