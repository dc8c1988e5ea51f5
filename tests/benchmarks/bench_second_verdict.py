"""Cost of the second TDX verdict (dcap-qvl) per attestation (run by hand; not a pytest test).

    .venv/bin/python tests/benchmarks/bench_second_verdict.py [--runs 200]

On the real Tinfoil TDX quote and its real Intel collateral (tests/data/attestation/tdx/) at
2026-01-20, interleaved run by run so both see the same machine load:

* ``dcap-qvl`` alone (``attestation.tdx.second_verdict.dcap_qvl_verdict``), and
* the whole ``verify_tdx_evidence`` with and without the second verdict.

The second verdict runs once per attestation (start-up and each re-attestation), never per
request. Prints median and best in milliseconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import statistics
import sys
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TDX = REPO / "tests" / "data" / "attestation" / "tdx"
JAN_20 = dt.datetime(2026, 1, 20, tzinfo=dt.UTC)


def _collateral() -> object:
    from attestation.tdx import PckCa, TdxCollateral

    def text(name: str) -> str:
        return (TDX / name).read_text()

    return TdxCollateral(
        tcb_info_json=text("tcb_info_90c06f000000.json"),
        qe_identity_json=text("qe_identity.json"),
        pck_crl=(TDX / "pck_crl_platform.crl").read_bytes(),
        root_crl=(TDX / "root_ca.crl").read_bytes(),
        tcb_info_issuer_chain=urllib.parse.unquote(text("tcb_info_90c06f000000_chain.txt")),
        qe_identity_issuer_chain=urllib.parse.unquote(text("qe_identity_chain.txt")),
        pck_crl_issuer_chain=urllib.parse.unquote(text("pck_crl_platform_chain.txt")),
        pck_crl_ca=PckCa.PLATFORM,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from attestation.tdx import IntelTrust, TdxCollateral, TdxPolicy, verify_tdx_evidence
    from attestation.tdx.policy_data import production_table
    from attestation.tdx.second_verdict import SecondInput, dcap_qvl_verdict

    quote = (TDX / "tdx_quote.bin").read_bytes()
    collateral = _collateral()
    assert isinstance(collateral, TdxCollateral) and collateral.pck_crl_issuer_chain
    # The policy of the day the quote was taken: module 1.5.08 and evaluation data number 18.
    historic = dataclasses.replace(
        TdxPolicy.production(extra_mr_seams=[production_table().mr_seam("1.5.08")]),
        min_tcb_evaluation_data_number=18,
    )
    ours_only = dataclasses.replace(historic, second_verifier_required=False)
    given = SecondInput(quote, collateral, collateral.pck_crl_issuer_chain, None, JAN_20)
    trust = IntelTrust.production()

    def full(policy: TdxPolicy) -> Callable[[], object]:
        return lambda: verify_tdx_evidence(
            quote, collateral=collateral, policy=policy, trust=trust, now=JAN_20
        )

    cases: dict[str, Callable[[], object]] = {
        "dcap-qvl alone": lambda: dcap_qvl_verdict(given),
        "verify_tdx_evidence, ours only": full(ours_only),
        "verify_tdx_evidence, both verifiers": full(historic),
    }
    for case in cases.values():  # warm-up: imports, first-call caches
        case()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.runs):
        for name, case in cases.items():
            start = time.perf_counter()
            case()
            times[name].append(time.perf_counter() - start)
    for name, samples in times.items():
        median, best = statistics.median(samples) * 1e3, min(samples) * 1e3
        print(f"{name:<38} median {median:7.3f} ms   best {best:7.3f} ms   ({args.runs} runs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
