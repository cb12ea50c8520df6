# Start-up: load the config, join Wi-Fi, run the app. Never a crash loop: a fatal error is
# logged, the totals are checkpointed, and the chip resets after a pause (the 30 s push floor
# survives the reset, so even a loop of crashes cannot hammer the endpoint).
import asyncio
import time
import machine
from app.core import clock
from app.core import config
from app.core.log import Log, hide

_FATAL_PAUSE_S = 10
_OPEN_GRACE_MS = 120000  # the open first set-up network stays while a phone used it this recently
_CAUSES = {getattr(machine, "PWRON_RESET", 1): "power-on", getattr(machine, "HARD_RESET", 2): "hard reset",
           getattr(machine, "WDT_RESET", 3): "watchdog", getattr(machine, "DEEPSLEEP_RESET", 4): "deep sleep",
           getattr(machine, "SOFT_RESET", 5): "soft reset"}


def reset_cause_text():
    return _CAUSES.get(machine.reset_cause(), "unknown")


async def _main(app, log):
    cfg = app.cfg
    from app.web import setup_mode
    from app.system.wifi_supervisor import Supervisor
    # The set-up network opens when the home network stays away; its web side is the set-up
    # portal unless a web server (the status page) already listens on every interface.
    setup = setup_mode.SetupAP(cfg, log, http=lambda: not getattr(app, "web_running", False), app=app)
    sup = Supervisor.from_config(cfg, log, setup)
    app.wifi_sup = sup
    # before the first join: a set-up network opened during it must leave the port to the status
    # page (it serves the set-up network's phones too), or the LAN page was lost until a restart
    services = _services(app, log)
    await sup.step()  # the first join (bounded), before sampling and pushing start
    app.wifi = sup.sta
    app.open_portal = sup.open_setup_now  # console `portal`
    await app.run(sup.run(), *services)


def _services(app, log):
    """More coroutines beside sampling and pushing (console, status page): one line each."""
    from app.system.ota_health import watch  # a version on trial confirms itself (over-the-air update)
    from app.outputs import services as outputs
    out = [watch(app, log)] + outputs.services(app, log)  # MQTT, OpenEVSE (Charge HQ: App.push_loop)
    if app.cfg.get("console", "enabled"):
        from app.console.shell import serve
        out.append(serve(app))
    from app.system import led
    lamp = led.make(app.board, app.cfg, log)
    if lamp is not None:
        out.append(lamp.run(lambda: led.app_state(app)))
    if app.cfg.get("portal", "status_page"):  # LAN status page + /api/status (imports Microdot)
        try:
            from app.web.portal import status_service
            out.append(status_service(app, log))
            app.web_running = True  # it will listen on every interface: see status_service
        except (ImportError, MemoryError) as e:  # the meter and the pushes go on without it
            log.error("status page not started: %s: %s (deploy lib/microdot)" % (
                type(e).__name__, e))
    return out


async def _needs_setup(log, cfg):
    log.error("needs set-up: %s" % cfg.problem)
    from app.web import setup_mode
    # Never set up (no admin password, no set-up password chosen): the set-up network is open
    # for portal.open_setup_s after the start, so a phone alone can set the meter up; then, or
    # once set up, it has a password. A power cycle (someone at the meter) opens it again.
    first = not cfg.get("device", "admin_password") and not cfg.get("portal", "ap_password")
    setup = setup_mode.SetupAP(cfg, log, open_for_s=cfg.get("portal", "open_setup_s") if first else 0)
    if cfg.get("console", "enabled"):  # set-up over the serial line too: wifi, set, reboot
        asyncio.create_task(_console_on_key(cfg, log))
    _setup_led(cfg, log)
    # the set-up network at once, kept open until the portal has saved the settings (it restarts
    # the chip); the station is left alone here: the portal tries the network the user enters
    while True:
        if not setup.active:
            await setup.open()  # retried if the radio refused (logged)
        elif setup.is_open and not setup.open_window_s():
            used = setup.used_ms()
            if used is None or used > _OPEN_GRACE_MS:  # not while a phone is half-way through
                log.info("the set-up network's open time is over: it now needs its password")
                setup.open_until = None
                await setup.close()
                continue
        await asyncio.sleep(10)


def _setup_led(cfg, log):
    from app.core import boards
    from app.system import led
    try:
        board = boards.load(cfg.get("device", "board"))
    except ValueError:
        board = None
    lamp = led.make(board, cfg, log)
    if lamp is not None:
        asyncio.create_task(lamp.run(lambda: "setup"))


async def _console_on_key(cfg, log):
    # The set-up console loads at the first byte on the serial line: until someone types, its
    # ~8 KB stay free for the portal. The key itself is left for the console to read.
    import select
    import sys
    poller = select.poll()
    poller.register(sys.stdin, select.POLLIN)
    print("\nconsole: press Enter for the set-up console")
    while not poller.poll(0):
        await asyncio.sleep_ms(100)
    poller = None
    from app.console.shell import serve_setup
    await serve_setup(cfg, log)


def run():
    log = Log()
    log.info("boot: %s" % reset_cause_text())
    cfg = config.load(log=log)
    hide(log, config.secret_values(cfg.data))  # set-up mode too: a Wi-Fi password already set
    for e in cfg.errors + cfg.warnings:
        log.warn("config: " + e)
    if cfg.needs_setup:
        try:
            asyncio.run(_needs_setup(log, cfg))
        except KeyboardInterrupt:
            log.info("stopped")
        return
    from app.outputs.chargehq import ChargeHQApp as App  # the core's App with the Charge HQ push
    from app.core import boards
    board = None
    try:
        board = boards.load(cfg.get("device", "board"))
    except ValueError as e:
        log.error(str(e))
    store = None
    try:
        from app.core.persist import Store
        store = Store(log)
    except ImportError:
        pass
    app = App(cfg, log, board, store)
    app.reset_cause = reset_cause_text()
    try:
        asyncio.run(_main(app, log))
    except KeyboardInterrupt:
        log.info("stopped (%s)" % getattr(app, "stop_reason", "Ctrl-C"))
        app.shutdown("stop")
    except Exception as e:
        log.exc("fatal", e)
        app.shutdown("crash")
        time.sleep(_FATAL_PAUSE_S)
        machine.reset()
