"""The meter itself: settings (config), the log, time, readings (site), energy totals, the checks
before anything leaves the device (validate), the scheduler (App: sampling, the reading every
output sends, the status), state on flash and in RTC memory (persist, statefile, history).
May import: app.core, app.sources, lib."""
