"""The cancel action (contract 1.2): how a cancel is made, checked, signed and carried over Modbus."""

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from furrow.edge import CONTRACT_VERSION, commands, modbus_map, signing
from furrow.edge.cancel import cancel_expires_ms, make_cancel, node_takes_cancel
from furrow.edge.errors import ContractError

T0 = 1_767_225_600_000
KEY = bytes(range(32))


def _open(**over):
    c = dict(cmd_id="c-01jd3k8t2v9x4m5n6p7q8r9s0t", node="irr-01", valve=2, action="open", duration_s=600,
             max_runtime_s=900, not_before_ms=T0 + 8 * 3600_000, expires_ms=T0 + 9 * 3600_000)
    c.update(over)
    return commands.make_command(**c)


def test_contract_has_cancel_since_1_2():
    """The cancel is an addition: it came with minor version 1.2 (images made it 1.3), the major stays 1."""
    major, minor = (int(x) for x in CONTRACT_VERSION.split("."))
    assert major == 1 and minor >= 2


def test_a_cancel_names_its_command_by_id_and_lasts_as_long_as_it_could_run():
    """make_cancel keeps id, node and valve, has no duration or runtime, and expires with the command's last run."""
    cmd = _open()
    cancel = make_cancel(cmd, T0 + 60_000)
    assert cancel == {"v": CONTRACT_VERSION, "id": cmd["id"], "node": "irr-01", "valve": 2, "action": "cancel",
                      "duration_s": None, "max_runtime_s": None, "not_before_ms": T0 + 60_000,
                      "expires_ms": T0 + 9 * 3600_000 + 900_000}
    assert cancel_expires_ms(cmd) == cancel["expires_ms"]
    assert commands.decode_command(commands.encode(cancel)) == cancel


def test_a_close_can_be_cancelled_too():
    """A held close is a command like any other: it has a cancel."""
    close = _open(action="close", duration_s=None)
    assert make_cancel(close, T0)["action"] == "cancel"


def test_make_cancel_refuses_a_cancel_and_a_command_that_can_no_longer_run():
    """Cancelling a cancel, or a command past its expiry plus runtime, is an error naming the field."""
    cmd = _open()
    with pytest.raises(ContractError) as e:
        make_cancel(make_cancel(cmd, T0), T0)
    assert e.value.field == "action"
    with pytest.raises(ContractError) as e:
        make_cancel(cmd, cancel_expires_ms(cmd))
    assert e.value.field == "expires_ms" and "nothing to cancel" in e.value.reason


@pytest.mark.parametrize("field,value", [("duration_s", 600), ("duration_s", 0), ("max_runtime_s", 900)])
def test_a_cancel_carrying_a_duration_or_runtime_is_refused(field, value):
    """A cancel runs nothing: a duration or maximum runtime in one is refused, naming the field and value."""
    cancel = dict(make_cancel(_open(), T0), **{field: value})
    with pytest.raises(ContractError) as e:
        commands.validate_command(cancel)
    assert (e.value.field, e.value.value) == (field, value) and "null for cancel" in e.value.reason


def test_a_cancel_still_needs_a_valve_and_times():
    """The rest of a cancel is checked as for any command."""
    cancel = make_cancel(_open(), T0)
    for field, value in (("valve", None), ("expires_ms", T0 - 1), ("node", "IRR 01")):
        with pytest.raises(ContractError) as e:
            commands.validate_command(dict(cancel, **{field: value}))
        assert e.value.field == field


def test_cancelled_is_a_final_ack_state():
    """The controller's answer to a cancel, "cancelled", is final and carries runtime and volume when water went."""
    assert commands.ACK_CANCELLED in commands.FINAL_ACK_STATES
    ack = commands.make_ack("c-1", "irr-01", "cancelled", T0, 125, 41.5, "cancelled after it started")
    assert commands.decode_ack(commands.encode(ack)) == ack


