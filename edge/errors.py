"""The one exception the contract raises: it names the field and the value."""


class ContractError(ValueError):
    """A payload, topic or register image that breaks the contract.

    `field` is a dotted path into the payload (``readings.2.value``), `value`
    the offending value, `reason` what is wrong and, where it helps, what to do.
    """

    def __init__(self, field, value, reason):
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__("%s=%r: %s" % (field, value, reason))
