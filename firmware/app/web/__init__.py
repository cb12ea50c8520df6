"""The device's web server (Microdot): server (connections, limits), html (pages from web/*.html),
portal (the routes), the set-up form (webforms, setupsave, setupsources, setupoutputs, formdata),
the set-up network (setup_mode), the LAN pages (statuspage, statusview, auth, backup, ota_web).
May import: app.web, app.outputs, app.system, app.core, app.sources, lib."""
