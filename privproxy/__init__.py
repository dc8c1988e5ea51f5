"""privproxy: a local OpenAI-compatible proxy for PayPerQ private/* models.

It verifies the Tinfoil enclave's attestation, seals every request body with EHBP
in-process and relays the decrypted (streamed) answer to the local client.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
