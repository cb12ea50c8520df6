"""Register maps written by hand from the device notes (/work/shared/modbus-devices.md, i.e. the
vendor documents and integrations they cite), NOT from the profile files: each case is what a
real device would hold for a known situation, and the site values the firmware must decode.

Addresses are 0-based wire addresses, as in the notes. Signs: grid + = import, battery + =
discharging. Expected values are integers: W, Wh, per mille; None = must be left out.
"""
import struct


class Regs:
    def __init__(self):
        self.hr = {}
        self.ir = {}

    def _t(self, fc):
        return self.hr if fc == 3 else self.ir

    def u16(self, fc, addr, v):
        self._t(fc)[addr] = v & 0xFFFF
        return self

    def s16(self, fc, addr, v):
        return self.u16(fc, addr, v)

    def w32(self, fc, addr, v, order="be", addr_hi=None):
        v &= 0xFFFFFFFF
        hi, lo = v >> 16, v & 0xFFFF
        t = self._t(fc)
        if addr_hi is not None:  # split registers: addr = low word
            t[addr], t[addr_hi] = lo, hi
        elif order == "le":
            t[addr], t[addr + 1] = lo, hi
        else:
            t[addr], t[addr + 1] = hi, lo
        return self

    def f32(self, fc, addr, x, order="be"):
        return self.w32(fc, addr, struct.unpack(">I", struct.pack(">f", x))[0], order)

    def maps(self):
        return {"hr": dict(self.hr), "ir": dict(self.ir)}


def _sdm(power_addr):
    # FC04 float32 BE; +power = import; kWh counters
    r = Regs().f32(4, power_addr, -1523.4).f32(4, 0x48, 12345.678).f32(4, 0x4A, 3210.5)
    return r, {"grid_w": -1523, "hw_import_wh": 12345678, "hw_export_wh": 3210500,
               "solar_w": None, "battery_w": None, "soc_pm": None}


