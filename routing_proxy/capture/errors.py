"""Every error ``strangler capture`` raises, in one place.

Hierarchy::

    CaptureError (StranglerError)
    ├── MitmproxyMissing     mitmproxy is neither importable nor installed in its own virtualenv
    ├── CaptureSetupError    the mitmproxy virtualenv could not be created
    └── CaptureStartError    a taken port, an unreachable upstream, or mitmdump refusing to start;
        │                    nothing was recorded
        └── OutputPathError  the output file exists, a leftover .partial is in the way, or the path
                             cannot be written; nothing was recorded

Messages say what was wrong, what was kept, and what to do.
"""

from __future__ import annotations

from strangler.errors import StranglerError


class CaptureError(StranglerError):
    """Base of every capture error."""


class MitmproxyMissing(CaptureError):
    exit_code = 69  # EX_UNAVAILABLE


class CaptureSetupError(CaptureError):
    exit_code = 69


class CaptureStartError(CaptureError):
    exit_code = 69


class OutputPathError(CaptureStartError):
    exit_code = 73  # EX_CANTCREAT
