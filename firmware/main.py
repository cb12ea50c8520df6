# Charge HQ push meter: entry point (runs after boot.py). Ctrl-C at the console stops the app
# and leaves the MicroPython REPL.
import app.main

app.main.run()
