"""The command line's commands, one module each (`loadwatch NAME` -> loadwatch.commands.<module>, the table in
loadwatch.cli), each exposing `add_arguments(parser)` and `run(ns) -> int`; only the invoked command's module is
imported. `args` holds what they share: the parser class, value types, and flags built from a model's fields."""
