# Board profiles: boards/<name>.json on the device's filesystem (pins, chips, CT presets).


def load(name, folder="boards"):
    """-> dict, or None when no board is configured. Raises ValueError with a clear text."""
    if not name:
        return None
    if "/" in name or "." in name:
        raise ValueError("board name %r is not a plain name" % name)
    from app.core.statefile import read_bytes, parse_json, unload
    path = "%s/%s.json" % (folder, name)
    try:
        raw = read_bytes(path, 8192)
    except OSError:
        raw = None
    except ValueError as e:
        raise ValueError("board profile %s: %s" % (path, e))
    finally:
        unload()
    if raw is None:
        raise ValueError("board profile %s not found" % path)
    try:
        board = parse_json(raw.decode())  # (the function stays usable: it holds its module's globals)
    except (ValueError, UnicodeError):
        raise ValueError("board profile %s is not valid JSON" % path)
    if not isinstance(board, dict):
        raise ValueError("board profile %s is not a JSON object" % path)
    board.pop("notes", None)  # for people reading the file: never read by the firmware (~0.6 KB of RAM)
    return board
