"""The conformance CLI: ``python -m attestation.conformance <subcommand>``.

Contract: docs/attestation.md, "Conformance CLI".

``capabilities`` prints the merged capability JSON of every stage module present
(``attestation/conformance/stage_*.py``, see ``base.py`` for their contract). Every other
subcommand reads one JSON object on stdin and writes one JSON object on stdout:

* exit 0  ``{"stage", "accepted": true, "outputs"}``
* exit 10 ``{"stage", "accepted": false, "rejection": {"code"[, "message"][, "stage"]}}``, in
  the shape of the stage's output schema (``base.RejectionContract``): only codes it lists,
  ``message`` only where it has that field (the message always goes to stderr too)
* exit 20 unsupported, 30 malformed input, 1 internal error (details on stderr).

Anything a library prints while a stage runs is redirected to stderr so stdout stays JSON.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import pkgutil
import sys
import traceback
from collections.abc import Sequence
from types import ModuleType
from typing import IO, Any, Final

from attestation.conformance import base
from attestation.errors import AttestationError
from attestation.sdk import SDK_NAME, sdk_version

SDK_VERSION: Final = sdk_version()


def discover_stages() -> dict[str, ModuleType]:
    """Import every ``stage_*`` module of this package, keyed by its ``STAGE`` name."""
    import attestation.conformance as package

    stages: dict[str, ModuleType] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if not info.name.startswith("stage_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        stage = getattr(module, "STAGE", None)
        if isinstance(stage, str) and callable(getattr(module, "run", None)):
            stages[stage] = module
    return stages


def _merge(into: dict[str, Any], fragment: dict[str, Any]) -> None:
    """Deep-merge capability fragments; lists are unioned in order."""
    for key, value in fragment.items():
        current = into.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            _merge(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            current.extend(v for v in value if v not in current)
        else:
            into[key] = json.loads(json.dumps(value))  # private copy


def capabilities(stages: dict[str, ModuleType]) -> dict[str, Any]:
    """The ``capabilities`` document (capabilities.schema.json)."""
    caps: dict[str, Any] = {
        "schema_version": "1",
        "sdk": SDK_NAME,
        "sdk_version": SDK_VERSION,
        "stages_supported": sorted(stages),
    }
    for name in sorted(stages):
        fragment = getattr(stages[name], "CAPABILITIES", {})
        if isinstance(fragment, dict):
            _merge(caps, fragment)
    return caps


def _emit(stdout: IO[str], document: dict[str, Any]) -> None:
    stdout.write(json.dumps(document, sort_keys=True) + "\n")
    stdout.flush()


def _contract(module: ModuleType | None) -> base.RejectionContract:
    contract = getattr(module, "REJECTION", None)
    return contract if isinstance(contract, base.RejectionContract) else base.ANY_CODE


def _reject(
    module: ModuleType,
    stage: str,
    exc: AttestationError,
    substage: str | None,
    stdout: IO[str],
    stderr: IO[str],
) -> int:
    """Write the rejection in the stage's schema shape (code list, message or not).

    A sub-stage's rejection inside verify-full keeps the code that sub-stage's own schema
    would report, so verify-full only ever names codes of the upstream schemas.
    """
    ours = exc.code.value
    if substage is not None:
        ours = _contract(discover_stages().get(substage)).code_for(ours) or ours
    contract = _contract(module)
    code = contract.code_for(ours)
    # The message always reaches stderr; stdout carries it only where the schema has a field.
    stderr.write(f"rejected: {exc.code.value}: {exc.message}\n")
    if code is None:
        stderr.write(f"internal error: {stage} has no schema code for {exc.code.value}\n")
        return base.EXIT_INTERNAL
    rejection: dict[str, Any] = {"code": code}
    if contract.message:
        rejection["message"] = exc.message
    if substage is not None:
        rejection["stage"] = substage
    _emit(stdout, {"stage": stage, "accepted": False, "rejection": rejection})
    return base.EXIT_REJECT


def run_stage(module: ModuleType, stage: str, text: str, stdout: IO[str], stderr: IO[str]) -> int:
    """Run one stage on the JSON ``text``; write the verdict; return the exit code."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        stderr.write(f"malformed input: not JSON: {exc}\n")
        return base.EXIT_MALFORMED
    if not isinstance(data, dict):
        stderr.write("malformed input: not a JSON object\n")
        return base.EXIT_MALFORMED
    try:
        with contextlib.redirect_stdout(stderr):
            outputs = module.run(data)
    except base.SubstageRejection as exc:
        return _reject(module, stage, exc.error, exc.stage, stdout, stderr)
    except AttestationError as exc:
        return _reject(module, stage, exc, None, stdout, stderr)
    except base.MalformedInput as exc:
        stderr.write(f"malformed input: {exc}\n")
        return base.EXIT_MALFORMED
    except base.Unsupported as exc:
        stderr.write(f"unsupported: {exc}\n")
        return base.EXIT_UNSUPPORTED
    except Exception:  # the CLI boundary: anything else is an internal error (exit 1)
        stderr.write(traceback.format_exc())
        return base.EXIT_INTERNAL
    _emit(stdout, {"stage": stage, "accepted": True, "outputs": outputs})
    return base.EXIT_ACCEPT


def main(
    argv: Sequence[str] | None = None,
    stdin: IO[str] | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Entry point; streams default to the process's. Returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    stages = discover_stages()
    if len(args) != 1:
        stderr.write(
            "usage: python -m attestation.conformance <capabilities|"
            + "|".join(sorted(stages))
            + ">\n"
        )
        return base.EXIT_MALFORMED
    command = args[0]
    if command == "capabilities":
        _emit(stdout, capabilities(stages))
        return base.EXIT_ACCEPT
    module = stages.get(command)
    if module is None:
        stderr.write(f"unsupported stage {command!r}\n")
        return base.EXIT_UNSUPPORTED
    return run_stage(module, command, stdin.read(), stdout, stderr)


__all__ = ["capabilities", "discover_stages", "main", "run_stage"]
