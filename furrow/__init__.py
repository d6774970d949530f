"""Furrow: edge-to-cloud crop monitoring and precision irrigation.

The parts live in their own folders and import as one namespace:
furrow.edge (the contract), furrow.firmware, furrow.gateway, furrow.cloud,
furrow.hil. This package holds only the `furrow` command.
"""

__version__ = "0.1.0"
