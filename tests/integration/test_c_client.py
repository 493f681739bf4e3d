"""Runs the official ZooKeeper C client (libzookeeper_mt) test program against the server.

The binary comes from UK_C_CLIENT_BIN (set by ctest); without it, the test compiles
tests/compat/zk_c_client_test.c itself with cc if libzookeeper-mt-dev is installed.
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "compat" / "zk_c_client_test.c"


@pytest.fixture(scope="module")
def c_client_bin():
    path = os.environ.get("UK_C_CLIENT_BIN")
    if path:
        assert os.access(path, os.X_OK), "UK_C_CLIENT_BIN=%s is not executable" % path
        return path
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc or not os.path.exists("/usr/include/zookeeper/zookeeper.h"):
        pytest.skip("no UK_C_CLIENT_BIN and no C compiler / libzookeeper-mt-dev")
    out = os.path.join(tempfile.mkdtemp(prefix="uk-cclient-"), "zk_c_client_test")
    subprocess.run([cc, "-std=c11", "-D_GNU_SOURCE", "-O1", "-o", out, str(SRC), "-lzookeeper_mt", "-lpthread"],
                   check=True)
    return out


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
