"""The decision pipeline and the daily run, and the `fund` command-line interface."""
