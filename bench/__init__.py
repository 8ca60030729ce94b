"""Benchmarks: every figure is measured beside a baseline in the same run (``python -m bench``).

    append_bench   appends (1 and 100 events per commit) and verification
    relay_bench    publishing the store to Kafka (when present)
"""
