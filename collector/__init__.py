"""The eventlens collector: OTLP receivers, normalisation, storage, rollups, lag, queries and exports."""
