"""Why a batch job could not run. ``RouterError`` subclasses, so the CLI reports them as every
other command does (``error: <detail>``, exit status 1)."""

from __future__ import annotations

from router.errors import RouterError


class BatchError(RouterError):
    status, slug, title = 422, "batch-failed", "Batch job failed"


class BatchInputInvalid(BatchError):
    """The input as a whole cannot be predicted: unknown format, a header without the
    model's features, a column that a prediction column would overwrite."""

    status, slug, title = 422, "batch-input-invalid", "Batch input invalid"


class InputUnavailable(BatchError):
    """The input object, or the version of it a job names, is not there to read."""

    status, slug, title = 404, "batch-input-unavailable", "Batch input unavailable"


class PinnedVersionUnavailable(BatchError):
    """The version a job started with is neither live any more nor kept in the history."""

    status, slug, title = 409, "pinned-version-unavailable", "Pinned model version unavailable"
