"""zkCli.sh (the Java CLI from zookeeper-bin) driven by a script on stdin and by one-shot commands."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ZKCLI = os.environ.get("UK_ZKCLI", "/usr/share/zookeeper/bin/zkCli.sh")
SCRIPT = Path(__file__).resolve().parents[1] / "compat" / "zkcli_script.txt"

pytestmark = pytest.mark.skipif(not (os.path.exists(ZKCLI) and shutil.which("java")),
                                reason="zkCli.sh or java not installed")


def run_cli(server, args=(), stdin=None, timeout=120):
    env = dict(os.environ)
    env.setdefault("CLIENT_JVMFLAGS", "-XX:TieredStopAtLevel=1 -Xshare:auto")
    r = subprocess.run([ZKCLI, "-server", server.hosts] + list(args), input=stdin, capture_output=True, text=True,
                       timeout=timeout, env=env)
    return r


def test_zkcli_script(server, zk):
    r = run_cli(server, stdin=SCRIPT.read_text())
    out, err = r.stdout, r.stderr
    msg = "stdout:\n%s\nstderr:\n%s" % (out, err)
    assert "WatchedEvent state:SyncConnected type:None path:null" in out, msg
    for p in ("/cli", "/cli/eph", "/cli/seq-0000000001", "/cli/del", "/cli/tree", "/cli/tree/a"):
        assert re.search(r"^Created %s$" % re.escape(p), err, re.M), (p, msg)
    # ls before and after deleteall
    assert out.count("[eph, seq-0000000001]") == 1, msg
    assert "[eph, locked, seq-0000000001]" in out, msg
    assert re.search(r"^hello$", out, re.M) and re.search(r"^world$", out, re.M), msg
    # get -s and stat print the same Stat block
    stats = re.findall(r"cZxid = (0x[0-9a-f]+)\nctime = .*\nmZxid = (0x[0-9a-f]+)\nmtime = .*\npZxid = (0x[0-9a-f]+)\n"
                       r"cversion = (\d+)\ndataVersion = (\d+)\naclVersion = (\d+)\nephemeralOwner = (0x[0-9a-f]+)\n"
                       r"dataLength = (\d+)\nnumChildren = (\d+)", out)
    assert len(stats) == 2 and stats[0] == stats[1], msg
    czxid, mzxid, pzxid, cversion, version, aversion, owner, dlen, nkids = stats[0]
    assert (cversion, version, aversion, owner, dlen, nkids) == ("2", "1", "0", "0x0", "5", "2"), stats[0]
    assert int(mzxid, 16) > int(pzxid, 16) > int(czxid, 16)
    # whoami after addauth
    assert re.search(r"^Auth scheme: User$", out, re.M), msg
    assert re.search(r"^digest: cliuser$", out, re.M), msg
    assert re.search(r"^ip: 127\.0\.0\.1$", out, re.M), msg
    # getAcl of the node protected with the auth scheme
    assert re.search(r"^'digest,'cliuser:[A-Za-z0-9+/=]{28}\n: cdrwa$", out, re.M), msg
    # world:anyone:r node
    assert re.search(r"^'world,'anyone\n: r$", out, re.M), msg
    assert "Insufficient permission : /cli/locked" in err or "NoAuth" in err, msg
    # setAcl on a missing node and get of a missing node
    assert "Node does not exist: /cli/locked" in err, msg
    assert "Node does not exist: /cli/nonexistent" in err, msg
    # effects visible to another client
    assert zk.get("/cli")[0] == b"world"
    assert zk.exists("/cli/eph") is None  # the CLI session is closed on quit
    assert zk.exists("/cli/tree") is None and zk.exists("/cli/del") is None
    assert zk.get("/cli/locked")[0] == b"lockdata"
    assert sorted(zk.get_children("/cli")) == ["locked", "seq-0000000001"]


def test_zkcli_one_shot_commands(server, zk):
    zk.create("/cli1", b"one-shot-data")
    r = run_cli(server, ["get", "/cli1"])
    assert r.returncode == 0, r.stderr
    assert "one-shot-data" in r.stdout
    r = run_cli(server, ["ls", "/"])
    assert r.returncode == 0
    m = re.search(r"^\[(.*)\]$", r.stdout, re.M)
    assert m and "cli1" in m.group(1).split(", ") and "zookeeper" in m.group(1).split(", "), r.stdout
    r = run_cli(server, ["create", "/cli1/x", "xd"])
    assert "Created /cli1/x" in r.stdout + r.stderr
    assert zk.get("/cli1/x")[0] == b"xd"
    r = run_cli(server, ["delete", "/cli1"])
    assert "Node not empty: /cli1" in r.stdout + r.stderr
    r = run_cli(server, ["deleteall", "/cli1"])
    assert zk.exists("/cli1") is None
