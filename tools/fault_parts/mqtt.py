"""Fault part `mqtt`: broker faults (a real mosquitto behind tools/bad_broker.py's switchable
front) against the whole firmware with MQTT and the Charge HQ push."""
import os
import random
import time

from fault_parts.common import Result, make_device, recorded_pushes


# (mode of tools/bad_broker.BrokerFront, the words the device's log line must hold)
_BROKER_FAULTS = (("refused", "refused"), ("silent", "no answer"), ("refuse_auth", "bad user name"),
                  ("close", "closed"), ("oversize", "oversize"), ("malformed", "malformed"),
                  ("http", "not an MQTT broker"), ("junk_type", "unexpected packet"),
                  ("drop_later", "closed"), ("no_pingresp", "silent"))


def _open_files(dev):
    try:
        return len(os.listdir("/proc/%d/fd" % dev.proc.pid))
    except OSError:
        return -1


def run(tmp, n, seed):
    """Broker faults against the whole firmware with MQTT and the Charge HQ push: each fault
    logged once with its reason, MQTT state flowing again after it clears, sampling and the
    pushes unaffected, no traceback, no restart."""
    import fake_chargehq
    import mosquitto_broker
    from bad_broker import BrokerFront
    from mqtt_fx import Watcher
    r = Result("mqtt", "MQTT broker: unreachable, silent, wrong credentials, closing, oversize, "
                       "malformed, not a broker, junk packets, no PINGRESP")
    rng = random.Random(seed)
    chq = tmp / "mqtt-chq"
    srv, url, ca = fake_chargehq.serve(str(chq), 0, 29.9, out=open(os.devnull, "w"))
    broker = mosquitto_broker.Broker().start()
    front = BrokerFront(broker.port)
    w = Watcher(broker.port, "chargehq-meter/#")
    fw = make_device(tmp, "mqtt-dev", url, ca, "mqtt-key-0123456789-abcd", interval=30,
                     extra_cfg={"device": {"report_s": 2},
                                "mqtt": {"host": "127.0.0.1", "port": front.port, "interval_s": 2,
                                         "keepalive_s": 10}})
    kinds = list(_BROKER_FAULTS) * (n // len(_BROKER_FAULTS) + 1)
    rng.shuffle(kinds)
    kinds = kinds[:n]  # the short form: a few of them (another seed, others)

    recover = []
    fds = []
    fw.start("power")
    try:
        if not w.wait_for(lambda: any(t.endswith("/state") for t, _p, _r in w.msgs), 30):
            r.fail("no MQTT state before the faults")
        fds.append(_open_files(fw))
        for mode, words in kinds:
            front.switch(mode)
            t_on = time.time()
            # long enough for the device to meet it: a silent broker costs the 10 s connect
            # deadline after the first retry, a missing PINGRESP a whole keepalive
            time.sleep({"no_pingresp": 25, "silent": 16}.get(mode) or rng.uniform(6, 10))
            front.switch("ok")
            t_off = time.time()
            r.faults += 1
            got = None
            while time.time() < t_off + 45 and got is None:
                later = [t for t, (tp, _p, _r) in zip(w.times, w.msgs) if t > t_off and tp.endswith("/state")]
                if later:
                    got = later[0] - t_off
                time.sleep(0.2)
            lines = [l for t, l in fw.lines if t_on <= t <= time.time() and "mqtt:" in l and "retry" in l]
            said = [l for l in lines if words in l]
            recover.append((mode, got, len(lines)))
            if got is None:
                r.fail("no MQTT state within 45 s after '%s' cleared" % mode)
            time.sleep(11)  # the device counts a connection as good again after 10 s
            again = [l for t, l in fw.lines if t > t_off and "mqtt: connected again" in l]
            if not said:
                r.fail("'%s': no log line saying '%s' (got %s)" % (mode, words, lines[:3]))
            if not again:
                r.fail("'%s': no 'connected again' line after it cleared" % mode)
            if len(lines) > 3:
                r.fail("'%s': %d log lines for one fault: %s" % (mode, len(lines), lines))
        fds.append(_open_files(fw))
        if len(fds) == 2 and fds[-1] > fds[0] + 2:  # (a push or a page may hold one or two for a moment)
            r.fail("open files grew from %d to %d: sockets leak" % (fds[0], fds[-1]))
    finally:
        fw.stop(10)
        srv.shutdown()
        w.stop()
        front.stop()
        broker.stop()
    pushes = recorded_pushes(chq)
    gaps = [b["t"] - a["t"] for a, b in zip(pushes, pushes[1:])]
    span = fw.lines[-1][0] - fw.lines[0][0] if fw.lines else 0
    readings = [t for t, l in fw.lines if "reading:" in l]
    worst = max((b - a for a, b in zip(readings, readings[1:])), default=0)
    tracebacks = [l for _, l in fw.lines if "Traceback" in l]
    r.unhandled = len(tracebacks)
    if tracebacks:
        r.fail("tracebacks in the output: %s" % tracebacks[:3])
    if len(fw.boots) != 1:
        r.fail("the firmware restarted")
    if len([p for p in pushes if p["status"] == 200]) < max(1, int(span // 30) - 1) or any(g < 29.9 for g in gaps):
        r.fail("Charge HQ pushes disturbed: %d in %.0f s, gaps %s" % (len(pushes), span, gaps))
    if worst > 6:
        r.fail("sampling stalled: %.1f s between reading lines (every 2 s)" % worst)
    r.detail = ("%d pushes (all >= 30 s apart), longest gap between readings %.1f s, open files %s; "
                "MQTT state again after: %s" % (len(pushes), worst, " -> ".join(map(str, fds)), "; ".join(
                    "%s %s" % (m, "%.1f s" % g if g is not None else "NONE") for m, g, _ in recover)))
    return r
