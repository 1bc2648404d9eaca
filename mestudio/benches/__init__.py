"""One module per `mestudio bench NAME`: HELP and run(args) -> dict of figures (with baseline ratios)."""
