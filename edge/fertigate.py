"""A fertigate command's dose and window, and its ack's volume (contract 1.5), checked.

commands.py imports this only for a fertigate command or an ack that carries
`injected_ml`, so a controller that never fertigates never loads it.
"""

from .errors import ContractError

INJECT_ML_MAX = 10000000  # 10 m3 of stock solution: more than any farm tank


def _is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def check_inject(c, duration_s):
    """(inject_ml, inject_from_s, inject_until_s) of fertigate `c`, checked
    against its run of `duration_s` s; ContractError naming the key and its bounds."""
    ml = c.get("inject_ml")
    if not _is_int(ml) or not 1 <= ml <= INJECT_ML_MAX:
        raise ContractError("inject_ml", ml, "must be an integer 1..%d (millilitres of stock solution)" % INJECT_ML_MAX)
    start = c.get("inject_from_s")
    if not _is_int(start) or not 0 <= start < duration_s:
        raise ContractError("inject_from_s", start, "must be an integer 0..duration_s - 1 (%d)" % (duration_s - 1))
    until = c.get("inject_until_s")
    if not _is_int(until) or not start < until <= duration_s:
        raise ContractError("inject_until_s", until, "must be an integer inject_from_s + 1 (%d)..duration_s (%d): "
                            "the injection window lies within the irrigation run" % (start + 1, duration_s))
    return ml, start, until


def check_injected(value):
    """An ack's injected_ml, checked."""
    if not _is_int(value) or not 0 <= value <= INJECT_ML_MAX * 2:
        raise ContractError("injected_ml", value, "must be an integer 0..%d or absent" % (INJECT_ML_MAX * 2))
    return value
