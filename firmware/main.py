# Charge HQ push meter: entry point (runs after boot.py). Ctrl-C at the console stops the app
# and leaves the MicroPython REPL.
try:
    import app.main
    app.main.run()
except Exception as e:  # the app could not even start: an update on trial goes back at once
    import otaboot
    otaboot.start_failed(e)
    raise
