"""kazoo recipes exercised for real with several clients and threads."""

import queue
import threading
import time

import pytest
from kazoo.exceptions import LockTimeout
from kazoo.recipe.cache import TreeCache, TreeEvent

from zkproto import wait_until

N_CLIENTS = 4


def run_threads(fns, timeout=30):
    errors = []
    results = [None] * len(fns)

    def wrap(i, fn):
        try:
            results[i] = fn()
        except BaseException as e:  # noqa: B902
            errors.append(e)

    threads = [threading.Thread(target=wrap, args=(i, fn), daemon=True) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "thread hung"
    if errors:
        raise errors[0]
    return results


def test_lock_mutual_exclusion(zk_factory, base):
    clients = [zk_factory() for _ in range(N_CLIENTS)]
    path = base + "/lock"
    inside = []
    max_inside = [0]
    order = []
    guard = threading.Lock()

    def worker(i, c):
        def run():
            lock = c.Lock(path, "worker-%d" % i)
            for _ in range(3):
                with lock:
                    with guard:
                        inside.append(i)
                        max_inside[0] = max(max_inside[0], len(inside))
                        order.append(i)
                    time.sleep(0.02)
                    with guard:
                        inside.remove(i)
            return True
        return run

    run_threads([worker(i, c) for i, c in enumerate(clients)])
    assert max_inside[0] == 1
    assert sorted(order) == sorted(list(range(N_CLIENTS)) * 3)
    # all lock nodes are gone
    assert clients[0].get_children(path) == []


def test_lock_contenders_and_timeout(zk_factory, base):
    a, b = zk_factory(), zk_factory()
    la = a.Lock(base + "/l", "alpha")
    lb = b.Lock(base + "/l", "beta")
    assert la.acquire(timeout=5)
    with pytest.raises(LockTimeout):
        lb.acquire(timeout=0.5)
    assert la.contenders() == ["alpha"]
    got = threading.Event()

    def take():
        lb.acquire()
        got.set()

    t = threading.Thread(target=take, daemon=True)
    t.start()
    wait_until(lambda: lb.contenders() == ["alpha", "beta"], timeout=5, msg="two contenders")
    assert not got.is_set()
    la.release()
    assert got.wait(5)
    lb.release()
    t.join(5)


def test_lock_released_when_holder_session_closes(zk_factory, base):
    a, b = zk_factory(), zk_factory()
    la = a.Lock(base + "/l")
    assert la.acquire(timeout=5)
    lb = b.Lock(base + "/l")
    with pytest.raises(LockTimeout):
        lb.acquire(timeout=0.3)
    a.stop()
    assert lb.acquire(timeout=5)
    lb.release()


def test_read_write_lock(zk_factory, base):
    a, b, c = zk_factory(), zk_factory(), zk_factory()
    r1 = a.ReadLock(base + "/rw")
    r2 = b.ReadLock(base + "/rw")
    w = c.WriteLock(base + "/rw")
    assert r1.acquire(timeout=5)
    assert r2.acquire(timeout=5)  # readers share
    with pytest.raises(LockTimeout):
        w.acquire(timeout=0.5)
    r1.release()
    r2.release()
    assert w.acquire(timeout=5)
    with pytest.raises(LockTimeout):
        a.ReadLock(base + "/rw").acquire(timeout=0.5)
    w.release()


def test_election(zk_factory, base):
    clients = [zk_factory() for _ in range(3)]
    path = base + "/election"
    leaders = queue.Queue()
    stop = [threading.Event() for _ in clients]
    elections = [c.Election(path, "cand-%d" % i) for i, c in enumerate(clients)]

    def lead(i):
        leaders.put(i)
        stop[i].wait(20)

    threads = []
    for i, e in enumerate(elections):
        t = threading.Thread(target=e.run, args=(lead, i), daemon=True)
        t.start()
        threads.append(t)
        if i == 0:
            first = leaders.get(timeout=10)
            assert first == 0
    wait_until(lambda: len(elections[0].contenders()) == 3, timeout=10, msg="3 contenders")
    assert elections[1].contenders()[0] == "cand-0"
    seen = [0]
    for _ in range(2):
        stop[seen[-1]].set()
        nxt = leaders.get(timeout=10)
        assert nxt not in seen
        seen.append(nxt)
    assert sorted(seen) == [0, 1, 2]
    stop[seen[-1]].set()
    for t in threads:
        t.join(10)
    assert leaders.empty()


def test_barrier(zk_factory, base):
    a, b, c = zk_factory(), zk_factory(), zk_factory()
    path = base + "/barrier"
    ba = a.Barrier(path)
    assert ba.wait(0.1) is True  # no barrier: passes
    ba.create()
    assert b.Barrier(path).wait(0.3) is False
    passed = []
    ts = [threading.Thread(target=lambda cl=cl: passed.append(cl.Barrier(path).wait(10)), daemon=True)
          for cl in (b, c)]
    for t in ts:
        t.start()
    time.sleep(0.3)
    assert passed == []
    ba.remove()
    for t in ts:
        t.join(10)
    assert passed == [True, True]


def test_double_barrier(zk_factory, base):
    n = 3
    clients = [zk_factory() for _ in range(n)]
    path = base + "/dbarrier"
    entered = []
    left = []
    guard = threading.Lock()

    def member(i, c):
        def run():
            db = c.DoubleBarrier(path, n, identifier="m%d" % i)
            time.sleep(0.05 * i)
            db.enter()
            with guard:
                entered.append((i, time.time()))
            time.sleep(0.05 * (n - i))
            db.leave()
            with guard:
                left.append((i, time.time()))
        return run

    run_threads([member(i, c) for i, c in enumerate(clients)])
    assert len(entered) == n and len(left) == n
    # nobody entered before everyone arrived and nobody left before everyone was ready to leave
    assert max(t for _, t in entered) <= min(t for _, t in left)


def test_counter_concurrent(zk_factory, base):
    clients = [zk_factory() for _ in range(N_CLIENTS)]
    path = base + "/counter"

    def worker(c):
        def run():
            counter = c.Counter(path)
            for _ in range(10):
                counter += 1
        return run

    run_threads([worker(c) for c in clients])
    assert clients[0].Counter(path).value == 10 * N_CLIENTS
    fc = clients[1].Counter(base + "/fcounter", default=0.0)
    fc += 2.5
    fc -= 1.0
    assert fc.value == 1.5


def test_queue(zk_factory, base):
    a, b = zk_factory(), zk_factory()
    qa = a.Queue(base + "/q")
    qb = b.Queue(base + "/q")
    for i in range(5):
        qa.put(b"item-%d" % i)
    qa.put(b"urgent", priority=1)
    assert len(qb) == 6
    assert qb.get() == b"urgent"
    got = [qb.get() for _ in range(5)]
    assert got == [b"item-%d" % i for i in range(5)]
    assert qb.get() is None
    # concurrent consumers get each item exactly once
    for i in range(20):
        qa.put(b"%02d" % i)
    consumed = []
    guard = threading.Lock()

    def consumer(c):
        def run():
            q = c.Queue(base + "/q")
            while True:
                v = q.get()
                if v is None:
                    return
                with guard:
                    consumed.append(v)
        return run

    run_threads([consumer(c) for c in (a, b, zk_factory())])
    assert sorted(consumed) == [b"%02d" % i for i in range(20)]


def test_locking_queue(zk_factory, base):
    a, b = zk_factory(), zk_factory()
    qa = a.LockingQueue(base + "/lq")
    qb = b.LockingQueue(base + "/lq")
    qa.put(b"one")
    qa.put_all([b"two", b"three"])
    assert len(qb) == 3
    assert qb.get(timeout=5) == b"one"
    assert qb.holds_lock()
    # another consumer cannot take the locked item, gets the next one
    assert qa.get(timeout=5) == b"two"
    assert qb.consume() is True
    assert qa.release() is True  # put "two" back
    assert len(qb) == 2
    assert qb.get(timeout=5) == b"two"
    assert qb.consume()
    assert qa.get(timeout=5) == b"three"
    assert qa.consume()
    assert len(qa) == 0
    assert qb.get(timeout=0.3) is None
    # a blocked consumer wakes up on put
    res = []
    t = threading.Thread(target=lambda: res.append(qb.get(timeout=10)), daemon=True)
    t.start()
    time.sleep(0.3)
    qa.put(b"late")
    t.join(10)
    assert res == [b"late"]
    assert qb.consume()


def test_party_and_shallow_party(zk_factory, base):
    clients = [zk_factory() for _ in range(3)]
    for cls_name in ("Party", "ShallowParty"):
        path = base + "/" + cls_name
        parties = [getattr(c, cls_name)(path, "member-%d" % i) for i, c in enumerate(clients)]
        for p in parties:
            p.join()
        assert sorted(parties[0]) == ["member-0", "member-1", "member-2"]
        assert len(parties[1]) == 3
        parties[1].leave()
        assert sorted(parties[2]) == ["member-0", "member-2"]
        clients[2].stop()
        wait_until(lambda: sorted(parties[0]) == ["member-0"], timeout=5, msg="ephemeral member gone")
        parties[0].leave()
        assert len(parties[0]) == 0
        clients[2].start(timeout=15)


def test_semaphore(zk_factory, base):
    clients = [zk_factory() for _ in range(4)]
    path = base + "/sem"
    inside = []
    max_inside = [0]
    guard = threading.Lock()

    def worker(i, c):
        def run():
            sem = c.Semaphore(path, identifier="w%d" % i, max_leases=2)
            for _ in range(2):
                with sem:
                    with guard:
                        inside.append(i)
                        max_inside[0] = max(max_inside[0], len(inside))
                    time.sleep(0.05)
                    with guard:
                        inside.remove(i)
        return run

    run_threads([worker(i, c) for i, c in enumerate(clients)])
    assert max_inside[0] == 2
    s1 = clients[0].Semaphore(path, "x", max_leases=2)
    s2 = clients[1].Semaphore(path, "y", max_leases=2)
    s3 = clients[2].Semaphore(path, "z", max_leases=2)
    assert s1.acquire(timeout=5) and s2.acquire(timeout=5)
    assert sorted(s3.lease_holders()) == ["x", "y"]
    with pytest.raises(LockTimeout):
        s3.acquire(timeout=0.5)
    s1.release()
    assert s3.acquire(timeout=5)
    s2.release()
    s3.release()
    # mismatched max_leases is refused by the recipe
    with pytest.raises(ValueError):
        clients[3].Semaphore(path, "bad", max_leases=3).acquire(timeout=1)


def test_tree_cache(zk_factory, base):
    a, b = zk_factory(), zk_factory()
    b.create(base + "/tc/x", b"x0", makepath=True)
    events = queue.Queue()
    cache = TreeCache(a, base + "/tc")
    cache.listen(lambda ev: events.put(ev))
    cache.start()
    wait_for = lambda kind: _wait_event(events, kind)  # noqa: E731
    wait_for(TreeEvent.INITIALIZED)
    assert cache.get_data(base + "/tc/x").data == b"x0"
    assert sorted(cache.get_children(base + "/tc")) == ["x"]
    b.create(base + "/tc/y/z", b"z0", makepath=True)
    wait_until(lambda: cache.get_data(base + "/tc/y/z") is not None, timeout=5, msg="cache sees z")
    assert cache.get_data(base + "/tc/y/z").data == b"z0"
    b.set(base + "/tc/x", b"x1")
    wait_until(lambda: cache.get_data(base + "/tc/x").data == b"x1", timeout=5, msg="cache sees x1")
    assert cache.get_data(base + "/tc/x").stat.version == 1
    b.delete(base + "/tc/y", recursive=True)
    wait_until(lambda: cache.get_data(base + "/tc/y") is None, timeout=5, msg="cache drops y")
    assert sorted(cache.get_children(base + "/tc")) == ["x"]
    cache.close()


def _wait_event(q, kind, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            ev = q.get(timeout=0.2)
        except queue.Empty:
            continue
        if ev.event_type == kind:
            return ev
    raise AssertionError("no TreeEvent %s" % kind)
