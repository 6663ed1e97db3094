"""Batch runs: manifests, the job ledger, the scheduler and its Ray workers, the report."""
