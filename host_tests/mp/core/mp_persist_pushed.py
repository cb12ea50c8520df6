# The kWh totals pushed to Charge HQ never go back, even across a power cut: what is pushed is
# what flash holds (RTC memory is lost on power-on, flash lags by up to energy.checkpoint_s).
from mptest import check, eq, done, ListLog, MemRTC
from app.core import config
from app.outputs.chargehq import ChargeHQApp as App
from app.core.persist import Store


cfg = config.validate({"wifi": {"ssid": "x"}, "chargehq": {"api_key": "pushed-key-0123456789"},
                       "source": {"type": "simulated"}, "device": {"watchdog_s": 0}})
rtc = MemRTC()


def boot():
    log = ListLog()
    app = App(cfg, log)
    store = Store(log, rtc=rtc)
    app.store = store
    store.restore(app)
    return app, store


app, store = boot()
eq(store.pushable_wh(app.energy), [0, 0], "a new device pushes 0 until it has saved something")
pushed_high = [0, 0]
for round_ in range(5):
    app.energy.add(1500 * 1000000, 200 * 1000000)  # 1.5 kWh in, 0.2 kWh out since the last round
    store.on_poll(app)
    if round_ in (0, 2):
        store.checkpoint(app, "test")  # as every checkpoint_s
    p = store.pushable_wh(app.energy)
    check(p[0] <= app.energy.wh[0] and p[1] <= app.energy.wh[1], "pushed <= counted")
    check(p[0] >= pushed_high[0] and p[1] >= pushed_high[1], "pushed never back within a boot")
    pushed_high = list(p)
eq(pushed_high, [4500, 600], "pushed: the third checkpoint's totals")
eq(app.energy.wh, [7500, 1000], "counted: more than flash holds")
# power cut now: RTC memory is not trusted after a power-on, flash gives the totals back
app2, store2 = boot()
check(app2.energy.wh[0] >= pushed_high[0] and app2.energy.wh[1] >= pushed_high[1],
      "after the cut the totals are not below what Charge HQ saw: %r vs %r" % (app2.energy.wh, pushed_high))
eq(store2.pushable_wh(app2.energy), pushed_high, "the first push after the cut repeats the last one")

# totals that follow a meter's own counters are pushed live (the meter kept counting while off)
app3, store3 = boot()
app3.energy.meter(5432100, 1000)
store3.on_poll(app3)
eq(store3.pushable_wh(app3.energy), app3.energy.wh, "meter counters: live")
check(app3.energy.wh[0] >= 5432100, "follows the meter")
# the meter is replaced (counter drops): the new offset is on flash at once
flash_before = store3.flash_writes
app3.energy.meter(100, 1000)
store3.on_poll(app3)
eq(store3.flash_writes, flash_before + 1, "offset saved at once")
pushed = list(store3.pushable_wh(app3.energy))
app4, store4 = boot()  # power cut right after
app4.energy.meter(150, 1000)
check(app4.energy.wh[0] >= pushed[0], "no going back after a meter swap and a power cut: %r vs %r"
      % (app4.energy.wh, pushed))
done()
