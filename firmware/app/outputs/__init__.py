"""Where readings go: the Charge HQ push (chargehq, pusher, payload, retire), MQTT with Home
Assistant discovery (mqtt, ha_discovery), OpenEVSE solar divert (openevse); services() starts
the ones the settings ask for. The LAN JSON API (and evcc's) is served by app.web.
May import: app.outputs, app.core, app.sources, lib."""
