"""Four-letter words (plain text on the client port) and the whitelist."""

import re
import time

import pytest

import zkproto
from conftest import IS_ZK


@pytest.fixture(scope="module")
def session(server):
    """A live session holding a data watch on /fl-watched and an ephemeral /fl-eph."""
    c = zkproto.RawClient(server.port, timeout_ms=10000)
    c.create("/fl-watched", b"abc")
    c.create("/fl-eph", b"", flags=zkproto.F_EPHEMERAL)
    c.get("/fl-watched", watch=True)
    yield c
    c.close_session()
    c.close()


def test_ruok(server):
    assert server.four("ruok") == "imok"


def _kv_lines(text):
    out = {}
    for line in text.splitlines():
        if ":" in line:
            k, _, v = line.partition(":")
            out[k.strip()] = v.strip()
    return out


def test_srvr(server, session):
    text = server.four("srvr")
    kv = _kv_lines(text)
    assert kv["Mode"] == "standalone"
    assert "Zookeeper version" in kv and kv["Zookeeper version"]
    assert re.fullmatch(r"0x[0-9a-f]+", kv["Zxid"])
    assert int(kv["Zxid"], 16) >= session.last_zxid
    assert int(kv["Node count"]) >= 6  # /, /zookeeper, /zookeeper/quota, /zookeeper/config + 2 of ours
    assert re.fullmatch(r"\d+/[\d.]+/\d+", kv["Latency min/avg/max"])
    for key in ("Received", "Sent", "Connections", "Outstanding"):
        assert re.fullmatch(r"\d+", kv[key]), key
    assert int(kv["Connections"]) >= 1
    assert text.endswith("\n")


def test_stat(server, session):
    text = server.four("stat")
    assert text.startswith("Zookeeper version:")
    assert "Clients:" in text
    assert re.search(r"^ /127\.0\.0\.1:\d+\[\d+\]\(queued=\d+,recved=\d+,sent=\d+\)$", text, re.M)
    assert re.search(r"^Mode: standalone$", text, re.M)
    assert re.search(r"^Zxid: 0x[0-9a-f]+$", text, re.M)
    assert re.search(r"^Node count: \d+$", text, re.M)


def _mntr(server):
    lines = [ln for ln in server.four("mntr").splitlines() if ln]
    assert lines
    kv = {}
    for ln in lines:
        k, sep, v = ln.partition("\t")
        assert sep == "\t" and k.startswith("zk_"), repr(ln)
        kv[k] = v
    return kv


def test_mntr(server, session):
    kv = _mntr(server)
    assert kv["zk_server_state"] == "standalone"
    assert int(kv["zk_znode_count"]) >= 6
    assert int(kv["zk_ephemerals_count"]) >= 1
    assert int(kv["zk_watch_count"]) >= 1
    assert int(kv["zk_num_alive_connections"]) >= 1
    for k in ("zk_version", "zk_avg_latency", "zk_max_latency", "zk_min_latency", "zk_packets_received",
              "zk_packets_sent", "zk_outstanding_requests", "zk_approximate_data_size",
              "zk_open_file_descriptor_count"):
        assert k in kv, k
    if IS_ZK:
        return  # the rest is the zk_ukeeper_* keys: ukeeper's znode store accounting

    # 2000 znodes with 100-byte values (in multis of 200): the store's memory grows by at least their data, and
    # its bytes per znode stay within reason (about 500 measured at 1M znodes, bench/tree_bench.cc).
    tree_keys = ("zk_ukeeper_tree_memory_bytes", "zk_ukeeper_tree_retired_bytes", "zk_ukeeper_bytes_per_znode")
    for k in tree_keys:
        assert re.fullmatch(r"\d+", kv[k]), (k, kv.get(k))
    before = int(kv["zk_ukeeper_tree_memory_bytes"])
    assert before > 0
    paths = ["/fl-mem/n%04d" % i for i in range(2000)]
    with zkproto.RawClient(server.port) as c:
        c.create("/fl-mem")
        for i in range(0, len(paths), 200):
            assert c.multi([("create", p, b"v" * 100, 0) for p in paths[i:i + 200]])[0] == 0
        after = _mntr(server)
        for k in tree_keys:
            assert re.fullmatch(r"\d+", after[k]), (k, after.get(k))
        grown = int(after["zk_ukeeper_tree_memory_bytes"]) - before
        assert 2000 * 100 <= grown <= 2000 * 5000, after
        assert 100 <= int(after["zk_ukeeper_bytes_per_znode"]) <= 5000, after
        per_znode = int(after["zk_ukeeper_tree_memory_bytes"]) // int(after["zk_znode_count"])
        assert int(after["zk_ukeeper_bytes_per_znode"]) == per_znode, after
        # Read guards last microseconds and the loop reclaims every 100 ms: after a quiet spell nothing is held.
        time.sleep(0.3)
        assert int(_mntr(server)["zk_ukeeper_tree_retired_bytes"]) == 0
        for i in range(0, len(paths), 200):
            assert c.multi([("delete", p, -1) for p in paths[i:i + 200]])[0] == 0
        c.delete("/fl-mem")
    assert int(_mntr(server)["zk_ukeeper_tree_memory_bytes"]) < before + grown // 10


