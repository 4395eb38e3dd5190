"""Project scripts: packaging, deployment and benchmarks (importable for their tests)."""
