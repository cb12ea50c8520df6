# A Modbus profile file (profiles/<name>.json): whether it can be one, and reading it. Small on
# purpose: the set-up portal's shallow check (app.sources.modbus_check) needs only this, not the
# profile compiler (app.sources.modbus_profile), which would not fit beside Microdot.
import json
import os

PROFILE_DIR = "profiles"


class ProfileError(ValueError):
    pass


def load(name, folder=PROFILE_DIR):
    """-> the profile dict from folder/name.json (ProfileError with a clear text)."""
    why = profile_problem(name, folder)
    if why:
        raise ProfileError(why)
    try:
        with open("%s/%s.json" % (folder, name)) as f:
            return json.load(f)
    except OSError as e:  # there a moment ago
        raise ProfileError("profile %s/%s.json cannot be read (%s)" % (folder, name, e))
    except ValueError:
        raise ProfileError("profile %s/%s.json is not valid JSON" % (folder, name))


def profile_problem(name, folder=PROFILE_DIR):
    """Why folder/name.json cannot be a profile file (not a plain name, not there), or None.
    (load() asks this first, so both checks say the same.)"""
    if not isinstance(name, str) or not name or "/" in name or "." in name:
        return "profile name %r is not a plain name" % (name,)
    try:
        os.stat("%s/%s.json" % (folder, name))
    except OSError:
        return "profile %s/%s.json not found" % (folder, name)
    return None
