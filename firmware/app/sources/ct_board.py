# The CT source's settings from the board profile (boards/*.json) and the "source" section:
# which chips, which pins, which gains per phase for the mains voltage and CTs in use.
from app.sources.base import SourceError

_PHASES = "ABC"


def board_chips(board, addons=0):
    """The board's chip list: main chips, then two per add-on board."""
    chips = list(board.get("chips") or [])
    extra = board.get("addon_chips") or []
    chips += extra[:2 * addons]
    return chips


def mains_v(src, board):
    """The nominal mains voltage the AC adapter is rated for: source.mains_v, else 120 on a
    60 Hz grid, else the board's default (240: Australia), else 230."""
    v = src.get("mains_v")
    if v:
        return v
    if src.get("line_hz") == 60:
        return 120
    return (board.get("defaults") or {}).get("mains_v", 230) if board else 230


def mains_ugain(board, volts):
    """The board's voltage gain for an adapter rated for `volts` (its table, else its 120 V value
    scaled: a 9 V adapter for 240 V steps down twice as far as one for 120 V), or None."""
    table = (board.get("front_end") or {}).get("ugain") if board else None
    if not table:
        return None
    if str(volts) in table:
        return table[str(volts)]
    if "120" in table:
        return (table["120"] * volts + 60) // 120
    return None


def chip_settings(src, board, chip_index):
    """-> dict of driver settings for one chip (phases, pga, gains, offsets per phase).
    Raises SourceError when the board or a CT model does not fit."""
    chips = board_chips(board, src.get("addons", 0))
    if chip_index >= len(chips):
        raise SourceError("chip %d: the board %s has %d chip(s) (more need source.addons)" % (
            chip_index, board.get("name", "?"), len(chips)))
    chip = chips[chip_index]
    presets = board.get("ct_presets") or {}
    default_model = src.get("ct_model") or (board.get("defaults") or {}).get("ct_model")
    phases = chip.get("phases", "ABC")
    pga = [chip.get("pga", 1)] * 3
    ugain = [src.get("ugain") or mains_ugain(board, mains_v(src, board)) or chip.get("ugain", 7305)] * 3
    igain = [0, 0, 0]
    z = [[0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]]  # uoffset, ioffset, poffset, qoffset
    chans = [c for c in src["channels"] if c.get("chip", 0) == chip_index]
    by_ph = {}
    for c in chans:
        by_ph[_PHASES.index(c["phase"])] = c
    for ph in range(3):
        c = by_ph.get(ph, {})
        if c and _PHASES[ph] not in phases:
            raise SourceError("chip %d has no phase %s on this board (phases %s)" % (
                chip_index, _PHASES[ph], phases))
        model = c.get("ct_model") or default_model
        preset = presets.get(model)
        if preset is None and (c and "igain" not in c):
            raise SourceError("CT model %r has no preset on this board (one of %s) and no igain" % (
                model, ", ".join(sorted(presets))))
        preset = preset or {}
        if "pga" in preset:
            pga[ph] = preset["pga"]
        gain = preset.get("igain", 0)
        if c.get("pga") and c["pga"] != pga[ph]:
            # the same reading at another PGA: the gain scales inversely (calibrate settles it)
            gain = gain * pga[ph] // c["pga"]
            pga[ph] = c["pga"]
        mult = c.get("multiplier", 1)
        igain[ph] = c.get("igain", gain) // mult
        if "ugain" in c:
            ugain[ph] = c["ugain"]
        for i, key in enumerate(("uoffset", "ioffset", "poffset", "qoffset")):
            z[i][ph] = c.get(key, 0)
    return {"cs": chip["cs"], "phases": phases, "pga": tuple(pga), "ugain": tuple(ugain),
            "igain": tuple(igain), "uoffset": tuple(z[0]), "ioffset": tuple(z[1]),
            "poffset": tuple(z[2]), "qoffset": tuple(z[3])}