def test_conf(server):
    kv = {}
    for line in server.four("conf").splitlines():
        k, _, v = line.partition("=")
        kv[k] = v
    assert kv["clientPort"] == str(server.port)
    assert kv["tickTime"] == str(server.tick)
    assert kv["minSessionTimeout"] == str(server.min_session_timeout)
    assert kv["maxSessionTimeout"] == str(server.max_session_timeout)
    assert "dataDir" in kv


def test_cons(server, session):
    text = server.four("cons")
    sid = "0x%x" % session.session_id
    line = [ln for ln in text.splitlines() if "sid=%s" % sid in ln]
    assert len(line) == 1, text
    assert line[0].startswith(" /127.0.0.1:")
    assert "to=10000" in line[0]


def test_watch_commands(server, session):
    sid = "0x%x" % session.session_id
    wchs = server.four("wchs")
    m = re.search(r"(\d+) connections watching (\d+) paths\nTotal watches:(\d+)", wchs)
    assert m and int(m.group(1)) >= 1 and int(m.group(2)) >= 1 and int(m.group(3)) >= 1, wchs
    wchc = server.four("wchc")
    assert re.search(r"^%s\n(\t.*\n)*\t/fl-watched\n" % re.escape(sid), wchc, re.M), wchc
    wchp = server.four("wchp")
    assert re.search(r"^/fl-watched\n(\t0x[0-9a-f]+\n)*\t%s\n" % re.escape(sid), wchp, re.M), wchp


def test_dump(server, session):
    text = server.four("dump")
    sid = "0x%x" % session.session_id
    assert "/fl-eph" in text
    assert sid in text


def test_envi(server):
    text = server.four("envi")
    assert text.startswith("Environment:\n")
    assert re.search(r"^zookeeper\.version=", text, re.M)
    assert re.search(r"^host\.name=", text, re.M)
    assert re.search(r"^os\.name=", text, re.M)


def test_isro(server):
    assert server.four("isro") == "rw"


def test_unknown_word_closes(server):
    # not a 4lw and not a valid frame length for a handshake: connection closed, nothing sent
    assert server.four("xyzw") == ""
    assert server.four("ruok") == "imok"


def test_whitelist_refuses(server_factory):
    srv = server_factory(name="whitelist", cfg={"4lw.commands.whitelist": "srvr"})
    assert srv.four("ruok") == "ruok is not executed because it is not in the whitelist.\n"
    assert srv.four("mntr") == "mntr is not executed because it is not in the whitelist.\n"
    assert "Mode: standalone" in srv.four("srvr")
    # normal clients still work
    with zkproto.RawClient(srv.port) as c:
        c.create("/wl")
        assert c.exists("/wl") is not None
