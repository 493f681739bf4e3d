"""Storage failures on a live server: a failed fdatasync (fault hook) and a full disk (a file-size limit).

Either way the node must stop acknowledging writes, say why, and exit non-zero; after a restart without the
fault every write it had acknowledged is there.
"""

import resource

import pytest

import zkproto
from conftest import IS_ZK, Server

pytestmark = pytest.mark.skipif(IS_ZK, reason="uses ukeeper's fault hooks")


def write_until_refused(server, limit=100000):
    """Creates nodes until the server stops answering; returns the acknowledged paths."""
    acked = []
    try:
        with zkproto.RawClient(server.port, sock_timeout=10.0) as c:
            for i in range(limit):
                path = "/f%06d" % i
                c.create(path, b"v" * 200)
                acked.append(path)
    except (OSError, zkproto.ConnectionClosed):
        pass
    return acked


def restart_clean_and_check(server, acked):
    server.proc.wait(timeout=20)
    assert server.proc.returncode == 3, server.log_tail()
    server._log.close()
    server.extra_env = {}
    server.preexec_fn = None
    server.start()
    with zkproto.RawClient(server.port) as c:
        for path in acked:
            assert c.exists(path) is not None, "acknowledged write lost: " + path
        # and the node takes writes again
        c.create("/after-restart", b"ok")


def test_failed_fdatasync_stops_the_node_without_losing_acknowledged_writes():
    server = Server(name="fsyncfail", env={"UKEEPER_FAULT_FAIL_SYNC_AT": "40"}).start()
    try:
        acked = write_until_refused(server)
        assert 0 < len(acked) < 100000
        log = server.log_tail()
        assert "fdatasync" in log and "Input/output error" in log, log
        restart_clean_and_check(server, acked)
    finally:
        server.stop()
        server.cleanup()


def test_file_size_limit_stops_the_node_before_it_acknowledges_anything():
    # Segments are preallocated, so a disk that cannot hold more shows up when a segment is created. A file-size
    # limit below the segment size makes that fail (EFBIG, like ENOSPC) on the very first write.
    segment_kb = 1024

    def small_files():
        limit = (segment_kb // 2) * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    server = Server(name="diskfull", cfg={"preAllocSize": str(segment_kb)}, preexec_fn=small_files).start(handshake=False)
    try:
        acked = write_until_refused(server, limit=1000)
        assert acked == []
        log = server.log_tail()
        assert "storage failed" in log and "File too large" in log, log
        restart_clean_and_check(server, acked)
    finally:
        server.stop()
        server.cleanup()
