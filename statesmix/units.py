"""Byte counts for people: the one formatter of the package and bench."""

_BINARY = ((3, "GiB"), (2, "MiB"), (1, "KiB"))
_DECIMAL = ((3, "GB"), (2, "MB"), (1, "KB"))


def fmt_bytes(n, si=False):
    """'64 KiB', '1.5 MiB', '300 B'; with si decimal units ('1 MB').  Whole
    multiples of a unit are written without decimals, others with one."""
    base = 1000 if si else 1024
    for power, unit in _DECIMAL if si else _BINARY:
        scale = base ** power
        if n >= scale:
            return ("%d %s" % (n // scale, unit) if n % scale == 0
                    else "%.1f %s" % (n / scale, unit))
    return "%d B" % n
