"""The attestation lifecycle: where the verified enclave key comes from, its state and audit."""
