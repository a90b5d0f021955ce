"""Reproducible benchmark of ci-healer's failure-block extraction against common baselines.

Run ``python bench/run.py --help``; ``bench/README.md`` explains every figure.
"""