def cases():
    """-> {name: (profile, Regs, expected site dict, device options)}"""
    c = {}
    for name, addr in (("sdm120", 0x000C), ("sdm230", 0x000C), ("sdm630", 0x0034), ("sdm72", 0x0034)):
        r, exp = _sdm(addr)
        c[name] = (name, r, exp, {})
    # DTSU666: FC03 float32; power in 0.1 W; x IrAt (CT 40:1 here)
    r = Regs().u16(3, 0x0006, 40).f32(3, 0x2012, 5120.0).f32(3, 0x101E, 250.25).f32(3, 0x1028, 10.5)
    c["dtsu666"] = ("dtsu666", r, {"grid_w": 20480, "hw_import_wh": 10010000, "hw_export_wh": 420000}, {})
    # DDSU666: FC04 float32, kW and kWh
    r = Regs().f32(4, 0x2004, -0.75).f32(4, 0x4000, 987.125).f32(4, 0x400A, 45.0)
    c["ddsu666"] = ("ddsu666", r, {"grid_w": -750, "hw_import_wh": 987125, "hw_export_wh": 45000}, {})
    # Growatt SPH: FC04 U32 BE, 0.1 W / 0.1 kWh; exporting 850 W, battery charging 1200 W
    r = (Regs().w32(4, 1, 32005).w32(4, 1021, 0).w32(4, 1029, 8500).w32(4, 1037, 11505)
         .w32(4, 1046, 54321).w32(4, 1050, 23456).w32(4, 1009, 0).w32(4, 1011, 12000).u16(4, 1014, 65))
    c["growatt_sph"] = ("growatt_sph", r, {
        "solar_w": 3201, "grid_w": -850, "load_w": 1151, "battery_w": -1200, "soc_pm": 650,
        "hw_import_wh": 5432100, "hw_export_wh": 2345600}, {})
    # Growatt TL-XH: importing 400 W, battery discharging 900 W
    r = (Regs().w32(4, 3001, 15000).w32(4, 3041, 4000).w32(4, 3043, 0).w32(4, 3045, 28000)
         .w32(4, 3069, 1000).w32(4, 3073, 2000).u16(4, 3171, 88).w32(4, 3178, 9000).w32(4, 3180, 0))
    c["growatt_tlxh"] = ("growatt_tlxh", r, {
        "solar_w": 1500, "grid_w": 400, "load_w": 2800, "battery_w": 900, "soc_pm": 880,
        "hw_import_wh": 100000, "hw_export_wh": 200000}, {})
    # Solis hybrid: meter + = export (here exporting 700 W); battery 33149 magnitude, 33135 = 0: charging
    r = (Regs().w32(4, 33057, 4100).w32(4, 33263, 700).u16(4, 33147, 1900).w32(4, 33169, 999)
         .w32(4, 33173, 888).w32(4, 33149, 1500).u16(4, 33135, 0).u16(4, 33139, 73)
         .w32(4, 33283, 1234567).w32(4, 33285, 765432))
    c["solis_hybrid"] = ("solis_hybrid", r, {
        "solar_w": 4100, "grid_w": -700, "load_w": 1900, "battery_w": -1500, "soc_pm": 730,
        "hw_import_wh": 12345670, "hw_export_wh": 7654320}, {})
    # the same with battery power written signed (some Solis firmware / documents: -1500 charging)
    r = (Regs().w32(4, 33057, 4100).w32(4, 33263, 700).u16(4, 33147, 1900).w32(4, 33149, -1500)
         .u16(4, 33135, 0).u16(4, 33139, 73).w32(4, 33283, 1234567).w32(4, 33285, 765432))
    c["solis_hybrid_signed"] = ("solis_hybrid", r, {
        "solar_w": 4100, "grid_w": -700, "battery_w": -1500, "soc_pm": 730}, {})
    # Solis string: meter importing 300 W (reads -300); the meter's import 3282 and export 3284
    r = (Regs().w32(4, 3004, 2500).w32(4, 3008, 777).w32(4, 3262, -300).w32(4, 3282, 4242)
         .w32(4, 3284, 3131))
    c["solis_string"] = ("solis_string", r, {
        "solar_w": 2500, "grid_w": 300, "hw_import_wh": 42420, "hw_export_wh": 31310,
        "battery_w": None}, {})
    # Sungrow SH: LE-word; meter + = import; battery + = discharge; SOC 0.1 %; capacity 0.01 kWh
    r = (Regs().w32(4, 5016, 5200, "le").w32(4, 5600, -2100, "le").w32(4, 13007, 1800, "le")
         .w32(4, 13036, 70001, "le").w32(4, 13045, 80002, "le").w32(4, 5213, -1300, "le")
         .u16(4, 13022, 455).u16(4, 5638, 960)
         # the registers every SH firmware has too (the newer ones must win over them)
         .u16(4, 13000, 0x03).w32(4, 13009, 2099, "le").u16(4, 13021, 1299))
    c["sungrow_sh"] = ("sungrow_sh", r, {
        "solar_w": 5200, "grid_w": -2100, "load_w": 1800, "battery_w": -1300, "soc_pm": 455,
        "battery_wh": 4368, "hw_import_wh": 7000100, "hw_export_wh": 8000200}, {})
    # older Sungrow SH firmware: no 5213, 5600, 5638 (exception 02); grid 13009 (+ = export),
    # battery 13021 (magnitude) with the running state 13000 (0x04 discharging)
    r = (Regs().w32(4, 5016, 5200, "le").u16(4, 13000, 0x05).w32(4, 13007, 1800, "le")
         .w32(4, 13009, 900, "le").u16(4, 13021, 1300).u16(4, 13022, 455)
         .w32(4, 13036, 70001, "le").w32(4, 13045, 80002, "le"))
    c["sungrow_sh_old"] = ("sungrow_sh", r, {
        "solar_w": 5200, "grid_w": -900, "load_w": 1800, "battery_w": 1300, "soc_pm": 455,
        "battery_wh": None, "hw_import_wh": 7000100, "hw_export_wh": 8000200}, {})
    r = (Regs().w32(4, 5016, 5200, "le").u16(4, 13000, 0x03).w32(4, 13007, 1800, "le")
         .w32(4, 13009, -400, "le").u16(4, 13021, 700).u16(4, 13022, 455)
         .w32(4, 13036, 70001, "le").w32(4, 13045, 80002, "le"))
    c["sungrow_sh_old_charging"] = ("sungrow_sh", r, {
        "grid_w": 400, "battery_w": -700, "battery_wh": None}, {})
    # Sungrow SG RT/RS: the meter at 5600 (doc 5601), importing 750 W
    r = (Regs().w32(4, 5030, 6100, "le").w32(4, 5098, 1111, "le").w32(4, 5094, 2222, "le")
         .w32(4, 5600, 750, "le"))
    c["sungrow_sg_rt"] = ("sungrow_sg", r, {
        "solar_w": 6100, "grid_w": 750, "hw_import_wh": 111100, "hw_export_wh": 222200}, {})
    # Sungrow SG: meter not connected (0x7FFFFFFF) -> grid left out, never 0
    r = (Regs().w32(4, 5030, 6100, "le").w32(4, 5082, 0x7FFFFFFF, "le")
         .w32(4, 5098, 1111, "le").w32(4, 5094, 2222, "le"))
    c["sungrow_sg"] = ("sungrow_sg", r, {
        "solar_w": 6100, "grid_w": None, "hw_import_wh": 111100, "hw_export_wh": 222200}, {})
    # Deye single-phase: FC03; split import 78 (low) + 80 (high); export 81/82
    r = (Regs().u16(3, 186, 1000).u16(3, 187, 1100).u16(3, 188, 0).u16(3, 189, 0)
         .s16(3, 169, -450).s16(3, 178, 1250).w32(3, 78, 0x12345, addr_hi=80)
         .w32(3, 81, 0x10002, "le").s16(3, 190, -400).u16(3, 184, 57))
    c["deye_1p"] = ("deye_1p", r, {
        "solar_w": 2100, "grid_w": -450, "load_w": 1250, "battery_w": -400, "soc_pm": 570,
        "hw_import_wh": 0x12345 * 100, "hw_export_wh": 0x10002 * 100}, {})
    # the x10 variant: same registers, power x10
    c["deye_1p_x10"] = ("deye_1p", r, {
        "solar_w": 21000, "grid_w": -4500, "load_w": 12500, "battery_w": -4000, "soc_pm": 570,
        "hw_import_wh": 0x12345 * 100}, {"x10": True})
    # Deye three-phase: grid 625 low + 690 high (S32), load 653 + 659, import 522/523
    r = (Regs().u16(3, 672, 2000).u16(3, 673, 1500).u16(3, 674, 0).u16(3, 675, 0)
         .w32(3, 625, -2100, addr_hi=690).w32(3, 653, 2600, addr_hi=659)
         .w32(3, 522, 300000, "le").w32(3, 524, 5, "le").s16(3, 590, 1200).u16(3, 588, 91))
    c["deye_3p"] = ("deye_3p", r, {
        "solar_w": 3500, "grid_w": -2100, "load_w": 2600, "battery_w": 1200, "soc_pm": 910,
        "hw_import_wh": 30000000, "hw_export_wh": 500}, {})
    c["deye_3p_hv"] = ("deye_3p", r, {
        "solar_w": 35000, "battery_w": 12000, "hw_import_wh": 300000000, "hw_export_wh": 5000},
        {"hv": True, "energy_kwh": True})
    # Huawei: meter + = export (importing 640 W here), battery + = charging (discharging 800 W)
    r = (Regs().w32(3, 32064, 3900).w32(3, 32080, 4700).w32(3, 37113, -640)
         .w32(3, 37119, -123456).w32(3, 37121, 654321).w32(3, 37765, -800)
         .u16(3, 37760, 815).w32(3, 37758, 10000))
    c["huawei_sun2000"] = ("huawei_sun2000", r, {
        "solar_w": 3900, "grid_w": 640, "load_w": 5340, "battery_w": 800, "soc_pm": 815,
        "battery_wh": 8150, "hw_import_wh": 6543210, "hw_export_wh": 1234560}, {})
    # Huawei without meter and battery: those registers do not exist (exception 02)
    r = Regs().w32(3, 32064, 3900).w32(3, 32080, 3700)
    c["huawei_alone"] = ("huawei_sun2000", r, {
        "solar_w": 3900, "grid_w": None, "load_w": None, "battery_w": None, "soc_pm": None,
        "hw_import_wh": None}, {})
    c["sunspec"] = ("sunspec",) + sunspec_case()
    # the base at 0 or 50000 instead of 40000; a meter-only device (models 1 and 201)
    r, exp, opts = sunspec_case(base=0)
    c["sunspec_base0"] = ("sunspec", r, exp, opts)
    r, exp, opts = sunspec_case(base=50000)
    c["sunspec_base50000"] = ("sunspec", r, exp, opts)
    r, _exp, opts = sunspec_case(models=((1, 66), (201, 105)))
    c["sunspec_meter"] = ("sunspec", r, {"solar_w": None, "grid_w": -12340, "hw_import_wh": 4321000,
                                         "soc_pm": None, "battery_w": None}, opts)
    # a battery (802) whose W is + when charging: the user says so with battery_sign -1
    r, _exp, _opts = sunspec_case(models=((1, 66), (103, 50), (802, 62)), battery=True)
    c["sunspec_battery"] = ("sunspec", r, {"solar_w": 4567, "grid_w": None, "battery_w": 2500,
                                           "soc_pm": 375, "battery_wh": 5063}, {"battery_sign": -1})
    return c


