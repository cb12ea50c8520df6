# What every source raises when its meter cannot be read (the interface: app.sources).


class SourceError(Exception):
    pass
