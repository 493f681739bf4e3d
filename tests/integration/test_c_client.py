"""Runs the official ZooKeeper C client (libzookeeper_mt) test program against the server.

The binary comes from UK_C_CLIENT_BIN (set by ctest); without it, the test compiles
tests/compat/zk_c_client_test.c itself with cc if libzookeeper-mt-dev is installed.
"""

import subprocess

import pytest

from conftest import c_program


@pytest.fixture(scope="module")
def c_client_bin():
    return c_program("UK_C_CLIENT_BIN", "zk_c_client_test.c", opt="-O1")


def test_c_client(server, c_client_bin):
    r = subprocess.run([c_client_bin, server.hosts], capture_output=True, text=True, timeout=120)
    report = "exit %d\nstdout:\n%s\nstderr:\n%s" % (r.returncode, r.stdout, r.stderr[-20000:])
    assert r.returncode == 0, report
    assert " 0 failures" in r.stdout, report


def test_c_client_twice_in_parallel(server, c_client_bin):
    procs = [subprocess.Popen([c_client_bin, server.hosts], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, "stdout:\n%s\nstderr:\n%s" % (out, err[-20000:])
