"""The role's core with its drivers, from a validated config: run once at boot.

Boot-only: main.py imports this package and the role's module, builds the node
and frees them again (main.release), so none of their code holds heap while the
node runs. The objects they make take bound methods and plain values, never a
closure over these modules, so nothing keeps them alive. One module per role:
an image carries only its own role's builder, and only the drivers and board
parts that builder uses.
"""

from furrow.firmware import FW_VERSION, board
from furrow.firmware.seqstore import SeqStore


def build_node(cfg, clock):
    """The role's core with its drivers, from the config dict (firmware/config.py's defaults filled in)."""
    role = cfg["role"]
    reserve = 1 if cfg.get("deep_sleep") else cfg.get("seq_reserve", 100)  # every wake is a boot
    seq = SeqStore(cfg.get("seq_path", "/seq"), reserve)
    common = {"fw": FW_VERSION, "interval_ms": cfg.get("interval_s", 900) * 1000}
    if "battery" in cfg:
        common["battery"] = board.battery(cfg["battery"])
    try:
        builder = __import__("furrow.firmware.builders." + role, None, None, ("build",))
    except ImportError:
        raise ValueError("role %r has no firmware in this image" % (role,)) from None
    return builder.build(cfg, clock, seq, common)
