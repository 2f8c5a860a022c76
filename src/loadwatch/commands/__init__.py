"""The command-line commands that do not run the nightly flow: `load`, `capacity`, `import` (and their shared
argument types). loadwatch.cli parses and dispatches; the flow's own command (`run`) lives in loadwatch.cli."""
