"""Helpers of ``scripts/bench_router.py``: workloads, timing, load generation and the report.

Each measurement that needs its own environment (``router.lambda_handler`` builds everything
at import, from environment variables) runs in a child process; ``worker`` is that child.
"""
