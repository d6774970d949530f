"""Furrow node firmware (MicroPython): sans-I/O node cores, drivers, and the
one board module that touches the hardware. See firmware/README.md."""

FW_VERSION = "0.1.0"
