"""Gateway config files: valid ones load, bad ones name the field and the value."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from furrow.gateway import ConfigError, GatewayConfig, load_config

EXAMPLE = Path(__file__).resolve().parents[1] / "gateway" / "gateway.example.toml"

MINIMAL = """
site = "farm"
gateway_id = "gw-1"
buffer_path = "buf.sqlite"
[farm_broker]
host = "127.0.0.1"
[cloud_broker]
host = "cloud.example.org"
port = 8883
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


def test_shipped_example_loads():
    """gateway/gateway.example.toml is a valid config with two devices on one bus."""
    config = load_config(EXAMPLE)
    assert config.site == "demo" and config.gateway_id == "gw-1"
    assert [d.unit for d in config.modbus] == [1, 2]
    assert config.modbus[1].framing == "rtu" and config.modbus[1].timeout == timedelta(seconds=1)
    assert config.modbus[0].backoff_max == timedelta(minutes=5)


def test_the_old_framer_spelling_is_taken_with_a_warning_that_says_what_to_write(tmp_path, caplog):
    """`framer = "socket"` (before 1.2) loads as framing = "tcp", and the gateway says to write that instead."""
    text = MINIMAL + '[[modbus]]\nnode_id = "s1"\nhost = "h"\nframer = "socket"\n'
    with caplog.at_level(logging.WARNING, logger="furrow.gateway.config"):
        config = load_config(write(tmp_path, text))
    assert config.modbus[0].framing == "tcp"
    assert any("framing = 'tcp'" in r.getMessage() for r in caplog.records)


def test_minimal_config_gets_the_defaults(tmp_path):
    """Only ids, brokers and the buffer path are required; the rest has defaults."""
    config = load_config(write(tmp_path, MINIMAL))
    assert config.topic_root == "furrow" and config.farm_broker.port == 1883
    assert config.cloud_broker.port == 8883
    assert config.forward_batch_size == 500
    assert config.forward_interval == timedelta(seconds=1)
    assert (config.node_burst, config.node_rate_per_s) == (2000, 20.0)
    assert config.modbus == []


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('[[modbus]]\nnode_id = "s1"\nhost = "h"\nunit = 300\n', "modbus.0.unit=300"),
        ('[[modbus]]\nnode_id = "Soil 1"\nhost = "h"\n', "modbus.0.node_id='Soil 1'"),
        ('[[modbus]]\nnode_id = "s1"\nhost = "h"\nframing = "ascii"\n', "modbus.0.framing='ascii'"),
        ('[[modbus]]\nnode_id = "s1"\nhost = "h"\nframer = "ascii"\n', "framer='ascii': give framing"),
        ('[[modbus]]\nnode_id = "s1"\nhost = "h"\npoll_interval = -5\n', "poll_interval"),
        ("forward_batch_size = 6000\n", "forward_batch_size=6000"),
        ("compress_level = 0\n", "compress_level=0"),
        ("compress_level = 10\n", "compress_level=10"),
        ("node_burst = 0\n", "node_burst=0"),
        ("node_rate_per_s = -1\n", "node_rate_per_s=-1"),
        ('colour = "green"\n', "colour='green': Extra inputs are not permitted"),
    ],
)
def test_bad_value_is_named_with_field_and_value(tmp_path, extra, expected):
    """Each bad value is reported as a dotted field path with the offending value."""
    # Top-level keys must come before the first table in TOML.
    text = MINIMAL + extra if extra.startswith("[[") else extra + MINIMAL
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert expected in str(err.value)
    assert str(tmp_path / "gateway.toml") in str(err.value)


def test_bad_site_id_names_the_field(tmp_path):
    """A site id outside [a-z0-9_-] is refused with the contract's reason."""
    with pytest.raises(ConfigError, match=r"site='My Farm': .*a-z, 0-9"):
        load_config(write(tmp_path, MINIMAL.replace('"farm"', '"My Farm"')))


def test_missing_field_and_secret_are_reported_without_leaking_the_password(tmp_path):
    """A missing field is named; a password never appears in an error message."""
    text = MINIMAL.replace("port = 8883", 'port = 8883\npassword = "s3cret"').replace('gateway_id = "gw-1"\n', "")
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    message = str(err.value)
    assert "gateway_id: missing" in message
    assert "cloud_broker: Value error, password given without username" in message
    assert "s3cret" not in message


def test_two_devices_on_one_address_are_refused(tmp_path):
    """Two node ids on the same host:port and unit cannot both be polled."""
    devs = '[[modbus]]\nnode_id = "a"\nhost = "h"\n[[modbus]]\nnode_id = "b"\nhost = "h"\n'
    with pytest.raises(ConfigError, match=r"modbus.1: h:502 unit 1 is already node 'a'"):
        load_config(write(tmp_path, MINIMAL + devs))


def test_unreadable_and_malformed_files_name_the_file(tmp_path):
    """A missing file or broken TOML gives a ConfigError naming the path."""
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "site = \n"))


def test_config_models_are_frozen_and_strict():
    """Configs are immutable once validated, and unknown keys are refused at every level."""
    config = load_config(EXAMPLE)
    with pytest.raises(ValueError):
        config.site = "other"  # type: ignore[misc]
    with pytest.raises(ValueError, match="Extra inputs"):
        GatewayConfig.model_validate({**config.model_dump(), "farm_broker": {"host": "h", "colour": "red"}})
