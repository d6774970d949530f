# ruff: noqa: UP031
"""Irrigation commands over Modbus: the mailbox an RS-485 irrigation node serves.

A master writes one whole command into holding registers CMD_BASE.. in a
single FC16 request, the last register being the commit magic
(edge.modbus_map.encode_command_regs). The node decodes it and hands it to
IrrigationNode.on_command (as the validated dict, decoded once), so a command
that arrives over Modbus passes the very same safety rules as one over MQTT:
expiry, duplicate ids, not-before, max runtime. A write that is not a whole, well-formed command is refused
with exception 03 and nothing runs.

Input registers ACK_BASE.. serve the node's latest acknowledgement with a
counter that grows by one per acknowledgement, so a polling master tells a
new ack from the one it already relayed. Between two polls only the latest
ack is visible: a master may see "started" without "received" before it.
"""

from furrow.edge import commands, modbus_map

# A command ends at the commit register, or (contract 1.1) 8 registers later
# with the node MAC, or (1.5, a fertigate) 6 after that with its dose and
# window; the table is long enough for all three.
COMMAND_END = modbus_map.CMD_BASE + modbus_map.CMD_COUNT
MAC_END = modbus_map.CMD_BASE + modbus_map.CMD_COUNT_MAC
HOLDING_LEN = modbus_map.CMD_BASE + modbus_map.CMD_COUNT_FERT
INPUT_LEN = modbus_map.ACK_BASE + modbus_map.ACK_COUNT_INJECTED


class _Joined:
    """One register table made of the node's own table and an extension."""

    def __init__(self, base, base_len, extra, total):
        self.base, self.base_len, self.extra, self.total = base, base_len, extra, total

    def __len__(self):
        return self.total

    def __getitem__(self, i):
        if i < self.base_len:
            return self.base[i]
        i -= self.base_len
        return self.extra[i] if i < len(self.extra) else 0


class CommandMailbox:
    """The Modbus command mailbox of one IrrigationNode.

    Give the RtuSlave ``mailbox.inputs`` and ``mailbox.holding`` as its
    tables and ``mailbox.on_write`` as its write callback; pass every ack the
    node makes outside a write (its tick) to ``post()``.
    """

    def __init__(self, node):
        self.node = node
        self._mail = [0] * (HOLDING_LEN - modbus_map.HOLDING_COUNT)
        self._acks = [0] * (INPUT_LEN - modbus_map.INPUT_COUNT)  # from ACK_BASE (== INPUT_COUNT) on
        self.counter = 0
        self.holding = _Joined(node.holding, modbus_map.HOLDING_COUNT, self._mail, HOLDING_LEN)
        self.inputs = _Joined(node.registers(), modbus_map.INPUT_COUNT, self._acks, INPUT_LEN)
        self.stats = {"commands": 0, "refused": 0}

    def on_write(self, address, values):
        """RtuSlave's write callback: node settings, or a whole command."""
        end = address + len(values)
        if end <= modbus_map.HOLDING_COUNT:
            self.node.on_holding_write(address, values)
            return
        if address != modbus_map.CMD_BASE or end not in (COMMAND_END, MAC_END, HOLDING_LEN):
            self.stats["refused"] += 1
            raise ValueError("write a whole command to holding registers %d-%d (%d with its node MAC, %d a "
                             "fertigate) in one request" % (modbus_map.CMD_BASE, COMMAND_END - 1, MAC_END - 1,
                                                            HOLDING_LEN - 1))
        try:
            cmd = commands.validate_command(modbus_map.decode_command_regs(self.node.node_id, list(values)))
        except ValueError as e:  # ContractError, or an id that is not UTF-8
            self.stats["refused"] += 1
            raise ValueError("command refused: %s" % e) from None
        for i, v in enumerate(values):
            self._mail[address - modbus_map.HOLDING_COUNT + i] = v
        self.stats["commands"] += 1
        self.post(self.node.on_command(cmd, self.node.now_ms))  # validated: no JSON round trip

    def post(self, acks):
        """Serve the latest of `acks` (a new counter value per ack)."""
        offset = modbus_map.ACK_BASE - modbus_map.INPUT_COUNT
        for ack in acks:
            self.counter = (self.counter + 1) & 0xFFFF
            for i, r in enumerate(modbus_map.encode_ack_regs(ack, self.counter)):
                self._acks[offset + i] = r
