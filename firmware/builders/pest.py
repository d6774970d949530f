"""A pest trap node: catch counters and the technician's service buttons on each trap."""

from furrow.firmware import board


def build(cfg, clock, seq, common):
    from furrow.firmware.pest_node import PestNode

    node = PestNode(cfg["node"], seq, traps=len(cfg["traps"]), **common)
    node.counters = []
    for i, t in enumerate(cfg["traps"]):
        ch = i + 1
        node.counters.append(board.PulseCounter(t["pin"], handler=node.on_catch, args=(ch,), clock=clock))
        for key, event in (("lure_pin", "lure_changed"), ("empty_pin", "trap_emptied")):
            if key in t:  # a technician's button on the trap
                node.counters.append(board.PulseCounter(t[key], handler=node.on_service, args=(ch, event), clock=clock))
    return node
