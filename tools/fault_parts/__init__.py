"""The parts of `make faults` (tools/faults.py, the driver: flags, which parts, the report), one
module per part, each with run(tmp, n, seed) -> common.Result:

  push     the push path (DNS, TCP, TLS, HTTP errors)   soak       the whole firmware, a fault schedule
  ct       the ATM90E32 chip model's faults              powercuts  power cuts at random moments
  modbus   Modbus RTU faults from the pymodbus peer      ota        power cuts during OTA updates
  state    corrupt config, RTC memory, flash records     dns        junk at the captive portal's DNS
  boot     every state file read at boot mutated         http       malformed requests at the portal
  mqtt     broker faults against the whole firmware

common.py is what they share: the interpreter, Result, running a MicroPython fault driver
(bench/fault_*.py), the whole firmware on a simulated chip, the fake Charge HQ's record.
"""
