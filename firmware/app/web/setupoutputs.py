# The settings form's outputs: Charge HQ on or off, an MQTT broker, an OpenEVSE charger (the
# form's output fields, web/form.html; app.web.webforms.fields fills them). Kept apart from
# app.web.setupsave so the outputs can grow without touching the form's other parts, and loaded only
# when a form carries them. A field the form did not send keeps its setting.


def apply(form, data, errors):
    """Merge the outputs' fields of `form` into `data` (sections copied by the caller)."""
    c = data["chargehq"]
    on = form.get("chargehq_on")
    if on in ("0", "1"):
        c["enabled"] = on == "1"
    if "mqtt_host" in form:
        m = dict(data.get("mqtt") or {})
        m["host"] = (form.get("mqtt_host") or "").strip()
        port = (form.get("mqtt_port") or "").strip()
        if port:
            try:
                m["port"] = int(port)
            except ValueError:
                errors.append("MQTT port: must be a whole number (got %r)" % port[:10])
        m["user"] = (form.get("mqtt_user") or "").strip()
        pw = form.get("mqtt_password") or ""
        if pw or not m["user"]:  # empty keeps the password (for the same user)
            m["password"] = pw
        data["mqtt"] = m
    if "openevse_url" in form:
        url = (form.get("openevse_url") or "").strip()
        oe = dict(data.get("openevse") or {})
        oe["url"] = url
        data["openevse"] = oe
