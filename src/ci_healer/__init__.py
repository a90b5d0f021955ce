"""ci-healer: turn a failed CI run into a reviewed, one-command fix."""

__version__ = "1.0.0"
