"""The chip's housekeeping: Wi-Fi (wifi, wifi_supervisor), the status LED (led), over-the-air
updates (ota, ota_health, ota_pull).
May import: app.system, app.core, app.sources, lib."""
