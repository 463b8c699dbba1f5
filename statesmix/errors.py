class StateSMixError(Exception):
    """Raised for corrupt or invalid statesmix data and for failed operations."""
