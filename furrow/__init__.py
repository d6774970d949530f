"""Furrow: edge-to-cloud crop monitoring and precision irrigation.

The parts live in their own folders and import as one namespace:
furrow.edge (the contract), furrow.firmware, furrow.gateway, furrow.cloud,
furrow.hil. This package holds the `furrow` command and the little that
gateway and cloud share without importing each other: `furrow.clock` (the
clock every service is given), `furrow.retry` (the one capped, jittered
backoff and retry loop, and acknowledging a message after handling it) and
`furrow.uplink_check` (the contract's checks of a report in one pass, CPython
only: the gateway's decoder and the cloud's ingest).
"""

__version__ = "0.1.0"
