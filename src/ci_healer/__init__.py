"""ci-healer: turn a failed CI run into a reviewed, one-command fix."""

__version__ = "0.1.0"
