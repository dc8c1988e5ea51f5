"""attestation: verify PPQ/Tinfoil enclave attestation bundles (SEV-SNP, TDX, Sigstore)."""
