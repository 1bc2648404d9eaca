"""Interop with the lab's other tools: LSL outlets, XDF export, ELAN export and import (docs/interop.md).

Depends on stream/ and config/ only.  The LSL inlet (LSL in) is a device kind: capture/lsl.py.
"""
