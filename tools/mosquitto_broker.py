"""A local mosquitto broker for tests and the simulator: on 127.0.0.1, a free port, its own
config and folder, started and stopped by the caller (never a system service).

    b = Broker(users={"meter": "secret"}).start()   # anonymous allowed when users is None
    ... b.port ...
    b.stop()
"""
import pathlib
import socket
import subprocess
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
MOSQUITTO = "/usr/sbin/mosquitto"


def ensure():
    """Install Debian's mosquitto when root, else stop with the exact command (never skip)."""
    res = subprocess.run(["sh", str(ROOT / "tools" / "ensure_mosquitto.sh")], capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(res.stderr.strip() or "mosquitto is missing")


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Broker:
    def __init__(self, port=None, users=None, folder=None, tls=None):
        """tls: (certfile, keyfile) PEM paths: the listener speaks TLS only."""
        self.port = port or _free_port()
        self.users = users
        self.tls = tls
        self.dir = pathlib.Path(folder or tempfile.mkdtemp(prefix="mosquitto-"))
        self.proc = None

    def start(self, wait_s=10):
        ensure()
        # run as root, mosquitto drops to its own user: the folder must be readable to it, and
        # the log goes to stderr (our file) rather than a file it would have to open
        self.dir.chmod(0o755)
        conf = ["listener %d 127.0.0.1" % self.port, "persistence false", "log_dest stderr"]
        if self.tls:
            for i, src in enumerate(self.tls):  # copies the broker's own user can read
                dst = self.dir / ("server-cert.pem", "server-key.pem")[i]
                dst.write_bytes(pathlib.Path(src).read_bytes())
                dst.chmod(0o644)
            conf += ["certfile %s" % (self.dir / "server-cert.pem"), "keyfile %s" % (self.dir / "server-key.pem")]
        if self.users:
            pw = self.dir / "passwd"
            pw.write_text("")
            for user, password in self.users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(pw), user, password], check=True,
                               capture_output=True)
            pw.chmod(0o644)
            conf += ["allow_anonymous false", "password_file %s" % pw]
        else:
            conf.append("allow_anonymous true")
        (self.dir / "mosquitto.conf").write_text("\n".join(conf) + "\n")
        self.log = open(self.dir / "broker.log", "wb")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.dir / "mosquitto.conf")],
                                     stdout=subprocess.DEVNULL, stderr=self.log)
        end = time.time() + wait_s
        while time.time() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("mosquitto exited: %s" % (self.dir / "broker.log").read_text()[-500:])
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                time.sleep(0.05 if self.tls else 0)
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("mosquitto did not listen on port %d" % self.port)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
