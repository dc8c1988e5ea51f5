"""A simulated PPQ gateway and Tinfoil enclave, for the offline demo and end-to-end tests.

Everything is generated in memory at start-up (AMD chain, signed SEV-SNP report, enclave
certificate, Sigstore CA / CT log / Rekor material) and never written to disk. The
production verifier does not trust any of it: `SimulatedWorld.trust()` must be passed to it
explicitly, which production start-up never does.

* `world.SimulatedWorld`: the evidence (`generate()`, `boot_enclave()`, `trust()`).
* `server.SimulatedGateway`: the aiohttp gateway serving `/private/attestation`, the EHBP
  chat endpoint and the model catalog, with fault knobs.
"""

from __future__ import annotations

from privproxy.simulator.world import EnclaveInstance, SimulatedWorld, shared_world

__all__ = ["EnclaveInstance", "SimulatedWorld", "shared_world"]
