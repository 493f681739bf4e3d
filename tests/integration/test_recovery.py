"""Recovery from damaged data directories on the real server (ukctl inspects them):

- a torn tail (the last record cut short or its bytes flipped) is truncated, logged with file and offset, and
  the node serves everything before it;
- damage before the tail stops the node with a message naming the file and offset;
- a corrupt newest snapshot is skipped for the next one (or the log alone).
"""

import os
import re
import subprocess
import threading
from pathlib import Path

import pytest

import zkproto
from conftest import IS_ZK, REPO, Server

pytestmark = pytest.mark.skipif(IS_ZK, reason="damages ukeeper's own files")
UKCTL = os.environ.get("UKCTL_BIN", str(REPO / "build" / "bin" / "ukctl"))


def records(segment):
    """(offset, zxid, length) of every record in a segment, from `ukctl wal dump`."""
    out = subprocess.run([UKCTL, "wal", "dump", str(segment)], capture_output=True, text=True, check=True).stdout
    return [(int(m.group(1)), int(m.group(2), 16), int(m.group(3)))
            for m in re.finditer(r"^\s+(\d+)\s+0x([0-9a-f]+)\s+(\d+)\s+\d+\s+ok$", out, re.M)]


def filled_server(name, nodes=50, cfg=None):
    s = Server(name=name, cfg=cfg).start()
    with s.raw() as c:
        for i in range(nodes):
            c.create("/r%03d" % i, b"value-%d" % i)
    s.stop()  # clean stop: everything above is on disk
    return s


def segments(server):
    return sorted((server.data_dir / "wal").glob("wal-*.seg"))


def flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x5A]))


@pytest.mark.parametrize("damage", ["cut", "flip"])
def test_torn_tail_is_truncated_and_logged(damage):
    s = filled_server("torn-" + damage)
    try:
        seg = segments(s)[-1]
        recs = records(seg)
        last_off, last_zxid, last_len = recs[-1]
        header_bytes = 24
        if damage == "cut":
            # zero the second half of the last record, as a write torn by a crash leaves it
            with open(seg, "r+b") as f:
                f.seek(last_off + header_bytes + last_len // 2)
                f.write(b"\0" * (last_len - last_len // 2))
        else:
            flip(seg, last_off + header_bytes + last_len - 1)
        assert subprocess.run([UKCTL, "wal", "verify", str(seg.parent)]).returncode == 1
        s.start()
        log = s.log_tail()
        assert seg.name in log and str(last_off) in log, log
        with s.raw() as c:
            # the last record was the session's closeSession or the last create; everything before it is there
            present = sum(1 for i in range(50) if c.exists("/r%03d" % i) is not None)
            assert present >= 49
            c.create("/after", b"ok")
        s.stop()
        assert subprocess.run([UKCTL, "wal", "verify", str(seg.parent)]).returncode == 0
    finally:
        s.stop()
        s.cleanup()


def test_damage_before_the_tail_stops_the_node():
    s = filled_server("midcorrupt")
    try:
        seg = segments(s)[-1]
        recs = records(seg)
        off, zxid, length = recs[len(recs) // 2]
        flip(seg, off + 24 + length // 2)
        assert subprocess.run([UKCTL, "wal", "verify", str(seg.parent)]).returncode == 2
        with pytest.raises(RuntimeError) as ei:
            s.start()
        msg = str(ei.value)
        assert "exited with 1" in msg and seg.name in msg and str(off) in msg, msg
    finally:
        s.stop()
        s.cleanup()


def test_corrupt_newest_snapshot_is_skipped():
    s = filled_server("snapskip", nodes=120, cfg={"snapCount": "40"})
    try:
        s.start()  # loads the newest snapshot; take one more so there are at least two
        with s.raw() as c:
            for i in range(120, 200):
                c.create("/r%03d" % i, b"value-%d" % i)
        s.stop()
        snaps = sorted((s.data_dir / "snap").glob("snapshot-*.snap"))
        assert len(snaps) >= 2, snaps
        newest = snaps[-1]
        flip(newest, os.path.getsize(newest) // 2)
        assert subprocess.run([UKCTL, "snapshot", "show", str(newest)], capture_output=True).returncode == 2
        s.start()
        assert "skipping snapshot" in s.log_tail() and newest.name in s.log_tail()
        with s.raw() as c:
            for i in range(200):
                assert c.exists("/r%03d" % i) is not None, i
    finally:
        s.stop()
        s.cleanup()


def _create_burst(port, prefix, clients=8, per_client=100):
    """Creates from several connections at once, each pipelining all of its requests: records keep arriving while
    a log write is in flight. Returns the paths."""
    errors, paths = [], []

    def one(i):
        try:
            with zkproto.RawClient(port) as c:
                mine = ["%s/c%d-%03d" % (prefix, i, n) for n in range(per_client)]
                xids = [c.send_request(zkproto.OP["create"], zkproto.W().ustring(p).buffer(b"x" * 200)
                                       .acls(zkproto.OPEN_ACL).int(0).bytes()) for p in mine]
                for x in xids:
                    rep = c.read_reply(x)
                    assert rep.err == 0, rep.err
                paths.extend(mine)
        except Exception as e:  # noqa: BLE001 (reported below, in the test's thread)
            errors.append(repr(e))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return paths


@pytest.mark.parametrize("in_flight", [1, 4])
def test_overlapping_log_writes_reach_the_log_and_survive_a_restart(in_flight):
    """walMaxBatchesInFlight reaches the log (mntr's peak never exceeds it), and a log written by a burst with
    batches in flight together (padding between them) verifies clean and replays every acknowledged create."""
    s = Server(name="overlap-%d" % in_flight, cfg={"walMaxBatchesInFlight": str(in_flight)}).start()
    try:
        with s.raw() as c:
            c.create("/ov")
        paths = _create_burst(s.port, "/ov")
        kv = zkproto.mntr(s.port)
        peak = int(kv["zk_wal_peak_batches_in_flight"])
        assert 1 <= peak <= in_flight, kv
        assert int(kv["zk_wal_record_bytes"]) > 0, kv
        s.stop()
        out = subprocess.run([UKCTL, "wal", "verify", str(s.data_dir / "wal")], capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
        pads = sum(int(m) for m in re.findall(r"\(\+(\d+) bytes of padding\)", out.stdout))
        # mntr counted the padding of every batch up to the burst's last create; the log may hold a little more
        # (a session expiring before the stop), never less.
        assert int(kv["zk_wal_padding_bytes"]) <= pads, (kv, out.stdout)
        if in_flight == 1:
            assert pads == 0, out.stdout  # one write at a time never pads
        s.start()
        with s.raw() as c:
            assert sorted(c.get_children("/ov")) == sorted(p.rsplit("/", 1)[1] for p in paths)
    finally:
        s.stop()
        s.cleanup()
