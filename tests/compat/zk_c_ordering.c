/*
 * Per-connection ordering test with the official ZooKeeper C client (libzookeeper_mt).
 *
 * Usage: zk_c_ordering host:port [connections [ops_per_connection [window [watch_sets]]]]
 *        defaults:               3            20000                300     2000
 *
 * ZooKeeper guarantees, per client connection, that requests are executed and answered in the order they
 * were sent (FIFO client order), that a read sees every write the same connection sent before it, and
 * that a watch event reaches the client before any reply showing the change that fired it. A server that
 * serves reads on I/O threads while writes go through a pipeline thread can break all three; this program
 * pipelines many asynchronous requests per connection and checks, in the completion callbacks:
 *
 *  phase "pipeline" (one thread and one session per connection, all at once):
 *   - completions arrive in submission order (each request carries its sequence number in the completion
 *     data pointer). A server that answers a fast read before an earlier slow write on the same connection
 *     makes the C client see an unexpected xid; it then drops the connection ("unexpected server response"
 *     in its log) and every outstanding request completes with ZCONNECTIONLOSS: reported as a violation too;
 *   - read-your-writes in pipeline order: every aget / aexists of the connection's own node returns exactly
 *     the value and version of the last aset submitted before it, and the mzxid of that set (a read
 *     executed before an earlier pending write of the same connection returns the older value);
 *   - every aset returns version = number of sets so far (one per set, in order);
 *   - sequential creates under the own node get exactly the next sequence number (so names strictly
 *     increase), and aget_children2 lists exactly the children created before it, with the matching
 *     cversion and numChildren;
 *   - reads of another connection's node never go backwards (version, value and mzxid are monotonic for
 *     each reader), and value == version (data and stat of one read come from the same state).
 *
 *  phase "watch" (two sessions): A arms a data watch with awget on a node, B pipelines asets on it, A
 *  pipelines plain agets of it and re-arms the watch from the watcher. The mt client delivers watch events
 *  and completions by one thread in wire order, so: while A's watch is armed at version vw, a plain read
 *  returning a version > vw before the NodeDataChanged event is a violation (a read served from newer
 *  state than the watch notifications already queued for the connection).
 *
 * Exits 1 with a message on the first violation, 0 after printing the counts.
 */
#define THREADED
#include <zookeeper/zookeeper.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STALL_MS 30000 /* no completion for this long: the server lost or withheld a reply */

static void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "ORDERING VIOLATION: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  fflush(stderr);
  fflush(stdout);
  _exit(1);
}

static void deadline_after(struct timespec *ts, int ms) {
  clock_gettime(CLOCK_REALTIME, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}

/* ------------------------------------------------------------ sessions */

struct session {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int connected;
  int lost; /* a non-connected state after connecting: a violation unless we are closing */
  int closing;
  const char *name;
};

static void session_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx) {
  (void)zh;
  (void)path;
  struct session *s = (struct session *)ctx;
  if (type != ZOO_SESSION_EVENT) return;
  pthread_mutex_lock(&s->mu);
  if (state == ZOO_CONNECTED_STATE) {
    s->connected = 1;
  } else if (s->connected && !s->closing) {
    s->lost = 1;
    pthread_mutex_unlock(&s->mu);
    fail("%s: session state %d after connecting (the connection was dropped; the C client drops it when a "
         "reply's xid is not the next one it expects: 'unexpected server response' in its log above)",
         s->name, state);
  }
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

static zhandle_t *connect_zk(const char *hosts, struct session *s, const char *name) {
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  s->connected = s->lost = s->closing = 0;
  s->name = name;
  zhandle_t *zh = zookeeper_init(hosts, session_watcher, 15000, 0, s, 0);
  if (!zh) {
    fprintf(stderr, "zookeeper_init failed: %s\n", strerror(errno));
    exit(2);
  }
  struct timespec ts;
  deadline_after(&ts, 15000);
  pthread_mutex_lock(&s->mu);
  while (!s->connected) {
    if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) == ETIMEDOUT) break;
  }
  int ok = s->connected;
  pthread_mutex_unlock(&s->mu);
  if (!ok) {
    fprintf(stderr, "%s: could not connect to %s\n", name, hosts);
    exit(2);
  }
  return zh;
}

static void close_zk(zhandle_t *zh, struct session *s) {
  pthread_mutex_lock(&s->mu);
  s->closing = 1;
  pthread_mutex_unlock(&s->mu);
  zookeeper_close(zh);
}

