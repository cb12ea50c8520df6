# A simulated site for demos and tests: solar on a clear-ish day, a house with appliances, an
# optional home battery. Integer arithmetic only, like the real sources.
#
# config "source": {"type": "simulated", "peak_solar_w": 6000, "base_load_w": 450,
#   "battery": true, "battery_wh": 13500, "start_hour": 11, "speed": 1}
# Fault hooks (tests): a file "sim_fault" in the working folder makes poll() fail with its text;
# a file "sim_hang" makes it block (as a stuck driver would) until the watchdog resets the chip.
import time
from micropython import const
from app.sources.base import SourceError

_DAY_S = const(86400)
_SUNRISE_S = const(21600)   # 06:00
_DAYLIGHT_S = const(43200)  # 12 h
_QUARTER_SQ = const(466560)  # (43200/2)**2 / 1000: daylight parabola in per mille


def check_config(cfg, err, deep=True):
    for key, lo, hi in (("peak_solar_w", 0, 100000), ("base_load_w", 0, 50000),
                        ("battery_wh", 1000, 200000), ("start_hour", 0, 23), ("speed", 1, 3600)):
        v = cfg.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi):
            err("source." + key, "must be a whole number %d..%d" % (lo, hi))
    if "battery" in cfg and not isinstance(cfg["battery"], bool):
        err("source.battery", "must be true or false")


class SimulatedSource:
    name = "simulated"

    def __init__(self, cfg, board, log):
        self.peak = cfg.get("peak_solar_w", 6000)
        self.base = cfg.get("base_load_w", 450)
        self.has_battery = cfg.get("battery", True)
        self.capacity_wh = cfg.get("battery_wh", 13500)
        self.speed = cfg.get("speed", 1)
        self.sim_s = cfg.get("start_hour", 11) * 3600
        self.soc_mwh = self.capacity_wh * 600  # 60 % full
        self.last_ms = None
        self.rem = [0, 0]  # uWh remainders (W*ms*10 % 36)
        self.seed = 12345
        self.log = log

    async def start(self):
        self.last_ms = time.ticks_ms()
        self.log.info("simulated site: %d W peak solar, %s" % (
            self.peak, "battery %d Wh" % self.capacity_wh if self.has_battery else "no battery"))

    def close(self):
        pass

    def _solar(self, tod):
        x = tod - _SUNRISE_S
        if x <= 0 or x >= _DAYLIGHT_S:
            return 0
        pm = x * (_DAYLIGHT_S - x) // _QUARTER_SQ  # 0..1000, a bell over the day
        self.seed = (self.seed * 1103515245 + 12345) & 0x3FFFFFFF
        cloud = 1000 - ((self.seed >> 8) % 60 if (tod // 600) % 7 else 350)  # passing clouds
        return self.peak * pm // 1000 * cloud // 1000

    def _load(self, tod):
        w = self.base
        if (tod // 1200) % 2:
            w += 120  # fridge compressor
        if 25200 <= tod < 25380 or 64800 <= tod < 64980:
            w += 2000  # kettle at 07:00 and 18:00
        if 61200 <= tod < 68400:
            w += 1800  # cooking, 17:00-19:00
        return w

    async def poll(self, site):
        try:
            with open("sim_fault") as f:
                raise SourceError(f.read().strip() or "simulated fault")
        except OSError:
            pass
        try:
            open("sim_hang").close()
            time.sleep(3600)  # a driver stuck in a blocking call: only the watchdog gets out
        except OSError:
            pass
        now = time.ticks_ms()
        dt_ms = time.ticks_diff(now, self.last_ms)
        self.last_ms = now
        self.sim_s += dt_ms * self.speed // 1000
        tod = self.sim_s % _DAY_S
        solar = self._solar(tod)
        load = self._load(tod)
        battery = 0
        if self.has_battery:
            surplus = solar - load
            full = self.capacity_wh * 1000
            if surplus > 0 and self.soc_mwh < full:
                battery = -min(surplus, 5000)
            elif surplus < 0 and self.soc_mwh > full // 10:
                battery = min(-surplus, 5000)
            # integrate state of charge (mWh = W * ms / 3600)
            self.soc_mwh -= battery * dt_ms * self.speed // 3600
            self.soc_mwh = max(0, min(full, self.soc_mwh))
        grid = load - solar - battery
        site.grid_w = grid
        site.solar_w = solar
        site.load_w = load
        if self.has_battery:
            site.battery_w = battery
            site.soc_pm = self.soc_mwh // self.capacity_wh
            site.battery_wh = self.soc_mwh // 1000
        # grid energy this poll, uWh = W * ms / 3.6 (remainder carried: exact over any run)
        span = dt_ms * self.speed
        site.d_import_uwh = self._uwh(0, grid * span if grid > 0 else 0)
        site.d_export_uwh = self._uwh(1, -grid * span if grid < 0 else 0)
        site.t_ms = now
        site.t_s = time.time()

    def _uwh(self, i, w_ms):
        n = w_ms * 10 + self.rem[i]
        self.rem[i] = n % 36
        return n // 36
