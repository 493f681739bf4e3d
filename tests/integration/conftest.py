"""Fixtures for the ukeeper integration tests.

The server under test is ukeeper ($UKEEPER_BIN, default <repo>/build/bin/ukeeper) unless
UK_TEST_SERVER=zookeeper, in which case Apache ZooKeeper 3.8 (Debian package) is started instead.
Every test module gets its own server on a free 127.0.0.1 port with its own data directory.
"""

import base64
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import zkproto  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SERVER_KIND = os.environ.get("UK_TEST_SERVER", "ukeeper").strip().lower()
IS_ZK = SERVER_KIND in ("zookeeper", "zk", "apache")
UKEEPER_BIN = os.environ.get("UKEEPER_BIN", str(REPO / "build" / "bin" / "ukeeper"))

TICK = 200
MIN_SESSION_TIMEOUT = 1000
MAX_SESSION_TIMEOUT = 30000
JUTE_MAXBUFFER = 1048575

SUPER_USER = "super"
SUPER_PASSWORD = "superpass"
SUPER_DIGEST = SUPER_USER + ":" + base64.b64encode(
    hashlib.sha1(("%s:%s" % (SUPER_USER, SUPER_PASSWORD)).encode()).digest()).decode()

ZK_CLASSPATH = ":".join([
    "/etc/zookeeper/conf",
    "/usr/share/java/zookeeper.jar",
    "/usr/share/java/zookeeper-jute.jar",
    "/usr/share/java/slf4j-simple.jar",  # the manifest only brings slf4j-api: without a binding ZK logs nothing
])

_ACTIVE = []  # servers currently running, for failure reports


def digest(user, password):
    return user + ":" + base64.b64encode(hashlib.sha1(("%s:%s" % (user, password)).encode()).digest()).decode()


def free_port():
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port != 2181:
            return port


