# The event log's RAM ring: one preallocated bytearray. Lines come back newest last and whole,
# also where they wrap round the end of the buffer; the oldest go first when it is full; a long
# line is cut at 255 bytes on a character boundary; secrets are masked before they are stored.
import gc
from app.core.log import Log
from mptest import check, eq, done

log = Log(size=200, echo=False)
eq(log.recent(), [], "empty at first")
log.info("hello")
log.warn("second line")
got = log.recent()
eq([(l, m) for _, l, m in got], [("I", "hello"), ("W", "second line")], "two lines, oldest first")
check(all(isinstance(t, int) for t, _, _ in got), "times are ints")

# fill it many times over: only what fits stays, each line intact, the newest last
for i in range(100):
    log.error("line %03d %s" % (i, "x" * (i % 17)))
got = log.recent()
check(0 < len(got) < 100, "the oldest were dropped: %d kept" % len(got))
for _, level, msg in got:
    check(level == "E" and msg.startswith("line "), "intact: %r" % msg)
    n = int(msg[5:8])
    eq(msg, "line %03d %s" % (n, "x" * (n % 17)), "line %d whole after wrapping" % n)
eq(got[-1][2][:8], "line 099", "the newest last")
nums = [int(m[5:8]) for _, _, m in got]
eq(nums, list(range(100 - len(got), 100)), "consecutive: nothing lost inside the ring")
eq(log.count, 102, "count of every line ever added")
eq([m for _, _, m in log.recent(3)], [m for _, _, m in got[-3:]], "recent(n): the newest n")
eq(log.recent(0), [], "recent(0)")
used = sum(6 + len(m) for _, _, m in got)
check(used <= 200, "within its bytes: %d" % used)

# a long line is cut at 255 bytes, never inside a character
big = Log(size=1024, echo=False)
big.info("é" * 300)
msg = big.recent()[0][2]
check(len(msg.encode()) <= 255 and msg == "é" * len(msg), "cut on a character boundary (%d chars)" % len(msg))
big.info("z" * 1000)
eq(len(big.recent()[-1][2]), 255, "ASCII cut at 255")

# secrets are masked before they are stored
sec = Log(size=512, echo=False)
sec.secrets.append("sk-0123456789abcdef")
sec.error("server said: bad key sk-0123456789abcdef")
m = sec.recent()[0][2]
check("sk-0123456789abcdef" not in m and "cdef" not in m and m.endswith("(set, hidden)"), "masked: %r" % m)

# a stored line costs no heap: the ring is allocated once
ring = Log(size=4096, echo=False)
for i in range(200):
    ring.info("warm-up line %d with some text to fill the ring" % i)
gc.collect()
before = gc.mem_alloc()
for i in range(200):
    ring.info("steady line %d with some text to fill the ring" % i)
gc.collect()
check(gc.mem_alloc() - before <= 64, "200 more lines held in the same heap: %d B" % (gc.mem_alloc() - before))
done()
