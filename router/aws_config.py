"""How long the router's own AWS calls may wait: the publish, versions and batch commands,
the deploy script and the inbox and batch functions.

botocore's defaults allow 60 s to connect, 60 s for each read and five attempts, so an
endpoint that takes the connection and never answers (a proxy, a captive portal, an
``AWS_ENDPOINT_URL`` pointing at the wrong port) holds a command for about ten minutes.
These bound it to about a minute and a half. The read timeout is per socket read, not per
call: a large upload or download that keeps moving is never cut short by it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botocore.config import Config

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0
ATTEMPTS = 3


def bounded_config(
    connect_timeout_s: float | None = None,
    read_timeout_s: float | None = None,
    attempts: int | None = None,
) -> Config:
    """botocore settings with these bounds; each defaults to this module's constant, read
    at call time so that a test can shorten it."""
    from botocore.config import Config

    return Config(
        connect_timeout=CONNECT_TIMEOUT_S if connect_timeout_s is None else connect_timeout_s,
        read_timeout=READ_TIMEOUT_S if read_timeout_s is None else read_timeout_s,
        # "standard" retries only what is worth retrying (throttling, 5xx, timeouts) and
        # backs off with jitter. "total_max_attempts" counts the first call; botocore's
        # "max_attempts" counts only the retries.
        retries={
            "total_max_attempts": ATTEMPTS if attempts is None else attempts,
            "mode": "standard",
        },
    )