class Server:
    """A ZooKeeper-protocol server process (ukeeper or Apache ZooKeeper)."""

    def __init__(self, name="server", cfg=None, default_session_limits=False, tick=TICK, env=None,
                 preexec_fn=None):
        self.name = name
        self.extra_env = env or {}
        self.preexec_fn = preexec_fn
        self.kind = "zookeeper" if IS_ZK else "ukeeper"
        self.is_zk = IS_ZK
        self.tick = tick
        self.dir = Path(tempfile.mkdtemp(prefix="uk-it-%s-" % name))
        self.data_dir = self.dir / "data"
        self.data_dir.mkdir()
        self.port = free_port()
        self.host = "127.0.0.1"
        self.hosts = "%s:%d" % (self.host, self.port)
        self.log_path = self.dir / "server.log"
        self.cfg_path = self.dir / "zoo.cfg"
        self.proc = None
        settings = {
            "tickTime": str(tick),
            "dataDir": str(self.data_dir),
            "clientPort": str(self.port),
            "clientPortAddress": "127.0.0.1",
            "maxClientCnxns": "0",
            "4lw.commands.whitelist": "*",
            "jute.maxbuffer": str(JUTE_MAXBUFFER),
            "extendedTypesEnabled": "true",
        }
        if not default_session_limits:
            settings["minSessionTimeout"] = str(MIN_SESSION_TIMEOUT)
            settings["maxSessionTimeout"] = str(MAX_SESSION_TIMEOUT)
        if self.is_zk:
            settings["admin.enableServer"] = "false"
            settings["initLimit"] = "10"
            settings["syncLimit"] = "5"
        else:
            settings["superDigest"] = SUPER_DIGEST
            # 4 MiB log segments (the default is 64 MiB, zero-filled when created): many servers start here
            settings["preAllocSize"] = "4096"
            # UK_IO_THREADS runs a whole module with that many client I/O threads (the tsan run uses 2)
            if os.environ.get("UK_IO_THREADS"):
                settings["ioThreads"] = os.environ["UK_IO_THREADS"]
        if cfg:
            settings.update(cfg)
        self.settings = settings
        self.cfg_path.write_text("".join("%s=%s\n" % kv for kv in settings.items()))

    @property
    def min_session_timeout(self):
        return int(self.settings.get("minSessionTimeout", 2 * self.tick))

    @property
    def max_session_timeout(self):
        return int(self.settings.get("maxSessionTimeout", 20 * self.tick))

    def command(self):
        if self.is_zk:
            return [
                "java", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-Dzookeeper.extendedTypesEnabled=true",
                "-Dzookeeper.DigestAuthenticationProvider.superDigest=" + SUPER_DIGEST,
                "-Djute.maxbuffer=%d" % JUTE_MAXBUFFER,
                "-Dznode.container.checkIntervalMs=100",
                "-Dzookeeper.admin.enableServer=false",
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
                "-Dorg.slf4j.simpleLogger.showDateTime=true",
                "-cp", ZK_CLASSPATH,
                "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(self.cfg_path),
            ]
        return [UKEEPER_BIN, str(self.cfg_path)]

    def start(self, timeout=60.0, handshake=True):
        if not self.is_zk and not os.access(UKEEPER_BIN, os.X_OK):
            pytest.fail("ukeeper binary not found at %s (set UKEEPER_BIN or UK_TEST_SERVER=zookeeper)" % UKEEPER_BIN)
        self._log = open(self.log_path, "ab")
        env = dict(os.environ)
        env.update(self.extra_env)
        self.proc = subprocess.Popen(self.command(), cwd=str(self.dir), stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True, env=env,
                                     preexec_fn=self.preexec_fn)
        _ACTIVE.append(self)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s during startup:\n%s"
                                   % (self.kind, self.proc.returncode, self.log_tail()))
            try:
                ans = zkproto.four_letter(self.port, "ruok", timeout=2.0)
                if (ans == "imok" or "not executed because" in ans) and not handshake:
                    return self
                if ans == "imok" or "not executed because" in ans:
                    # ZooKeeper answers ruok before it accepts sessions: also require a handshake
                    with zkproto.RawClient(self.port, timeout_ms=MIN_SESSION_TIMEOUT, sock_timeout=2.0) as c:
                        c.close_session()
                    return self
            except (OSError, zkproto.ConnectionClosed, ValueError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("%s did not answer ruok within %.0fs:\n%s" % (self.kind, timeout, self.log_tail()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()
        if self in _ACTIVE:
            _ACTIVE.remove(self)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, max_bytes=20000):
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return "(no log)"
        return data[-max_bytes:].decode("utf-8", "replace")

    def four(self, cmd):
        return zkproto.four_letter(self.port, cmd)

    def raw(self, **kw):
        return zkproto.RawClient(self.port, **kw)


def stop_kazoo(*clients):
    """Stops and closes kazoo clients, ignoring the ones already gone."""
    for c in clients:
        try:
            c.stop()
            c.close()
        except Exception:
            pass


def c_program(env_var, source_name, opt="-O2"):
    """A tests/compat C program against the ZooKeeper C client: the binary the build made (its path in `env_var`),
    or one compiled here from tests/compat/`source_name`; skips the test when neither is possible."""
    path = os.environ.get(env_var)
    if path:
        assert os.access(path, os.X_OK), "%s=%s is not executable" % (env_var, path)
        return path
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc or not os.path.exists("/usr/include/zookeeper/zookeeper.h"):
        pytest.skip("no %s and no C compiler / libzookeeper-mt-dev" % env_var)
    src = Path(__file__).resolve().parents[1] / "compat" / source_name
    out = os.path.join(tempfile.mkdtemp(prefix="uk-c-"), Path(source_name).stem)
    subprocess.run([cc, "-std=c11", "-D_GNU_SOURCE", opt, "-o", out, str(src), "-lzookeeper_mt", "-lpthread"],
                   check=True)
    return out


@pytest.fixture(scope="module")
def server_factory():
    """Starts extra servers (own config) for the current module; all stopped at module end."""
    started = []

    def make(name="extra", **kw):
        s = Server(name=name, **kw).start()
        started.append(s)
        return s

    yield make
    for s in started:
        s.stop()
    if not any_failed[0]:
        for s in started:
            s.cleanup()


any_failed = [False]


@pytest.fixture(scope="module")
def server(request):
    s = Server(name=request.module.__name__.split(".")[-1]).start()
    yield s
    alive = s.alive()
    s.stop()
    if not alive:
        # the server crashed while the module ran: make that loud
        sys.stderr.write("\n==== %s died during %s; log tail:\n%s\n" % (s.kind, request.module.__name__, s.log_tail()))
    if not any_failed[0]:
        s.cleanup()


@pytest.fixture
def zk_factory(server):
    """kazoo client factory; every client is stopped at test end."""
    from kazoo.client import KazooClient

    clients = []

    def make(srv=None, timeout=10.0, start=True, **kw):
        srv = srv or server
        c = KazooClient(hosts=srv.hosts, timeout=timeout, **kw)
        if start:
            c.start(timeout=15)
        clients.append(c)
        return c

    yield make
    stop_kazoo(*clients)


@pytest.fixture
def zk(zk_factory):
    return zk_factory()


@pytest.fixture
def raw(server):
    clients = []

    def make(**kw):
        c = zkproto.RawClient(server.port, **kw)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


_counter = [0]


@pytest.fixture
def base(zk, request):
    """A unique, freshly created persistent base path for the test."""
    _counter[0] += 1
    name = "/t%d_%s" % (_counter[0], request.node.name.replace("[", "_").replace("]", "").replace("-", "_")[:60])
    zk.create(name)
    return name


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        any_failed[0] = True
        for s in ([] if os.environ.get("UK_TEST_NO_LOGS") else list(_ACTIVE)):
            rep.sections.append(("%s log (%s, %s, port %d, alive=%s)" % (s.kind, s.name, s.dir, s.port, s.alive()),
                                 s.log_tail()))


def pytest_report_header(config):
    return "server under test: %s%s" % (SERVER_KIND, "" if IS_ZK else " (%s)" % UKEEPER_BIN)
