"""The MQTT topic tree.

    {root}/v1/{site}/node/{node}/up       node -> gateway   readings (JSON or binary)
    {root}/v1/{site}/node/{node}/status   node -> gateway   online/offline, retained, last will
    {root}/v1/{site}/node/{node}/cmd      gateway -> node   irrigation commands
    {root}/v1/{site}/node/{node}/ack      node -> gateway   command acknowledgements
    {root}/v1/{site}/node/{node}/image    node -> gateway   image chunks (1.3, image.py)
    {root}/v1/{site}/node/{node}/image_ack gateway -> node  which chunks of an image are stored (1.3)
    {root}/v1/{site}/gw/{gateway}/batch   gateway -> cloud  batches of readings
    {root}/v1/{site}/gw/{gateway}/status  gateway -> cloud  online/offline, retained, last will
    {root}/v1/{site}/gw/{gateway}/cmd     cloud -> gateway  commands for the gateway's nodes
    {root}/v1/{site}/gw/{gateway}/plan    cloud -> gateway  the plan kept for a WAN outage (1.2)
    {root}/v1/{site}/gw/{gateway}/ack     gateway -> cloud  acknowledgements from its nodes
    {root}/v1/{site}/gw/{gateway}/receipt cloud -> gateway  a batch is stored (1.2)
    {root}/v1/{site}/gw/{gateway}/image   gateway -> cloud  whole images (1.3, image_forward.py)
    {root}/v1/{site}/gw/{gateway}/image_receipt cloud -> gateway  an image is stored (1.3)

`root` is "furrow" in production; tests pass a unique root per test so they
never see each other's messages on a shared broker. The "v1" level is the
contract's major version: a major change moves to a new subtree.

Plans had no topic of their own before contract 1.2: a 1.1 cloud sends them
on ``gw/{gateway}/cmd`` (a 1.2 gateway still takes them there), and a 1.1
gateway never subscribes to ``plan`` (upgrade gateways first; see
docs/contract.md).
"""

from .errors import ContractError

ROOT = "furrow"
TOPIC_VERSION = "v1"

NODE_UP = "up"
NODE_STATUS = "status"
NODE_CMD = "cmd"
NODE_ACK = "ack"
NODE_IMAGE = "image"  # 1.3
NODE_IMAGE_ACK = "image_ack"  # 1.3
GW_BATCH = "batch"
GW_STATUS = "status"
GW_CMD = "cmd"
GW_ACK = "ack"
GW_PLAN = "plan"
GW_RECEIPT = "receipt"
GW_IMAGE = "image"  # 1.3
GW_IMAGE_RECEIPT = "image_receipt"  # 1.3

_NODE_LEAVES = (NODE_UP, NODE_STATUS, NODE_CMD, NODE_ACK, NODE_IMAGE, NODE_IMAGE_ACK)
_GW_LEAVES = (GW_BATCH, GW_STATUS, GW_CMD, GW_ACK, GW_PLAN, GW_RECEIPT, GW_IMAGE, GW_IMAGE_RECEIPT)


def check_id(field, value):
    """Ids (site, node, gateway) are 1-32 of [a-z0-9_-], so they are safe in
    topics, file names, InfluxDB tags and URLs alike."""
    if not isinstance(value, str) or not 1 <= len(value) <= 32:
        raise ContractError(field, value, "must be a string of 1 to 32 characters")
    for ch in value:
        if not ("a" <= ch <= "z" or "0" <= ch <= "9" or ch == "-" or ch == "_"):
            raise ContractError(field, value, "may hold only a-z, 0-9, '-' and '_'")
    return value


def node_topic(site, node, leaf, root=ROOT):
    check_id("site", site)
    check_id("node", node)
    if leaf not in _NODE_LEAVES:
        raise ContractError("leaf", leaf, "unknown node topic leaf")
    return "%s/%s/%s/node/%s/%s" % (root, TOPIC_VERSION, site, node, leaf)


def gateway_topic(site, gateway, leaf, root=ROOT):
    check_id("site", site)
    check_id("gateway", gateway)
    if leaf not in _GW_LEAVES:
        raise ContractError("leaf", leaf, "unknown gateway topic leaf")
    return "%s/%s/%s/gw/%s/%s" % (root, TOPIC_VERSION, site, gateway, leaf)


def node_filter(site, leaf, root=ROOT):
    """Subscription filter for one leaf of every node of a site ('+' for all sites)."""
    return "%s/%s/%s/node/+/%s" % (root, TOPIC_VERSION, site, leaf)


def gateway_filter(site, leaf, root=ROOT):
    """Subscription filter for one leaf of every gateway of a site ('+' for all sites)."""
    return "%s/%s/%s/gw/+/%s" % (root, TOPIC_VERSION, site, leaf)


def parse_topic(topic, root=ROOT):
    """Split a topic into (kind, site, id, leaf) with kind "node" or "gw".

    Raises ContractError naming the topic when it is not part of the tree.
    """
    parts = topic.split("/")
    root_parts = root.split("/")
    n = len(root_parts)
    if len(parts) != n + 5 or parts[:n] != root_parts:
        raise ContractError("topic", topic, "not under %s/%s/" % (root, TOPIC_VERSION))
    version, site, kind, ident, leaf = parts[n:]
    if version != TOPIC_VERSION:
        raise ContractError(
            "topic", topic, "topic version %s is not %s; upgrade this component" % (version, TOPIC_VERSION)
        )
    if kind == "node":
        if leaf not in _NODE_LEAVES:
            raise ContractError("topic", topic, "unknown node topic leaf %r" % leaf)
    elif kind == "gw":
        if leaf not in _GW_LEAVES:
            raise ContractError("topic", topic, "unknown gateway topic leaf %r" % leaf)
    else:
        raise ContractError("topic", topic, "expected 'node' or 'gw' after the site")
    check_id("site", site)
    check_id(kind == "node" and "node" or "gateway", ident)
    return kind, site, ident, leaf
