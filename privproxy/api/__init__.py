"""The local HTTP surface that clients call: one module per client API."""
