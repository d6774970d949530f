"""What the command lifecycle refuses, each carrying the data it is about (mapped to HTTP in cloud/app.py)."""


class UnroutableNode(Exception):
    """The node has never reported through a gateway, so no gateway can carry its command (HTTP 409)."""

    def __init__(self, node: str) -> None:
        self.node = node
        super().__init__(
            f"node {node!r} has never reported through a gateway, so a command cannot be "
            "routed to it; commands go to the gateway that last forwarded the node's readings"
        )


class CommandNotFound(Exception):
    """No command with this id (HTTP 404)."""

    def __init__(self, command_id: str) -> None:
        self.command_id = command_id
        super().__init__(f"no command with id {command_id!r}")


class AckFromOtherGateway(Exception):
    """An ack for a command that was routed through another gateway (HTTP 403)."""

    def __init__(self, command_id: str, site: str, gateway: str) -> None:
        self.command_id = command_id
        super().__init__(f"command {command_id!r} was not routed through gateway {site}/{gateway}; "
                         "a gateway may only acknowledge its own commands")


class NotCancellable(Exception):
    """The command is already final (HTTP 409)."""

    def __init__(self, command_id: str, state: str) -> None:
        self.command_id = command_id
        self.state = state
        super().__init__(f"command {command_id} is already {state}")
