# The app's own version (tools/ota.py puts it, with the git commit, into an update's manifest).
VERSION = "1.0.0"
