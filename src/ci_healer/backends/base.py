"""The one interface every backend implements, and its error type."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ci_healer.models import EditFailure, Proposal, ProposalRequest


class BackendError(Exception):
    """A backend could not produce a valid proposal.

    ``code`` is stable for programs: ``timeout``, ``throttled``, ``unavailable`` (5xx, connection,
    a reply body that is not valid JSON), ``auth`` (401/403, missing credentials),
    ``invalid_output`` (a reply that is not a proposal even after the repair round, or an HTTP 200
    that is not a completion, e.g. no choices), ``truncated`` (cut off by the output cap even after
    the one retry with a larger cap), ``refused`` (the model or the endpoint's content filter
    declined), ``config`` (a request or setting the endpoint cannot use, e.g. a login page where the
    API should be), ``internal`` (an exception no mapping foresaw, named by its type).
    ``str(err)`` is a one-line message for the job summary with secrets redacted.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Backend(Protocol):
    """A source of proposals. ``name`` is what the analysis JSON reports as ``backend``."""

    name: str

    def propose(self, request: ProposalRequest) -> Proposal:
        """Return a validated :class:`Proposal` for ``request``; raise :class:`BackendError`."""


@runtime_checkable
class RepairingBackend(Protocol):
    """A backend that can correct edits that did not apply (the engine's one patch-repair round).

    Optional: a backend without ``repair_edits`` (the offline ``rules`` backend, which never
    misquotes a file) is simply not asked. The engine validates the answer exactly like the first
    proposal (paths, secrets, diff, policy, risk).
    """

    name: str

    def repair_edits(
        self, request: ProposalRequest, previous: Proposal, failures: list[EditFailure]
    ) -> Proposal:
        """A corrected :class:`Proposal` for ``request`` after ``previous``'s edits failed as
        ``failures`` describe; raise :class:`BackendError` like :meth:`Backend.propose`."""
