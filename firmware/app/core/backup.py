# Settings backup and restore: the config as JSON without its secrets (Wi-Fi password, API key,
# admin and set-up passwords), downloaded from /backup and pasted back on /restore
# (app.web.backup), or over the console (`backup`, `restore {JSON}`: app.console.backup). A
# restore keeps the device's own secrets unless the backup has them; a device without them then
# asks for them in the set-up form. Loaded per request.
import json
from app.core import config

SECRETS = config.SECRET_KEYS  # key names secret in any section: one list with the console and log
FILENAME = "chargehq-meter-settings.json"


def without_secrets(data):
    out = {}
    for sec, part in data.items():
        out[sec] = dict(part) if isinstance(part, dict) else part
    for part in out.values():
        if isinstance(part, dict):
            for key in SECRETS:
                part.pop(key, None)
    return out


def text(data):
    return json.dumps(without_secrets(data))


def merge(current, raw):
    """A restored config dict: `raw` (a parsed backup) with the current secrets where it has
    none. -> (dict, error text or None)."""
    if not isinstance(raw, dict):
        return None, "a backup is a JSON object ({...})"
    out = {}
    for sec, part in raw.items():
        out[sec] = dict(part) if isinstance(part, dict) else part
    for sec, mine in current.items():
        if not isinstance(mine, dict):
            continue
        for key in SECRETS:
            have = mine.get(key)
            part = out.get(sec)
            if have and isinstance(part, dict) and not part.get(key):
                part[key] = have
            elif have and part is None:
                out[sec] = {key: have}
    return out, None


def check(current, body):
    """Pasted backup (text, or bytes / a memoryview of the request body: MicroPython's json reads
    any buffer, so the body is never copied) -> (config dict to save, [errors], validated Config)."""
    try:
        try:
            raw = json.loads(body)
        except TypeError:  # CPython's json: text only
            raw = json.loads(bytes(body).decode())
    except (ValueError, TypeError, UnicodeError):
        return None, ["not valid JSON: paste the whole file, from { to }"], None
    data, why = merge(current, raw)
    if why:
        return None, [why], None
    checked = config.validate(data, deep=False)
    return data, list(checked.errors), checked
