"""The register tables tools/modbus_peer.py serves, turned into pymodbus devices: a profile name
(values from tools/modbus_values.py), one slave's {"hr": {addr: u16}, "ir": {...}}, or several
slaves on one bus; interior gaps shorter than GAP_FILL registers read as 0, as a real meter
answers a grouped read over registers it does not document."""
GAP_FILL = 125


def slave_map(registers, slave):
    """-> {slave_id: {"hr": {addr: u16}, "ir": {addr: u16}}}"""
    if isinstance(registers, str):
        return {slave: regs_of(registers)}
    if registers and all(isinstance(k, int) for k in registers):
        return {int(k): regs_of(v) for k, v in registers.items()}
    return {slave: regs_of(registers)}


def regs_of(spec):
    if isinstance(spec, str):
        from modbus_values import registers_for  # tools/modbus_values.py: imported only when needed
        spec = registers_for(spec)
    out = {}
    for table in ("hr", "ir"):
        regs = {}
        for a, v in (spec.get(table) or {}).items():
            a, v = int(a), int(v)
            if not 0 <= a <= 0xFFFF or not 0 <= v <= 0xFFFF:
                raise ValueError("register %s %d = %d out of range" % (table, a, v))
            regs[a] = v
        out[table] = regs
    return out


def blocks(regs):
    """Sorted register dict -> SimData list: runs with small gaps filled with 0."""
    from pymodbus.simulator import SimData, DataType
    if not regs:
        return [SimData(0, values=[0], datatype=DataType.REGISTERS)]
    addrs = sorted(regs)
    runs, start, vals = [], addrs[0], [regs[addrs[0]]]
    for a in addrs[1:]:
        nxt = start + len(vals)
        if a - nxt < GAP_FILL:
            vals.extend([0] * (a - nxt))
            vals.append(regs[a])
        else:
            runs.append((start, vals))
            start, vals = a, [regs[a]]
    runs.append((start, vals))
    return [SimData(s, values=v, datatype=DataType.REGISTERS) for s, v in runs]


def device(slave, regs):
    from pymodbus.simulator import SimData, SimDevice, DataType
    bits = [SimData(0, values=[False], datatype=DataType.BITS)]
    return SimDevice(slave, simdata=(bits, list(bits), blocks(regs["hr"]), blocks(regs["ir"])))
