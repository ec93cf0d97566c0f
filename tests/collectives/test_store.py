"""The TCP store (in process: a server thread and clients)."""
import threading
import time

import pytest

from collectives.store import TCPStore, PrefixStore, HashStore

pytestmark = pytest.mark.timeout(30)


def test_tcp_store_set_get_wait_add():
    master = TCPStore("127.0.0.1", 0, 2, is_master=True, timeout=10)
    client = TCPStore("127.0.0.1", master.port, 2, timeout=10)
    client.set("k", "v")
    assert master.get("k") == b"v"
    assert client.add("n", 2) == 2 and master.add("n", 3) == 5
    assert int(client.get("n")) == 5
    got = []
    th = threading.Thread(target=lambda: got.append(client.get("later")))
    th.start()
    time.sleep(0.1)
    master.set("later", b"\x00\x01")
    th.join(5)
    assert got == [b"\x00\x01"]
    client.wait(["k", "n"])
    with pytest.raises(RuntimeError, match="not set within"):
        client.get("missing", timeout=0.2)
    assert client.check(["k"]) and not client.check(["k", "nope"])
    assert client.compare_set("cs", "", "a") == b"a"
    assert client.compare_set("cs", "x", "b") == b"a"
    assert client.delete_key("k") and not client.check(["k"])
    p = PrefixStore("pre", client)
    p.set("a", "1")
    assert master.get("pre/a") == b"1"
    client.close()
    master.close()


def test_hash_store():
    s = HashStore()
    s.set("a", b"1")
    assert s.get("a") == b"1" and s.add("c", 4) == 4