def test_signature_and_node_mac_cover_the_action():
    """Neither the cloud's signature nor the node MAC of an open verifies for its cancel, nor the other way round."""
    cmd = _open()
    cancel = make_cancel(cmd, cmd["not_before_ms"])
    assert signing.signed_bytes(cancel) != signing.signed_bytes(cmd)
    private = Ed25519PrivateKey.generate()
    sig = private.sign(signing.signed_bytes(dict(cmd, sig=None)))
    with pytest.raises(InvalidSignature):
        private.public_key().verify(sig, signing.signed_bytes(cancel))
    signed_open = dict(cmd, nmac=signing.node_mac(KEY, cmd))
    assert signing.check_node_mac(KEY, dict(cancel, nmac=signed_open["nmac"])).startswith("node mac:")
    signed_cancel = dict(cancel, nmac=signing.node_mac(KEY, cancel))
    assert signing.check_node_mac(KEY, signed_cancel) is None
    assert signing.check_node_mac(KEY, dict(cmd, nmac=signed_cancel["nmac"])).startswith("node mac:")


@pytest.mark.parametrize("with_mac", [False, True])
def test_a_cancel_crosses_the_modbus_mailbox_and_its_mac_still_verifies(with_mac):
    """Through the mailbox a cancel is action 3 with zero duration and runtime, and decodes to the same cancel;
    its node MAC verifies on the far side as it does over MQTT."""
    cancel = make_cancel(_open(), T0 + 1500)
    if with_mac:
        cancel = commands.validate_command(dict(cancel, nmac=signing.node_mac(KEY, cancel)))
    regs = modbus_map.encode_command_regs(cancel)
    assert len(regs) == (modbus_map.CMD_COUNT_MAC if with_mac else modbus_map.CMD_COUNT)
    assert regs[17] == 3 and regs[18:22] == [0, 0, 0, 0]
    back = commands.validate_command(modbus_map.decode_command_regs("irr-01", regs))
    # times travel in whole seconds: not-before rounded up, expiry down
    assert back == dict(cancel, not_before_ms=T0 + 2000)
    if with_mac:
        assert signing.check_node_mac(KEY, back) is None


def test_a_mailbox_cancel_with_a_runtime_is_refused_naming_it():
    """A master that writes a runtime into a cancel gets the field named (the node answers exception 03)."""
    regs = modbus_map.encode_command_regs(make_cancel(_open(), T0))
    regs[21] = 900
    with pytest.raises(ContractError) as e:
        commands.validate_command(modbus_map.decode_command_regs("irr-01", regs))
    assert (e.value.field, e.value.value) == ("max_runtime_s", 900)


@pytest.mark.parametrize("runtime,volume", [(None, None), (125, 41.5)])
def test_cancelled_ack_crosses_the_modbus_ack_block(runtime, volume):
    """The ack block serves "cancelled" as state 6, with or without runtime and volume."""
    ack = commands.make_ack("c-1", "irr-01", "cancelled", T0, runtime, volume)
    counter, back = modbus_map.decode_ack_regs(modbus_map.encode_ack_regs(ack, 9))
    assert counter == 9 and back == {"id": "c-1", "state": "cancelled", "runtime_s": runtime, "volume_l": volume,
                                                   "injected_ml": None}


@pytest.mark.parametrize("version,takes", [("1.0", False), ("1.1", False), ("1.2", True), ("1.7", True)])
def test_node_takes_cancel_from_contract_1_2(version, takes):
    """Nodes speaking contract 1.2 or later act on a cancel; older ones refuse it."""
    assert node_takes_cancel(version) is takes


def test_node_takes_cancel_refuses_a_bad_version():
    """A version that is not MAJOR.MINOR of this major is an error naming it."""
    for bad in ("2.5", "one", 258):
        with pytest.raises(ContractError) as e:
            node_takes_cancel(bad)
        assert e.value.field == "version"
