"""The per-frame analyzer: face -> alignment -> spotting -> AUs -> emotion, live and offline."""
