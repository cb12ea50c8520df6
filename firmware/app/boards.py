# Board profiles: boards/<name>.json on the device's filesystem (pins, chips, CT presets).
import json


def load(name, folder="boards"):
    """-> dict, or None when no board is configured. Raises ValueError with a clear text."""
    if not name:
        return None
    if "/" in name or "." in name:
        raise ValueError("board name %r is not a plain name" % name)
    try:
        with open("%s/%s.json" % (folder, name)) as f:
            return json.load(f)
    except OSError:
        raise ValueError("board profile %s/%s.json not found" % (folder, name))
    except ValueError:
        raise ValueError("board profile %s/%s.json is not valid JSON" % (folder, name))
