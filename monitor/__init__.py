"""The experimenter's live window: a lossy viewer of a running session or a replay.

Only this package (and elicit's participant window) imports Qt, and within it only the modules
named ``qt``, ``panels``, ``window`` and ``app`` do: ``feed``, ``state`` and ``display`` are plain
Python/numpy so they can be tested and reused without a display.
"""
