"""The serial console: shell (the line editor and dispatcher), words (a typed line's words), and
one module per group of commands (cmds, settings, cal, ota, backup), loaded for one command.
May import: app.console, app.outputs, app.system, app.core, app.sources, lib."""