/* ------------------------------------------------------------ flow control (window of outstanding ops) */

struct window {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  long submitted;
  long completed;
};

static void window_init(struct window *w) {
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
  w->submitted = w->completed = 0;
}

/* waits until fewer than `limit` requests are outstanding */
static void window_wait(struct window *w, long limit, const char *who) {
  pthread_mutex_lock(&w->mu);
  while (w->submitted - w->completed >= limit) {
    long before = w->completed;
    struct timespec ts;
    deadline_after(&ts, STALL_MS);
    if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) == ETIMEDOUT && w->completed == before) {
      long sub = w->submitted, done = w->completed;
      pthread_mutex_unlock(&w->mu);
      fail("%s: no completion for %d ms (%ld submitted, %ld completed): a reply was lost or withheld", who,
           STALL_MS, sub, done);
    }
  }
  pthread_mutex_unlock(&w->mu);
}

static void window_submitted(struct window *w) {
  pthread_mutex_lock(&w->mu);
  w->submitted++;
  pthread_mutex_unlock(&w->mu);
}

static void window_completed(struct window *w) {
  pthread_mutex_lock(&w->mu);
  w->completed++;
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

/* ------------------------------------------------------------ phase 1: pipelined mixed operations */

enum op_kind { OP_SET, OP_GET, OP_EXISTS, OP_CHILDREN, OP_CREATE, OP_GET_OTHER, OP_EXISTS_OTHER, OP_KINDS };
static const char *kind_name[] = {"aset",   "aget",    "aexists",          "aget_children2",
                                  "acreate(sequential)", "aget(other node)", "aexists(other node)"};

struct op {
  struct conn *c;
  long seq;
  int kind;
  long sets_before;    /* OP_SET: this set's number (1-based); reads: number of own sets submitted before */
  int creates_before;   /* sequential creates of own children submitted before: the parent's cversion and the
                           next sequence number (children are never deleted, so ZooKeeper's cversion-based
                           sequence numbers are exact) */
};

struct conn {
  int idx;
  char name[32];
  zhandle_t *zh;
  struct session sess;
  struct window win;
  char node[256];  /* own node: set / read / children */
  char other[256]; /* another connection's node: read only */
  char seq_prefix[300];
  struct op *ops;
  long nops;
  long window_limit;
  uint64_t rng;
  /* completion-thread state (only touched by this session's completion thread) */
  long next_done;
  int64_t last_set_mzxid; /* mzxid of the last completed own set (or of the creation) */
  long other_max_version;
  int64_t other_max_mzxid;
  long n_kind[OP_KINDS];
};

static uint64_t xorshift(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

static void check_order(struct op *o, int rc) {
  struct conn *c = o->c;
  if (o->seq != c->next_done)
    fail("%s: completion of op #%ld (%s) arrived when op #%ld was the next one submitted: completions out of "
         "submission order",
         c->name, o->seq, kind_name[o->kind], c->next_done);
  if (rc != ZOK)
    fail("%s: op #%ld (%s) failed: %d (%s)%s", c->name, o->seq, kind_name[o->kind], rc, zerror(rc),
         rc == ZCONNECTIONLOSS ? " -- the C client drops the connection when a reply arrives out of order "
                                 "(see 'unexpected server response' above)"
                               : "");
  c->next_done++;
  c->n_kind[o->kind]++;
}

static void done(struct op *o) { window_completed(&o->c->win); }

static long parse_long(const char *v, int len) {
  char buf[32];
  if (len <= 0 || len >= (int)sizeof buf) return -1;
  memcpy(buf, v, (size_t)len);
  buf[len] = 0;
  char *end;
  long x = strtol(buf, &end, 10);
  return *end ? -1 : x;
}

static void own_stat_check(struct op *o, const struct Stat *st, const char *what) {
  struct conn *c = o->c;
  if (st->version != o->sets_before || st->mzxid != c->last_set_mzxid)
    fail("%s: op #%ld (%s) of own node %s returned version %d mzxid %#llx, but %ld sets were submitted before it "
         "on this connection (last set's mzxid %#llx): read-your-writes broken (the read was served before or "
         "after a write it is ordered with)",
         c->name, o->seq, what, c->node, st->version, (unsigned long long)st->mzxid, o->sets_before,
         (unsigned long long)c->last_set_mzxid);
}

static void other_check(struct op *o, long value, const struct Stat *st, const char *what) {
  struct conn *c = o->c;
  if (value >= 0 && value != st->version)
    fail("%s: op #%ld (%s) of %s: value %ld but version %d (data and stat of one read differ)", c->name, o->seq,
         what, c->other, value, st->version);
  if (st->version < c->other_max_version || st->mzxid < c->other_max_mzxid)
    fail("%s: op #%ld (%s) of another connection's node %s went backwards: version %d mzxid %#llx after version "
         "%ld mzxid %#llx was seen on this connection",
         c->name, o->seq, what, c->other, st->version, (unsigned long long)st->mzxid, c->other_max_version,
         (unsigned long long)c->other_max_mzxid);
  c->other_max_version = st->version;
  c->other_max_mzxid = st->mzxid;
}

static void stat_done(int rc, const struct Stat *st, const void *data) {
  struct op *o = (struct op *)data;
  struct conn *c = o->c;
  check_order(o, rc);
  if (o->kind == OP_SET) {
    if (st->version != o->sets_before)
      fail("%s: aset #%ld of %s (set number %ld) returned version %d: versions must increase by one per set in "
           "submission order",
           c->name, o->seq, c->node, o->sets_before, st->version);
    if (st->mzxid <= c->last_set_mzxid)
      fail("%s: aset #%ld returned mzxid %#llx, not above the previous set's %#llx", c->name, o->seq,
           (unsigned long long)st->mzxid, (unsigned long long)c->last_set_mzxid);
    c->last_set_mzxid = st->mzxid;
  } else if (o->kind == OP_EXISTS) {
    own_stat_check(o, st, "aexists");
  } else {
    other_check(o, -1, st, "aexists");
  }
  done(o);
}

static void data_done(int rc, const char *value, int len, const struct Stat *st, const void *data) {
  struct op *o = (struct op *)data;
  struct conn *c = o->c;
  check_order(o, rc);
  long v = parse_long(value, len);
  if (o->kind == OP_GET) {
    if (v != o->sets_before)
      fail("%s: aget #%ld of own node %s returned \"%.*s\", but the last aset submitted before it on this "
           "connection wrote \"%ld\": read-your-writes in pipeline order broken",
           c->name, o->seq, c->node, len > 0 ? len : 0, len > 0 ? value : "", o->sets_before);
    own_stat_check(o, st, "aget");
  } else {
    if (v < 0)
      fail("%s: aget #%ld of %s returned unparsable data (len %d)", c->name, o->seq, c->other, len);
    other_check(o, v, st, "aget");
  }
  done(o);
}

static void children_done(int rc, const struct String_vector *kids, const struct Stat *st, const void *data) {
  struct op *o = (struct op *)data;
  struct conn *c = o->c;
  check_order(o, rc);
  /* exactly c-0000000000 .. c-<creates_before - 1>: names are unique, so count + range is the exact set */
  int ok = kids->count == o->creates_before;
  for (int k = 0; ok && k < kids->count; k++) {
    const char *n = kids->data[k];
    char *end;
    long x = strncmp(n, "c-", 2) == 0 ? strtol(n + 2, &end, 10) : -1;
    if (x < 0 || x >= o->creates_before || *end) ok = 0;
  }
  if (!ok || st->cversion != o->creates_before || st->numChildren != o->creates_before)
    fail("%s: aget_children2 #%ld of %s returned %d children, numChildren %d, cversion %d; expected %d (the "
         "sequential creates submitted before it on this connection): read-your-writes broken",
         c->name, o->seq, c->node, kids->count, st->numChildren, st->cversion, o->creates_before);
  own_stat_check(o, st, "aget_children2");
  done(o);
}

static void create_done(int rc, const char *name, const void *data) {
  struct op *o = (struct op *)data;
  struct conn *c = o->c;
  check_order(o, rc);
  char want[400];
  snprintf(want, sizeof want, "%s%010d", c->seq_prefix, o->creates_before);
  if (strcmp(name, want) != 0)
    fail("%s: sequential acreate #%ld returned %s, expected %s (one more than the sequential creates submitted "
         "before it on this connection)",
         c->name, o->seq, name, want);
  done(o);
}

static void *pipeline_thread(void *arg) {
  struct conn *c = (struct conn *)arg;
  long sets = 0;
  int creates = 0;
  char buf[32];
  for (long i = 0; i < c->nops; i++) {
    struct op *o = &c->ops[i];
    o->c = c;
    o->seq = i;
    /* weights: set 30, get 25, exists 10, children 5, create 8, other node 22 */
    unsigned r = (unsigned)(xorshift(&c->rng) % 100);
    int kind = r < 30 ? OP_SET : r < 55 ? OP_GET : r < 65 ? OP_EXISTS : r < 70 ? OP_CHILDREN
             : r < 78 ? OP_CREATE : r < 90 ? OP_GET_OTHER : OP_EXISTS_OTHER;
    if (kind == OP_SET) sets++;
    o->kind = kind;
    o->sets_before = sets;
    o->creates_before = creates;
    window_wait(&c->win, c->window_limit, c->name);
    window_submitted(&c->win);
    int rc;
    switch (kind) {
      case OP_SET:
        snprintf(buf, sizeof buf, "%ld", sets);
        rc = zoo_aset(c->zh, c->node, buf, (int)strlen(buf), -1, stat_done, o);
        break;
      case OP_GET:
        rc = zoo_aget(c->zh, c->node, 0, data_done, o);
        break;
      case OP_EXISTS:
        rc = zoo_aexists(c->zh, c->node, 0, stat_done, o);
        break;
      case OP_CHILDREN:
        rc = zoo_aget_children2(c->zh, c->node, 0, children_done, o);
        break;
      case OP_CREATE:
        rc = zoo_acreate(c->zh, c->seq_prefix, "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_SEQUENCE, create_done, o);
        creates++;
        break;
      case OP_GET_OTHER:
        rc = zoo_aget(c->zh, c->other, 0, data_done, o);
        break;
      default:
        rc = zoo_aexists(c->zh, c->other, 0, stat_done, o);
        break;
    }
    if (rc != ZOK) fail("%s: submitting op #%ld (%s) failed: %d (%s)", c->name, i, kind_name[kind], rc, zerror(rc));
  }
  window_wait(&c->win, 1, c->name); /* all completed */
  return NULL;
}

static int run_pipeline(const char *hosts, const char *root, int nconn, long nops, long window) {
  struct conn *conns = calloc((size_t)nconn, sizeof *conns);
  for (int i = 0; i < nconn; i++) {
    struct conn *c = &conns[i];
    c->idx = i;
    snprintf(c->name, sizeof c->name, "conn%d", i);
    c->zh = connect_zk(hosts, &c->sess, c->name);
    window_init(&c->win);
    snprintf(c->node, sizeof c->node, "%s/n%d", root, i);
    snprintf(c->other, sizeof c->other, "%s/n%d", root, (i + 1) % nconn);
    snprintf(c->seq_prefix, sizeof c->seq_prefix, "%s/c-", c->node);
    c->ops = calloc((size_t)nops, sizeof *c->ops);
    c->nops = nops;
    c->window_limit = window;
    c->rng = 0x9E3779B97F4A7C15ull * (uint64_t)(i + 1);
    struct Stat st;
    char out[300];
    int rc = zoo_create2(c->zh, c->node, "0", 1, &ZOO_OPEN_ACL_UNSAFE, 0, out, sizeof out, &st);
    if (rc != ZOK) fail("%s: create %s: %s", c->name, c->node, zerror(rc));
    c->last_set_mzxid = st.mzxid;
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pthread_t *th = calloc((size_t)nconn, sizeof *th);
  for (int i = 0; i < nconn; i++) pthread_create(&th[i], NULL, pipeline_thread, &conns[i]);
  for (int i = 0; i < nconn; i++) pthread_join(th[i], NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  long total = 0;
  for (int i = 0; i < nconn; i++) {
    struct conn *c = &conns[i];
    printf("pipeline %s: %ld ops in order (window %ld):", c->name, c->next_done, window);
    for (int k = 0; k < OP_KINDS; k++) printf(" %s=%ld", kind_name[k], c->n_kind[k]);
    printf("; other node seen up to version %ld\n", c->other_max_version);
    total += c->next_done;
    if (c->next_done != nops) fail("%s: %ld of %ld ops completed", c->name, c->next_done, nops);
    close_zk(c->zh, &c->sess);
    free(c->ops);
  }
  printf("pipeline: %d connections, %ld ops in %.2f s (%.0f ops/s)\n", nconn, total, secs, (double)total / secs);
  free(th);
  free(conns);
  return 0;
}

/* ------------------------------------------------------------ phase 2: watch event before newer data */

struct watch_state {
  zhandle_t *zh;
  struct session sess;
  struct window win;
  const char *path;
  long final_version;
  /* completion-thread state (A's watcher and completions run on A's completion thread, in wire order) */
  int armed; /* also polled by the main thread at the end: __atomic */
  long watched_version;
  long max_seen;
  long events;
  long rearms;
  long reads;
  long reads_newer_after_event; /* reads newer than the last watched version, legal because its event came */
  long reads_while_armed;
  int reached_final; /* written by the completion thread, polled by the submitter: __atomic */
};

static struct watch_state g_ws;
static void watched_get_done(int rc, const char *value, int len, const struct Stat *st, const void *data);

static void data_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx) {
  (void)zh;
  (void)state;
  struct watch_state *w = (struct watch_state *)ctx;
  if (type == ZOO_SESSION_EVENT) {
    pthread_mutex_lock(&w->sess.mu);
    int closing = w->sess.closing;
    pthread_mutex_unlock(&w->sess.mu);
    if (closing) return;
  }
  if (type != ZOO_CHANGED_EVENT)
    fail("watch: unexpected event type %d on %s", type, path ? path : "(null)");
  if (!w->armed)
    fail("watch: NodeDataChanged event on %s while no watch was armed (duplicate event, or the event came before "
         "the reply of the getData that set the watch)",
         path);
  __atomic_store_n(&w->armed, 0, __ATOMIC_RELEASE);
  w->events++;
  w->rearms++;
  window_submitted(&w->win);
  int rc = zoo_awget(w->zh, w->path, data_watcher, w, watched_get_done, w);
  if (rc != ZOK) fail("watch: re-arming awget failed: %s", zerror(rc));
}

static void note_version(struct watch_state *w, long v, const char *what) {
  if (v < w->max_seen)
    fail("watch: %s returned version %ld after version %ld was already seen on this connection", what, v,
         w->max_seen);
  w->max_seen = v;
  if (v >= w->final_version) __atomic_store_n(&w->reached_final, 1, __ATOMIC_RELEASE);
}

static void watched_get_done(int rc, const char *value, int len, const struct Stat *st, const void *data) {
  (void)value;
  (void)len;
  struct watch_state *w = (struct watch_state *)data;
  if (rc != ZOK) fail("watch: awget failed: %d (%s)", rc, zerror(rc));
  note_version(w, st->version, "awget");
  __atomic_store_n(&w->watched_version, (long)st->version, __ATOMIC_RELEASE);
  __atomic_store_n(&w->armed, 1, __ATOMIC_RELEASE);
  window_completed(&w->win);
}

static void plain_get_done(int rc, const char *value, int len, const struct Stat *st, const void *data) {
  struct watch_state *w = &g_ws;
  long seq = (long)(intptr_t)data;
  if (rc != ZOK) fail("watch: aget #%ld failed: %d (%s)", seq, rc, zerror(rc));
  long v = parse_long(value, len);
  if (v != st->version) fail("watch: aget #%ld value %ld but version %d", seq, v, st->version);
  w->reads++;
  if (w->armed) {
    w->reads_while_armed++;
    if (st->version > w->watched_version)
      fail("watch: aget #%ld returned version %d while the data watch set at version %ld had not fired yet: the "
           "client saw the new data before the NodeDataChanged event for it",
           seq, st->version, w->watched_version);
  } else if (st->version > w->watched_version) {
    w->reads_newer_after_event++;
  }
  note_version(w, st->version, "aget");
  window_completed(&w->win);
}

struct writer {
  zhandle_t *zh;
  struct session sess;
  struct window win;
  const char *path;
  long n;
  long done;
};

static void writer_done(int rc, const struct Stat *st, const void *data) {
  struct writer *wr = (struct writer *)data;
  if (rc != ZOK) fail("watch writer: aset failed: %d (%s)", rc, zerror(rc));
  wr->done++;
  if (st->version != wr->done)
    fail("watch writer: aset #%ld returned version %d (sets out of order)", wr->done, st->version);
  window_completed(&wr->win);
}

static void *writer_thread(void *arg) {
  struct writer *wr = (struct writer *)arg;
  char buf[32];
  for (long i = 1; i <= wr->n; i++) {
    window_wait(&wr->win, 50, "watch writer");
    window_submitted(&wr->win);
    snprintf(buf, sizeof buf, "%ld", i);
    int rc = zoo_aset(wr->zh, wr->path, buf, (int)strlen(buf), -1, writer_done, wr);
    if (rc != ZOK) fail("watch writer: submit aset: %s", zerror(rc));
    if (i % 64 == 0) usleep(200); /* let the reader interleave */
  }
  window_wait(&wr->win, 1, "watch writer");
  return NULL;
}

static int run_watch(const char *hosts, const char *root, long nsets) {
  static char path[256];
  snprintf(path, sizeof path, "%s/w", root);
  struct watch_state *w = &g_ws;
  memset(w, 0, sizeof *w);
  w->path = path;
  w->final_version = nsets;
  w->zh = connect_zk(hosts, &w->sess, "watcher");
  window_init(&w->win);
  int rc = zoo_create(w->zh, path, "0", 1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
  if (rc != ZOK) fail("watch: create %s: %s", path, zerror(rc));

  struct writer wr;
  memset(&wr, 0, sizeof wr);
  wr.zh = connect_zk(hosts, &wr.sess, "writer");
  window_init(&wr.win);
  wr.path = path;
  wr.n = nsets;

  window_submitted(&w->win);
  rc = zoo_awget(w->zh, path, data_watcher, w, watched_get_done, w);
  if (rc != ZOK) fail("watch: awget: %s", zerror(rc));
  window_wait(&w->win, 1, "watcher");

  pthread_t th;
  pthread_create(&th, NULL, writer_thread, &wr);
  long seq = 0;
  struct timespec t0, now;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (!__atomic_load_n(&w->reached_final, __ATOMIC_ACQUIRE)) {
    window_wait(&w->win, 40, "watcher");
    window_submitted(&w->win);
    rc = zoo_aget(w->zh, path, 0, plain_get_done, (void *)(intptr_t)seq++);
    if (rc != ZOK) fail("watch: submit aget: %s", zerror(rc));
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - t0.tv_sec > 60) fail("watch: the reader never saw version %ld", nsets);
  }
  pthread_join(th, NULL);
  /* the last set fires the armed watch (or already did): wait until the watch is re-armed at the final
     version, after which nothing more can arrive */
  int rearmed_at_final = 0;
  for (int i = 0; i < 1000 && !rearmed_at_final; i++) {
    rearmed_at_final = __atomic_load_n(&w->armed, __ATOMIC_ACQUIRE) &&
                       __atomic_load_n(&w->watched_version, __ATOMIC_ACQUIRE) == nsets;
    if (!rearmed_at_final) usleep(10000);
  }
  if (!rearmed_at_final)
    fail("watch: the watch was not re-armed at the final version %ld within 10 s: a NodeDataChanged event is "
         "missing",
         nsets);
  window_wait(&w->win, 1, "watcher");
  printf("watch: %ld sets by the writer; reader: %ld plain reads (%ld while the watch was armed, %ld newer than "
         "the watched version after its event), %ld NodeDataChanged events, final version %ld\n",
         nsets, w->reads, w->reads_while_armed, w->reads_newer_after_event, w->events, w->max_seen);
  if (w->events == 0) fail("watch: no NodeDataChanged event at all");
  close_zk(wr.zh, &wr.sess);
  close_zk(w->zh, &w->sess);
  return 0;
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s host:port [connections [ops_per_connection [window [watch_sets]]]]\n", argv[0]);
    return 2;
  }
  const char *hosts = argv[1];
  int nconn = argc > 2 ? atoi(argv[2]) : 3;
  long nops = argc > 3 ? atol(argv[3]) : 20000;
  long window = argc > 4 ? atol(argv[4]) : 300;
  long watch_sets = argc > 5 ? atol(argv[5]) : 2000;
  if (nconn < 1 || nops < 1 || window < 1 || watch_sets < 1) {
    fprintf(stderr, "bad arguments\n");
    return 2;
  }
  zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
  setvbuf(stdout, NULL, _IOLBF, 0);

  struct session s;
  zhandle_t *zh = connect_zk(hosts, &s, "setup");
  char root[128];
  snprintf(root, sizeof root, "/c_ordering_%d_%ld", (int)getpid(), (long)time(NULL));
  int rc = zoo_create(zh, root, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
  if (rc != ZOK) fail("create %s: %s", root, zerror(rc));

  run_pipeline(hosts, root, nconn, nops, window);
  run_watch(hosts, root, watch_sets);

  close_zk(zh, &s);
  printf("OK: no ordering violation\n");
  return 0;
}
