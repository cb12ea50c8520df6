"""Bench figure `status`: the status page's heap on the ESP32 shape (tools/status_heap.py)."""
from bench_parts.common import KB


def measure(env, rows, quick):
    """The status page on the ESP32 shape (tools/status_heap.py: 32-bit, 112 KB heap, .mpy): the
    24 h history ring and what one render of the live part and the day's chart holds at once."""
    import status_heap
    import unix32
    b = status_heap.measure(unix32.ensure("plain"))
    rows.append(("Status page: 24 h history ring + its module (ESP32 shape, .mpy)", "<= 8 KB",
                 "%.1f KB" % ((b["history_ring"] + b["history_module"]) / KB),
                 b["history_ring"] + b["history_module"] <= 8 * KB,
                 "ring %d B, module %d B (0 frozen in); kept for the meter's life" % (
                     b["history_ring"], b["history_module"])))
    worst = max(b["live_peak_live"], b["chart_peak_live"], b["history_json_peak_live"])
    rows.append(("Status page: heap a page render holds (ESP32 shape, .mpy)", "<= 16 KB",
                 "%.1f KB" % ((b["statusview_module"] + worst) / KB), b["statusview_module"] + worst <= 16 * KB,
                 "view module %d B while serving + most live %d B (live part %d, chart %d, /api/history "
                 "%d); garbage per render: live %d B, chart %d B, history %d B" % (
                     b["statusview_module"], worst, b["live_peak_live"], b["chart_peak_live"],
                     b["history_json_peak_live"], b["live_alloc"], b["chart_alloc"], b["history_json_alloc"])))
