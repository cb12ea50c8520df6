# A submitted settings form: -> a config dict checked with app.core.config.validate, saved atomically;
# in set-up mode the new network is tried while the access point stays up, and /result shows
# how it went. Loaded only for these requests (see app.web.webforms for the form page).
import asyncio
from micropython import const
from microdot import Response
from app.core import config
from app.web.formdata import read_form, whole
from app.web.html import esc, page

_RESTART_DELAY_MS = const(3000)


def _is_hex(s):
    try:
        int(s, 16)
        return True
    except ValueError:
        return False


def apply(current, form):
    """Merge a submitted form over the current config dict.
    -> (new config dict, [error texts], its validated Config); good only without errors."""
    data = dict((k, dict(v) if isinstance(v, dict) else v) for k, v in current.items())  # sections copied
    errors = []
    w = data["wifi"]
    c = data["chargehq"]
    d = data["device"]
    ssid = form.get("ssid") or ""  # exact: a network name may start or end with a space
    if not ssid.strip():
        errors.append("Wi-Fi network: choose one from the list or type its name")
    elif len(ssid.encode()) > 32:
        errors.append("Wi-Fi network: a name has at most 32 bytes (this one has %d)" % len(ssid.encode()))
    pw = form.get("password") or ""
    if pw and not (8 <= len(pw) <= 63 or (len(pw) == 64 and _is_hex(pw))):
        errors.append("Wi-Fi password: 8 to 63 characters (empty for an open network)")
    if pw or ssid != w["ssid"]:  # empty keeps the password only for the same network
        w["password"] = pw
    w["ssid"] = ssid
    if "mqtt_host" in form or "chargehq_on" in form or "openevse_url" in form:
        from app.web import setupoutputs  # Charge HQ on/off, MQTT, OpenEVSE
        setupoutputs.apply(form, data, errors)
    key = (form.get("api_key") or "").strip()
    if key:
        c["api_key"] = key
    elif not c["api_key"] and c.get("enabled", True):
        errors.append("Charge HQ API key: required (find it in the Charge HQ app), or turn Charge HQ off")
    iv = whole(form, "push_interval_s", errors, "push interval")
    if iv is not None:
        c["push_interval_s"] = iv
    admin = form.get("admin_password") or ""
    if admin:
        if len(admin) < 8:
            errors.append("admin password: at least 8 characters")
        d["admin_password"] = admin
    elif not d["admin_password"]:
        errors.append("admin password: required (it protects the settings on your network)")
    tz = form.get("tz")
    if tz is not None:  # (a form without the field keeps the zone)
        d["timezone"] = (form.get("tz_custom") or "").strip() if tz == "custom" else tz
    kind = form.get("source") or ""
    if not kind:
        errors.append("Meter: choose what the meter reads (CT clamps or Modbus)")
    old = data.get("source") or {}
    if old.get("type") != kind:
        old = {}
    d["board"] = form.get("board") or ""
    if kind == "atm90e32":
        from app.web.setupsources import ct_source
        src = ct_source(form, old, d["board"], errors)
    elif kind == "modbus":
        from app.web.setupsources import modbus_source
        src = modbus_source(form, old, errors)
    else:
        src = {"type": kind}
    for k, v in old.items():  # keep what the form does not show (CT model, calibration...)
        if k not in ("baud", "line_hz", "mains_v"):  # the form's own: empty baud = the profile's
            src.setdefault(k, v)
    data["source"] = src
    # every message at once, not one per try; shallow: the restart that applies the settings
    # checks them fully (see app.core.config.validate)
    checked = config.validate(data, deep=False)
    for e in checked.errors:
        if e not in errors:
            errors.append(e)
    if checked.problem and not errors:
        errors.append(checked.problem)
    return data, errors, checked


# --- the handlers ---------------------------------------------------------------------------------
async def save(web, req):
    if web.setup and web.state["join"] == "trying":  # two phones at once: one try at a time
        return page("Busy", '<p class="err">A network is being tried right now: wait a moment, '
                    'then <a href="/result">see the result</a>.</p>', 409)
    form = read_form(req)
    if form is None:
        return page("Bad request", '<p class="err">Send the form as application/x-www-form-urlencoded '
                    "UTF-8.</p>", 400)
    data, errors, fresh = apply(web.cfg.data, form)
    web.forget()  # set-up mode: the source modules config.validate loaded are not needed now
    if errors:
        form = fresh = None  # (the form page is the request's biggest part: room for it first)
        import gc
        gc.collect()
        return _form_page(web, errors, data, 400)
    try:
        config.save(data)
    except OSError as e:
        web.log.error("settings: cannot save the config: %s" % e)
        return _form_page(web, ["could not save the settings (%s)" % e], data, 500)
    cfg = web.cfg
    cfg.data, cfg.errors, cfg.problem = fresh.data, fresh.errors, fresh.problem
    web.log.info("settings saved (Wi-Fi %s, source %s)" % (data["wifi"]["ssid"], data["source"]["type"]))
    if web.setup:
        web.state["join"] = "trying"
        web.state["ssid"] = data["wifi"]["ssid"]
        asyncio.create_task(_try_network(web, data["wifi"]))
        return Response.redirect("/result", 303)
    asyncio.create_task(_finish(web, True))
    return page("Saved", '<p class="ok">Settings saved. The meter restarts now to apply them.</p>'
                '<p><a href="/">Status</a></p>', refresh=15)


async def _try_network(web, w):
    # The access point stays up while the station tries the new network.
    try:
        from app.system import wifi
        sta, why = await wifi.join(w["ssid"], w["password"], w["hostname"])
        del wifi
    except Exception as e:  # out of memory too: the result page must not wait forever
        sta, why = None, "%s: %s" % (type(e).__name__, e)
    web.forget()  # app.wifi, if only this loaded it: RAM the form page may need next
    st = web.state
    if why:
        st["join"] = "failed"
        st["why"] = why
        web.log.warn("set-up: cannot join %s: %s" % (w["ssid"], why))
        return
    st["join"] = "ok"
    try:
        st["ip"] = sta.ifconfig()[0]
    except Exception:
        st["ip"] = "?"
    web.log.info("set-up: joined %s, IP %s" % (w["ssid"], st["ip"]))
    await _finish(web, True)


async def _finish(web, joined):
    await asyncio.sleep_ms(_RESTART_DELAY_MS)  # let the browser fetch the result page first
    if web.on_saved:
        r = web.on_saved(web.cfg, joined)
        if r is not None and hasattr(r, "send"):
            await r
        return
    if web.app is not None:
        web.app.shutdown("settings")
    import machine
    machine.reset()


def result(web):
    st = web.state
    j = st["join"]
    ssid = esc(st["ssid"])
    if j is None:
        return Response.redirect("/", 303)
    if j == "trying":
        return page("Connecting", "<p>Trying to join <b>%s</b>... (the set-up network stays up)</p>"
                    % ssid, refresh=2)
    if j == "ok":
        ip = esc(st["ip"])
        port = web.cfg.get("portal", "http_port")
        where = ip if port == 80 else "%s:%d" % (ip, port)
        return page("Connected", '<p class="ok">Connected to <b>%s</b>, address %s.</p><p>The meter '
                    "restarts now and starts sending readings to Charge HQ. Its status page: "
                    "<b>http://%s/</b> on your network.</p>" % (ssid, ip, where))
    return _form_page(web, ["Could not join %s: %s. The settings are saved: correct them and try again."
                           % (st["ssid"], st["why"])])


def _form_page(web, errors, data=None, status=200):
    from app.web import webforms
    return webforms.form_page(web, errors, data, status)
