# esp32.NVS and esp32.Partition stand-ins (host only), loaded by esp32.py on first use.


class NVS:
    _store = {}

    def __init__(self, namespace):
        self._ns = namespace

    def set_i32(self, key, value):
        NVS._store[(self._ns, key)] = int(value)

    def get_i32(self, key):
        try:
            return NVS._store[(self._ns, key)]
        except KeyError:
            raise OSError(-4354)  # ESP_ERR_NVS_NOT_FOUND

    def set_blob(self, key, value):
        NVS._store[(self._ns, key)] = bytes(value)

    def get_blob(self, key, buf):
        v = self.get_i32(key)
        buf[: len(v)] = v
        return len(v)

    def erase_key(self, key):
        NVS._store.pop((self._ns, key), None)

    def commit(self):
        pass


class Partition:
    RUNNING = 1
    BOOT = 0

    def __init__(self, id):
        self.id = id

    def info(self):
        return (0, 0, 0x10000, 0x1F0000, "factory", False)

    @staticmethod
    def mark_app_valid_cancel_rollback():
        pass
