"""Why publishing failed. Subclasses of ``RouterError``, so the CLI reports every one of them
the same way (``error: <detail>``, exit status 1). A model that is not publishable is
``router.errors.InvalidModelFile``, shared with the loader."""

from __future__ import annotations

from router.errors import RouterError


class PublishError(RouterError):
    status, slug, title = 500, "publish-failed", "Publishing failed"


class FolderUnusable(PublishError):
    """The model's folder in the root is something a publish cannot write into (a file, a
    linked history): an operator's to fix, which no retry changes."""


class ModelFileUnreadable(PublishError):
    """The file to publish cannot be read (missing, a folder, no permission)."""

    status, slug, title = 400, "model-file-unreadable", "Model file unreadable"


class BucketUnavailable(PublishError):
    """S3 refused a request. ``code`` is AWS's error code (NoSuchBucket, AccessDenied, ...)."""

    status, slug, title = 502, "bucket-unavailable", "Inbox bucket unavailable"

    def __init__(self, detail: str, code: str | None = None) -> None:
        super().__init__(detail)
        self.code = code


class ObjectOverwritten(PublishError):
    """The object an event names was written over before it was read (an unversioned bucket,
    or a version-less event): its content is no longer the event's."""


class ObjectTooLarge(PublishError):
    """An inbox object larger than the inbox function may hold while validating it."""

    status, slug, title = 413, "object-too-large", "Object too large for the inbox"


class VersionNotFound(PublishError):
    status, slug, title = 404, "version-not-found", "Version not found"


class VersionDamaged(PublishError):
    """A history entry whose bytes are no longer the ones its name records (written over in
    place through the live file's hard link, or bit rot)."""

    status, slug, title = 409, "version-damaged", "Version damaged"


class NothingToRollBack(PublishError):
    status, slug, title = 409, "nothing-to-roll-back", "No earlier version to roll back to"


class InboxRejected(PublishError):
    """The inbox function refused an upload; ``detail`` holds its reason."""

    status, slug, title = 422, "inbox-rejected", "Rejected by the inbox"


class NoVerdict(PublishError):
    """``--wait`` ran out before the inbox tagged the upload."""

    status, slug, title = 504, "no-verdict", "The inbox has not answered yet"
