"""What the command lifecycle refuses, each carrying the field, value and reason (cloud/errors.py;
mapped to HTTP in one place, cloud/api/errors.py)."""

from ..errors import Conflict, Forbidden, NotFound


class UnroutableNode(Conflict):
    """The node has never reported through a gateway, so no gateway can carry its command (HTTP 409)."""

    def __init__(self, node: str) -> None:
        self.node = node
        super().__init__("node", node, "has never reported through a gateway, so a command cannot be routed "
                         "to it; commands go to the gateway that last forwarded the node's readings")


class CommandNotFound(NotFound):
    """No command with this id (HTTP 404)."""

    def __init__(self, command_id: str) -> None:
        self.command_id = command_id
        super().__init__("command_id", command_id, "no command with this id")


class AckFromOtherGateway(Forbidden):
    """An ack for a command that was routed through another gateway (HTTP 403)."""

    def __init__(self, command_id: str, site: str, gateway: str) -> None:
        self.command_id = command_id
        super().__init__("id", command_id, f"this command was not routed through gateway {site}/{gateway}; "
                         "a gateway may only acknowledge its own commands")


class NotCancellable(Conflict):
    """The command is already final (HTTP 409)."""

    def __init__(self, command_id: str, state: str) -> None:
        self.command_id = command_id
        self.state = state
        super().__init__("command_id", command_id, f"the command is already {state}")
