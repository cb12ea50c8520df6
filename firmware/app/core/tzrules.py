# POSIX TZ strings (device.timezone) read into the zone tuple app.core.localtime works with, and the
# zones the set-up form offers. Loaded only to check or set a zone (config load, the form, boot):
# app.core.localtime drops it again, so the running meter keeps only the small arithmetic part.
#   "AEST-10AEDT,M10.1.0,M4.1.0/3": standard name and offset (POSIX sign: hours WEST of UTC),
#   optional DST name, offset (default one hour ahead) and the two rules (Mm.w.d = weekday d of
#   week w of month m, w 5 = the last; Jn = day n of 1..365 without Feb 29; n = day 0..365), each
#   with an optional /time (default 2:00).

ZONES = (  # what the set-up form offers (Australia first: the project's users), then free text
    ("Sydney, Melbourne, Canberra, Hobart", "AEST-10AEDT,M10.1.0,M4.1.0/3"),
    ("Brisbane", "AEST-10"),
    ("Adelaide", "ACST-9:30ACDT,M10.1.0,M4.1.0/3"),
    ("Darwin", "ACST-9:30"),
    ("Perth", "AWST-8"),
    ("Lord Howe Island", "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0"),
    ("New Zealand", "NZST-12NZDT,M9.5.0,M4.1.0/3"),
    ("UTC", "UTC0"),
)


class _Reader:
    def __init__(self, s):
        self.s = s
        self.i = 0

    def peek(self):
        return self.s[self.i] if self.i < len(self.s) else ""

    def name(self):
        s = self.s
        if self.peek() == "<":
            j = s.find(">", self.i)
            if j < 0:
                raise ValueError("unclosed <")
            out = s[self.i + 1:j]
            self.i = j + 1
        else:
            j = self.i
            while j < len(s) and s[j].isalpha():
                j += 1
            out = s[self.i:j]
            self.i = j
            if len(out) < 3:
                raise ValueError("a zone name has at least 3 letters (or <+10> style)")
        return out

    def number(self):
        j = self.i
        while j < len(self.s) and self.s[j].isdigit():
            j += 1
        if j == self.i:
            raise ValueError("number expected at %r" % self.s[self.i:self.i + 8])
        v = int(self.s[self.i:j])
        self.i = j
        return v

    def hms(self):
        """[+-]h[:mm[:ss]] -> seconds (signed)."""
        sign = 1
        if self.peek() in "+-" and self.peek():
            sign = -1 if self.peek() == "-" else 1
            self.i += 1
        v = self.number() * 3600
        for mul in (60, 1):
            if self.peek() != ":":
                break
            self.i += 1
            v += self.number() * mul
        return sign * v

    def rule(self):
        c = self.peek()
        if c == "M":
            self.i += 1
            m = self.number()
            self._expect(".")
            w = self.number()
            self._expect(".")
            d = self.number()
            if not (1 <= m <= 12 and 1 <= w <= 5 and 0 <= d <= 6):
                raise ValueError("Mm.w.d out of range")
            r = ["M", m, w, d]
        elif c == "J":
            self.i += 1
            n = self.number()
            if not 1 <= n <= 365:
                raise ValueError("Jn: n is 1..365")
            r = ["J", n, 0, 0]
        else:
            n = self.number()
            if n > 365:
                raise ValueError("n is 0..365")
            r = ["n", n, 0, 0]
        t = 7200
        if self.peek() == "/":
            self.i += 1
            t = self.hms()
        r.append(t)
        return tuple(r)

    def _expect(self, ch):
        if self.peek() != ch:
            raise ValueError("%r expected" % ch)
        self.i += 1


def parse(tz):
    """-> the zone tuple, or None for UTC ("" or "UTC0"); raises ValueError with the reason."""
    if not tz:
        return None
    r = _Reader(tz)
    std = r.name()
    std_off = -r.hms()
    if not r.peek():
        return (std, std_off, None, std_off, None, None) if std_off else None
    dst = r.name()
    dst_off = std_off + 3600
    if r.peek() not in (",", ""):
        dst_off = -r.hms()
    if not r.peek():
        start, end = ("M", 3, 2, 0, 7200), ("M", 11, 1, 0, 7200)  # POSIX's default: US rules
    else:
        r._expect(",")
        start = r.rule()
        r._expect(",")
        end = r.rule()
    if r.peek():
        raise ValueError("unexpected %r" % tz[r.i:])
    if abs(std_off) > 93600 or abs(dst_off) > 93600:
        raise ValueError("offset beyond 26 hours")
    return (std, std_off, dst, dst_off, start, end)


def check(tz):
    """-> None when `tz` is a usable POSIX TZ string, else the reason (for config checks)."""
    try:
        parse(tz)
    except (ValueError, IndexError) as e:
        return "not a POSIX TZ string (%s), e.g. AEST-10AEDT,M10.1.0,M4.1.0/3" % e
    return None
