"""The meter's application, in packages by purpose. Imports run one way, down this list:

    main, web, console    start-up; the LAN and set-up pages; the serial console
    outputs, system       Charge HQ, MQTT, OpenEVSE; Wi-Fi, status LED, over-the-air updates
    core                  settings, readings, energy, checks, the scheduler, state on flash
    sources               where readings come from: CT chips, Modbus meters, simulated
    lib/ (top level)      drivers and protocols that know nothing of the app

A module imports only from its own package and the packages below it (web and console not from
each other, outputs and system not from each other). Modules that only one job needs are imported
inside that job and dropped after it (app.core.modules.forget): a plain ESP32 has ~110 KB of heap.
docs/architecture.md has the whole picture."""
