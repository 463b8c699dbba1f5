"""The exceptions of the package."""


class StateSMixError(Exception):
    """Raised for corrupt or invalid statesmix data and for failed operations."""


class StateSMixEOFError(StateSMixError, EOFError):
    """The compressed data ended before the end of a stream (truncated or
    empty input).  It is also an EOFError, as lzma and bz2 raise there."""
