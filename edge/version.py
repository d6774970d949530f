"""Contract version checks shared by every payload type."""

from . import CONTRACT_MAJOR, CONTRACT_VERSION
from .errors import ContractError


def check_version(value, field="v"):
    """Accept "MAJOR.MINOR" with our MAJOR; a newer MINOR is read (extra keys
    are ignored), another MAJOR is refused with what to do about it."""
    if not isinstance(value, str):
        raise ContractError(field, value, 'must be a "MAJOR.MINOR" string such as "%s"' % CONTRACT_VERSION)
    parts = value.split(".")
    if len(parts) != 2 or not parts[0].isdigit() or not parts[1].isdigit():
        raise ContractError(field, value, 'must look like "%s"' % CONTRACT_VERSION)
    major = int(parts[0])
    if major != CONTRACT_MAJOR:
        raise ContractError(
            field,
            value,
            "unsupported contract major version %d: this software speaks %d.x; "
            "upgrade the older side so both speak the same major version" % (major, CONTRACT_MAJOR),
        )
    return value
