"""Fault part `soak`: the whole firmware through a schedule of faults (Wi-Fi drops, HTTP 500 and
503, dropped connections, a 60 s stall, a failing meter), Charge HQ's 30 s rule enforced by the
fake server."""
import os
import time

from fault_parts.common import Result, make_device, recorded_pushes


def run(tmp, n, seed):
    """The firmware through a schedule of faults; Charge HQ's 30 s rule enforced by the server."""
    import fake_chargehq
    r = Result("soak", "whole firmware: Wi-Fi drops, HTTP 500, dropped connections, a 60 s stall, "
                       "a failing meter")
    chq = tmp / "soak-chq"
    srv, url, ca = fake_chargehq.serve(str(chq), 0, 29.9, out=open(os.devnull, "w"))
    fw = make_device(tmp, "soak-dev", url, ca, "soak-key-0123456789-abcd", interval=30,
                     extra_cfg={"device": {"report_s": 0}})
    fw.start("power")
    mode = chq / "mode"
    wifi = fw.fs / ".wifi"
    meter = fw.fs / "sim_fault"
    # (name, start, stop) actions; each fault lasts `dur` s, then `settle` s of good conditions
    schedule = [
        ("Wi-Fi drop", lambda: wifi.write_text("down"), lambda: wifi.write_text("ok"), 45),
        ("HTTP 500", lambda: mode.write_text("status 500"), lambda: mode.write_text("ok"), 45),
        ("dropped connections", lambda: mode.write_text("close"), lambda: mode.write_text("ok"), 45),
        ("60 s stall", lambda: mode.write_text("stall"), lambda: mode.write_text("ok"), 60),
        ("failing meter", lambda: meter.write_text("no reply from the meter"),
         lambda: meter.unlink(), 45),
        ("HTTP 503", lambda: mode.write_text("status 503"), lambda: mode.write_text("ok"), 40),
        ("Wi-Fi drop", lambda: wifi.write_text("down"), lambda: wifi.write_text("ok"), 70),
    ]
    period = fw.cfg["chargehq"]["push_interval_s"]
    recover = []
    try:
        time.sleep(35)  # two good pushes first
        for name, on, off, dur in schedule:
            on()
            t_on = time.time()
            time.sleep(dur)
            off()
            t_off = time.time()
            r.faults += 1
            # recovery: a good push (data, not error) within one push period of the fault clearing
            deadline = t_off + period + 5
            got = None
            while time.time() < deadline and got is None:
                for p in recorded_pushes(chq):
                    if p["t"] > t_off and p["status"] == 200 and "siteMeters" in p["body"]:
                        got = p["t"] - t_off
                        break
                time.sleep(0.5)
            during = [p for p in recorded_pushes(chq) if t_on < p["t"] <= t_off]
            recover.append((name, got, len(during)))
            if got is None:
                r.fail("no good push within %d s after '%s' cleared" % (period + 5, name))
            time.sleep(max(0, 32 - (time.time() - t_off)))
    finally:
        fw.stop(10)
        srv.shutdown()
    pushes = recorded_pushes(chq)
    gaps = [b["t"] - a["t"] for a, b in zip(pushes, pushes[1:])]
    too_close = [g for g in gaps if g < 29.9]
    statuses = [p["status"] for p in pushes]
    tracebacks = [l for _, l in fw.lines if "Traceback" in l]
    r.unhandled = len(tracebacks)
    if too_close or 429 in statuses:
        r.fail("%d pushes under 30 s apart" % len(too_close))
    if tracebacks:
        r.fail("tracebacks in the output: %s" % tracebacks[:3])
    if len(fw.boots) != 1:
        r.fail("the firmware restarted")
    r.detail = ("%d pushes, smallest gap %.1f s, %d answered 429; recovery after each fault "
                "cleared: %s" % (len(pushes), min(gaps) if gaps else 0, statuses.count(429),
                                 "; ".join("%s %s" % (nm, "%.0f s" % g if g is not None else "NONE")
                                           for nm, g, _ in recover)))
    return r
