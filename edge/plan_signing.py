"""Signed plans (contract 1.1): the bytes the cloud signs for a plan's envelope.

A plan (cloud/commands/plans.py, gateway/autonomy.py) carries commands each
signed on its own (signing.signed_bytes), but what the gateway does with
them (which plan is newest, how long it is valid, which commands it still
holds) comes from the envelope. So the cloud also signs the envelope, with
the same keys, and adds ``site``, ``gateway``, ``kid`` and ``sig`` to it::

    {"v": "1.1", "plan_id": ..., "issued_ms": ..., "valid_until_ms": ...,
     "site": ..., "gateway": ..., "kid": ..., "sig": ..., "commands": [...]}

The signature covers the plan id, both times, the gateway and the ids of
its commands in order, encoded as in signing.py under a domain string of
its own, so a command signature never verifies as a plan's and back.

Gateway and cloud only (nodes never see a plan): it is not in the node
image, but stays plain MicroPython-subset Python like the rest of edge/.
"""

from .errors import ContractError
from .signing import _encode

PLAN_SIG_DOMAIN = b"furrow-plan-sig/1"


def _int(field, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ContractError(field, value, "must be Unix time in milliseconds")
    return value


def _str(field, value):
    if not isinstance(value, str):
        raise ContractError(field, value, "must be a string")
    return value


def plan_signed_bytes(plan):
    """What the cloud's signature over a plan covers; ContractError naming a field of the wrong type."""
    if not isinstance(plan, dict):
        raise ContractError("plan", plan, "must be an object")
    cmds = plan.get("commands")
    if not isinstance(cmds, list):
        raise ContractError("commands", cmds, "must be a list of commands")
    ids = []
    for i in range(len(cmds)):
        c = cmds[i]
        ids.append(_str("commands.%d.id" % i, c.get("id") if isinstance(c, dict) else None))
    values = [
        _str("plan_id", plan.get("plan_id")),
        _int("issued_ms", plan.get("issued_ms")),
        _int("valid_until_ms", plan.get("valid_until_ms")),
        plan.get("site") if isinstance(plan.get("site"), str) else None,
        plan.get("gateway") if isinstance(plan.get("gateway"), str) else None,
        plan.get("kid") if isinstance(plan.get("kid"), str) else None,
        len(ids),
    ]
    return _encode(PLAN_SIG_DOMAIN, values + ids)