def sunspec_case(base=40000, models=((1, 66), (103, 50), (203, 105), (124, 24), (802, 62)),
                 battery=False):
    """SunSpec map at 40000: common (1), inverter 103, meter 203, storage 124, battery 802."""
    r = Regs()
    a = base
    r.u16(3, a, 0x5375).u16(3, a + 1, 0x6E53)
    a += 2
    for mid, n in models:
        r.u16(3, a, mid).u16(3, a + 1, n)
        for i in range(n):
            r.u16(3, a + 2 + i, 0)
        if mid == 1:
            for off, text in ((2, b"Fronius"), (18, b"Symo GEN24")):
                text = text.ljust(32, b"\0")
                for i in range(16):
                    r.u16(3, a + off + i, text[2 * i] << 8 | text[2 * i + 1])
        if mid == 103:
            r.s16(3, a + 14, 4567).s16(3, a + 15, 0)            # W 4567 W
        if mid in (201, 203):
            r.s16(3, a + 18, -1234).s16(3, a + 22, 1)           # W -12340 W (SF +1: export)
            r.w32(3, a + 38, 98765).w32(3, a + 46, 43210)       # TotWhExp / TotWhImp
            r.s16(3, a + 54, 2)                                 # x100
        if mid == 124:
            r.u16(3, a + 8, 6420).s16(3, a + 22, -2)            # ChaState 64.20 %
        if mid == 802:
            r.u16(3, a + 11, 0xFFFF).s16(3, a + 56, 0)          # SoC not implemented here
            r.s16(3, a + 47, -2500).s16(3, a + 63, 0)           # W, sign undefined
            r.u16(3, a + 3, 0xFFFF)                             # WHRtg not implemented
            if battery:
                r.u16(3, a + 11, 375).s16(3, a + 56, -1)        # SoC 37.5 %
                r.u16(3, a + 3, 1350).s16(3, a + 53, 1)         # WHRtg 13500 Wh
        a += n + 2
    r.u16(3, a, 0xFFFF).u16(3, a + 1, 0)
    return r, {"solar_w": 4567, "grid_w": -12340, "hw_export_wh": 9876500,
               "hw_import_wh": 4321000, "soc_pm": 642, "battery_w": None, "battery_wh": None}, {}
