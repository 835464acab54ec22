"""One module per model (KEDA-style: small interface, one file per implementation)."""
