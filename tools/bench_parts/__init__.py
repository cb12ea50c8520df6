"""The figures of `make bench` (tools/bench.py, the driver: flags, which figures, the report), one
module per measured part, each with measure(env, rows, quick):

  size      compiled firmware size          alloc    heap allocated per poll (32-bit)
  firmware  whole firmware's smallest heap  growth   heap growth over many cycles
  push      push loop's smallest heap       boot     power-on to the first push
  portal    set-up portal's smallest heap   reboots  push spacing and period across reboots
  status    status page's heap              energy   energy error over a simulated day
  cpython   memory against a CPython pusher mqtt     the MQTT output's heap

common.py is what they share (Env: the compiled tree, device folders, the fake Charge HQ; the
sources and their stand-ins; simulated devices); esp32_shape.py what the three smallest-heap
figures share (the interpreters, the bisection).
"""
