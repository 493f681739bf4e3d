"""Checkers for concurrent ZooKeeper histories on a few znodes (used by test_linearizability.py).

Each znode is a register with a version: create / setData / delete / compare-and-set (setData or delete with an
expected version) and reads that return (value, version) or NoNode. Two checkers:

* check_register(): linearizability of the history of one znode, by the Wing & Gong search with Lowe's
  memoization (WGL: the cache of (set of linearized operations, model state) pairs already explored). Znodes are
  independent registers, so a history is linearizable iff the sub-history of every znode is (linearizability is
  compositional), and every znode is checked on its own. Only writes and linearizable reads (sync + getData) go
  in; plain getData is only sequentially consistent in ZooKeeper and is left to check_sessions(). An operation
  with no answer (timeout, connection loss) is indeterminate: its return is at infinity and any outcome is
  accepted, so the search may linearize it anywhere after its invocation or at the very end (= never took effect).

* check_sessions(): the guarantees ZooKeeper gives every read, plain ones included, checked with the zxids the
  server reports (reply header zxid, stat.mzxid): per session the reply zxids never go backwards, a read never
  shows a state older than one the session has already seen or written (on any znode: a state overwritten by a
  write at or below the zxid the session had observed before it issued the read), every state a read shows was
  written by some write (value and version match the write with that mzxid), and across sessions the zxid order
  of the writes respects real time (a write acknowledged before another one was issued has a lower zxid).

Times are integers (time.monotonic_ns()); operations whose intervals touch are treated as concurrent.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

INF = 1 << 62

WRITES = ("set", "create", "delete")


@dataclass(eq=False)
class Op:
    key: str
    kind: str                 # set | create | delete | read (sync + getData: linearizable) | plain (getData)
    invoke: int
    complete: int | None      # None: indeterminate (no answer); may or may not have taken effect
    value: bytes | None = None  # set / create: the value written (unique in a history)
    version: int = -1         # set / delete: the expected version (-1: any)
    # result (None: indeterminate): set ("ok", new version) | ("badversion",) | ("nonode",); create ("ok",) |
    # ("exists",); delete ("ok",) | ("badversion",) | ("nonode",); reads ("data", value, version) | ("nonode",)
    result: tuple | None = None
    session: int = 0
    seq: int = 0              # issue order within the session
    zxid: int | None = None   # reply header zxid (for a sync read: the getData's)
    mzxid: int | None = None  # stat.mzxid of a read of an existing node or of a successful set / create
    replies: list = field(default_factory=list)  # header zxids of all the op's replies, in arrival order
    worker: int = -1

    def __repr__(self):
        if self.kind in WRITES:
            what = "%s(%r%s)" % (self.kind, self.value, "" if self.version == -1 else ", v=%d" % self.version)
        else:
            what = self.kind
        end = "?" if self.complete is None else "%.6f" % (self.complete / 1e9)
        return "<%s %s -> %s [%.6f, %s] session 0x%x #%d zxid=%s mzxid=%s>" % (
            self.key, what, "INDETERMINATE" if self.result is None else self.result, self.invoke / 1e9, end,
            self.session, self.seq, _hex(self.zxid), _hex(self.mzxid))


def _hex(z):
    return "-" if z is None else "0x%x" % z


def step(state, op):
    """The register model. state: None (no znode) or (value, version). Returns (result, new state)."""
    k = op.kind
    if k == "read" or k == "plain":
        return (("nonode",) if state is None else ("data", state[0], state[1])), state
    if k == "set":
        if state is None:
            return ("nonode",), None
        if op.version != -1 and op.version != state[1]:
            return ("badversion",), state
        return ("ok", state[1] + 1), (op.value, state[1] + 1)
    if k == "create":
        if state is not None:
            return ("exists",), state
        return ("ok",), (op.value, 0)
    if k == "delete":
        if state is None:
            return ("nonode",), None
        if op.version != -1 and op.version != state[1]:
            return ("badversion",), state
        return ("ok",), None
    raise ValueError(k)


class Verdict:
    def __init__(self, ok, message="", steps=0, ops=0, inconclusive=False):
        self.ok, self.message, self.steps, self.ops, self.inconclusive = ok, message, steps, ops, inconclusive

    def __bool__(self):
        return self.ok

    def __repr__(self):
        return "<Verdict %s ops=%d steps=%d%s>" % ("ok" if self.ok else "INCONCLUSIVE" if self.inconclusive
                                                  else "VIOLATION", self.ops, self.steps,
                                                  "" if self.ok else ": " + self.message)


def check_register(ops, init, max_steps=400000):
    """WGL linearizability check of the history of one register. ops: Op list of one key (plain reads and
    indeterminate reads are ignored). init: the state before the first op. Returns a Verdict; inconclusive (and
    not ok) if the search needed more than max_steps steps."""
    ops = [o for o in ops if o.kind in WRITES or (o.kind == "read" and o.complete is not None)]
    n = len(ops)
    if n == 0:
        return Verdict(True)
    events = []
    for i, o in enumerate(ops):
        events.append((o.invoke, 0, i))  # at equal times calls sort first: touching intervals are concurrent
        events.append((INF if o.complete is None else o.complete, 1, i))
    events.sort()
    # doubly linked list of the events; node 0 is the head, -1 ends the list
    size = len(events) + 1
    nxt, prv = [-1] * size, [0] * size
    op_of, is_call, match = [0] * size, [False] * size, [0] * size
    call_node = {}
    for j, (_, ret, i) in enumerate(events, start=1):
        op_of[j] = i
        is_call[j] = not ret
        if ret:
            match[call_node[i]] = j
        else:
            call_node[i] = j
        prv[j] = j - 1
        nxt[j - 1] = j

    def lift(j):
        a, b = prv[j], nxt[j]
        nxt[a] = b
        if b != -1:
            prv[b] = a
        r = match[j]
        a, b = prv[r], nxt[r]
        nxt[a] = b
        if b != -1:
            prv[b] = a

    def unlift(j):
        r = match[j]
        nxt[prv[r]] = r
        if nxt[r] != -1:
            prv[nxt[r]] = r
        nxt[prv[j]] = j
        if nxt[j] != -1:
            prv[nxt[j]] = j

    state, lin, stack, cache, steps = init, 0, [], set(), 0
    best = (-1, None, None, None)  # deepest dead end: (depth, stuck op, state, linearized prefix)
    entry = nxt[0]
    while nxt[0] != -1:
        steps += 1
        if steps > max_steps:
            return Verdict(False, "search budget of %d steps exhausted after %d of %d ops (deepest)"
                           % (max_steps, best[0], n), steps, n, inconclusive=True)
        if is_call[entry]:
            o = ops[op_of[entry]]
            res, new_state = step(state, o)
            if o.result is None or res == o.result:
                new_lin = lin | (1 << op_of[entry])
                memo = (new_lin, new_state)
                if memo not in cache:
                    cache.add(memo)
                    stack.append((entry, state))
                    state, lin = new_state, new_lin
                    lift(entry)
                    entry = nxt[0]
                    continue
            entry = nxt[entry]
        else:
            # the return of an op that is not linearized yet: this prefix is a dead end
            if len(stack) > best[0]:
                best = (len(stack), ops[op_of[entry]], state, [ops[op_of[e]] for e, _ in stack])
            if not stack:
                return Verdict(False, _explain(ops, best), steps, n)
            entry, state = stack.pop()
            lin &= ~(1 << op_of[entry])
            unlift(entry)
            entry = nxt[entry]
    return Verdict(True, "", steps, n)


def _explain(ops, best):
    depth, stuck, state, prefix = best
    lines = ["not linearizable: at best %d of %d ops linearize (state then %r); the op that cannot: %r"
             % (depth, len(ops), state, stuck)]
    lines.append("last linearized: %s" % ", ".join(repr(o) for o in prefix[-6:]))
    t0, t1 = stuck.invoke, stuck.complete if stuck.complete is not None else stuck.invoke
    near = [o for o in sorted(ops, key=lambda o: o.invoke)
            if o.invoke <= t1 and (o.complete is None or o.complete >= t0 - 2_000_000)]
    lines.append("ops overlapping it (or ending up to 2 ms before it):")
    lines += ["  %r" % o for o in near[:40]]
    return "\n".join(lines)


def check_all(ops, inits, max_steps=400000):
    """check_register() for every key: returns {key: Verdict}. inits: {key: initial state}."""
    by_key = {}
    for o in ops:
        by_key.setdefault(o.key, []).append(o)
    return {k: check_register(by_key.get(k, []), inits[k], max_steps) for k in inits}


# ---------------------------------------------------------------- session guarantees (zxid based)

def check_sessions(ops, inits_z):
    """ZooKeeper's guarantees for all reads (plain ones included) and the zxid order of writes.
    ops: every Op of the run (all keys, all sessions). inits_z: {key: (zxid of the znode's creation, initial
    state)}. Returns a list of violation messages (empty: fine)."""
    bad = []
    exact = {k: {z: s} for k, (z, s) in inits_z.items()}  # key -> {zxid: state written at that zxid}
    indeterminate_values = {}                             # value -> op, for writes with no answer
    deletes = {k: [] for k in inits_z}                    # key -> upper bounds (header zxid; INF) of deletes
    for o in ops:
        if o.kind in ("set", "create"):
            if o.result is None:
                indeterminate_values[o.value] = o
            elif o.result[0] == "ok":
                st = (o.value, o.result[1] if o.kind == "set" else 0)
                prev = exact[o.key].get(o.mzxid)
                if o.mzxid is None or (prev is not None and prev != st):
                    bad.append("write with a missing or reused mzxid: %r" % o)
                exact[o.key][o.mzxid] = st
                if o.zxid is not None and o.mzxid > o.zxid:
                    bad.append("write reply zxid below the write's own mzxid: %r" % o)
        elif o.kind == "delete" and (o.result is None or o.result[0] == "ok"):
            deletes[o.key].append(INF if o.result is None else o.zxid)
    zs = {k: sorted(v) for k, v in exact.items()}

    def overwritten(key, m, z_lo):
        """The first exactly known write on key after zxid m and at or below z_lo, or None."""
        lst = zs[key]
        i = bisect.bisect_right(lst, m)
        return lst[i] if i < len(lst) and lst[i] <= z_lo else None

    def deleted_after(key, m):
        return any(h > m for h in deletes[key])

    learned = {}
    sessions = {}
    for o in ops:
        sessions.setdefault(o.session, []).append(o)
    for sid, sops in sessions.items():
        sops.sort(key=lambda o: o.seq)
        last_reply = 0
        seen = {}      # key -> highest mzxid the session has observed (read or written)
        own = 0        # highest zxid of the session's own successful writes issued so far
        answered = []  # (complete, header zxid) of the session's answered ops, in issue (= answer) order
        ai = z_answered = 0
        for o in sops:
            for z in o.replies:
                if z < last_reply:
                    bad.append("session 0x%x: reply zxid went backwards (0x%x after 0x%x) at %r"
                               % (sid, z, last_reply, o))
                last_reply = max(last_reply, z)
            if o.complete is None:
                continue
            # what the session had observed when it issued o: replies received before, and its own writes
            # issued before (FIFO: the server runs a session's requests in order, pipelined or not)
            while ai < len(answered) and answered[ai][0] < o.invoke:
                z_answered = max(z_answered, answered[ai][1])
                ai += 1
            z_lo = max(z_answered, own)
            if o.kind in ("read", "plain"):
                z_r = o.zxid
                if o.result[0] == "data":
                    _, val, ver = o.result
                    m = o.mzxid
                    if m > z_r:
                        bad.append("read shows a write (mzxid 0x%x) above its own reply zxid: %r" % (m, o))
                    st = exact[o.key].get(m)
                    if st is not None:
                        if st != (val, ver):
                            bad.append("read shows %r at mzxid 0x%x, the write at that zxid wrote %r: %r"
                                       % ((val, ver), m, st, o))
                    elif val in indeterminate_values and indeterminate_values[val].key == o.key:
                        if learned.setdefault((o.key, m), (val, ver)) != (val, ver):
                            bad.append("reads disagree on the state at mzxid 0x%x: %r vs %r"
                                       % (m, learned[(o.key, m)], o))
                    else:
                        bad.append("read shows a state no write produced: %r" % o)
                    w = overwritten(o.key, m, z_lo)
                    if w is not None:
                        bad.append("session 0x%x read a stale state: mzxid 0x%x was overwritten at 0x%x, and the "
                                   "session had already seen zxid 0x%x: %r" % (sid, m, w, z_lo, o))
                    if m < seen.get(o.key, 0):
                        bad.append("session 0x%x read went backwards on %s: mzxid 0x%x after 0x%x: %r"
                                   % (sid, o.key, m, seen[o.key], o))
                    seen[o.key] = max(seen.get(o.key, 0), m)
                else:
                    lst = zs[o.key]
                    i = bisect.bisect_right(lst, z_lo)
                    w = lst[i - 1] if i else None  # the last exact write at or below what the session had seen
                    floor = max(w or 0, seen.get(o.key, 0))
                    if (w is not None or o.key in seen) and not deleted_after(o.key, floor):
                        bad.append("session 0x%x read NoNode, but the znode existed at zxid 0x%x and no delete "
                                   "came after it: %r" % (sid, floor, o))
            elif o.kind in ("set", "create") and o.result[0] == "ok":
                if o.mzxid <= seen.get(o.key, 0):
                    bad.append("session 0x%x write got mzxid 0x%x, not above 0x%x it had already seen on %s: %r"
                               % (sid, o.mzxid, seen[o.key], o.key, o))
                seen[o.key] = max(seen.get(o.key, 0), o.mzxid)
                own = max(own, o.mzxid)
            if o.zxid is not None:
                answered.append((o.complete, o.zxid))

    # real time vs zxid order of the exactly known writes (all keys: ZooKeeper's writes are linearizable)
    writes = [o for o in ops if o.kind in ("set", "create") and o.result is not None and o.result[0] == "ok"]
    by_complete = sorted(writes, key=lambda o: o.complete)
    j, top = 0, None
    for o in sorted(writes, key=lambda o: o.invoke):
        while j < len(by_complete) and by_complete[j].complete < o.invoke:
            if top is None or by_complete[j].mzxid > top.mzxid:
                top = by_complete[j]
            j += 1
        if top is not None and top.mzxid >= o.mzxid:
            bad.append("write order contradicts real time: %r was acknowledged before %r was issued, but has "
                       "the higher zxid" % (top, o))
    # a linearizable read's reply zxid covers every write acknowledged before it was issued
    reads = sorted((o for o in ops if o.kind == "read" and o.complete is not None), key=lambda o: o.invoke)
    j, top = 0, None
    for o in reads:
        while j < len(by_complete) and by_complete[j].complete < o.invoke:
            if top is None or by_complete[j].mzxid > top.mzxid:
                top = by_complete[j]
            j += 1
        if top is not None and o.zxid < top.mzxid:
            bad.append("sync + read answered at zxid 0x%x, below the write 0x%x acknowledged before it was "
                       "issued: %r, %r" % (o.zxid, top.mzxid, o, top))
    return bad
