/*
 * Compatibility test with the official ZooKeeper C client (libzookeeper_mt).
 * Usage: zk_c_client_test host:port
 * Exits 0 only if every check passes; prints each failure.
 */
#define THREADED
#include <zookeeper/zookeeper.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int g_failures = 0;
static int g_checks = 0;

#define CHECK(cond, ...)                                                   \
  do {                                                                     \
    g_checks++;                                                            \
    if (!(cond)) {                                                         \
      g_failures++;                                                        \
      fprintf(stderr, "FAIL %s:%d: %s -- ", __FILE__, __LINE__, #cond);    \
      fprintf(stderr, __VA_ARGS__);                                        \
      fprintf(stderr, "\n");                                               \
    }                                                                      \
  } while (0)

#define CHECK_RC(rc, expect, what)                                                        \
  CHECK((rc) == (expect), "%s: got %d (%s), expected %d (%s)", what, (rc), zerror(rc), \
        (expect), zerror(expect))

/* ------------------------------------------------------------ watcher bookkeeping */

struct watch_counts {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int connected;
  int expired;
  int created, deleted, changed, child;
  char last_path[512];
};

static struct watch_counts g_w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, 0, ""};

static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx) {
  (void)zh;
  struct watch_counts *w = ctx ? (struct watch_counts *)ctx : &g_w;
  pthread_mutex_lock(&w->mu);
  if (type == ZOO_SESSION_EVENT) {
    if (state == ZOO_CONNECTED_STATE) w->connected = 1;
    if (state == ZOO_EXPIRED_SESSION_STATE) w->expired = 1;
  } else if (type == ZOO_CREATED_EVENT) {
    w->created++;
  } else if (type == ZOO_DELETED_EVENT) {
    w->deleted++;
  } else if (type == ZOO_CHANGED_EVENT) {
    w->changed++;
  } else if (type == ZOO_CHILD_EVENT) {
    w->child++;
  }
  if (path) snprintf(w->last_path, sizeof w->last_path, "%s", path);
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
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

/* waits until *counter >= want; returns the final value */
static int wait_count(struct watch_counts *w, int *counter, int want, int ms) {
  struct timespec ts;
  deadline_after(&ts, ms);
  pthread_mutex_lock(&w->mu);
  while (*counter < want) {
    if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) == ETIMEDOUT) break;
  }
  int v = *counter;
  pthread_mutex_unlock(&w->mu);
  return v;
}

static int read_count(struct watch_counts *w, int *counter) {
  pthread_mutex_lock(&w->mu);
  int v = *counter;
  pthread_mutex_unlock(&w->mu);
  return v;
}

static zhandle_t *connect_zk(const char *hosts, struct watch_counts *w) {
  zhandle_t *zh = zookeeper_init(hosts, watcher, 10000, 0, w, 0);
  if (!zh) {
    fprintf(stderr, "zookeeper_init failed: %s\n", strerror(errno));
    return NULL;
  }
  if (!wait_count(w, &w->connected, 1, 15000)) {
    fprintf(stderr, "could not connect to %s\n", hosts);
    zookeeper_close(zh);
    return NULL;
  }
  return zh;
}

/* ------------------------------------------------------------ async auth completion */

struct completion {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
  int rc;
};

static void void_done(int rc, const void *data) {
  struct completion *c = (struct completion *)data;
  pthread_mutex_lock(&c->mu);
  c->done = 1;
  c->rc = rc;
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

static int add_auth_sync(zhandle_t *zh, const char *scheme, const char *cred) {
  struct completion c = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
  int rc = zoo_add_auth(zh, scheme, cred, (int)strlen(cred), void_done, &c);
  if (rc != ZOK) return rc;
  struct timespec ts;
  deadline_after(&ts, 10000);
  pthread_mutex_lock(&c.mu);
  while (!c.done) {
    if (pthread_cond_timedwait(&c.cv, &c.mu, &ts) == ETIMEDOUT) break;
  }
  rc = c.done ? c.rc : ZOPERATIONTIMEOUT;
  pthread_mutex_unlock(&c.mu);
  return rc;
}

static int has_child(const struct String_vector *v, const char *name) {
  for (int i = 0; i < v->count; i++)
    if (strcmp(v->data[i], name) == 0) return 1;
  return 0;
}

/* ------------------------------------------------------------ tests */

static void test_create_get_set_delete(zhandle_t *zh, const char *root) {
  char path[512], buf[512], out[512];
  struct Stat st, st2;
  int rc, len;

  snprintf(path, sizeof path, "%s/node", root);
  rc = zoo_create(zh, path, "hello", 5, &ZOO_OPEN_ACL_UNSAFE, 0, out, sizeof out);
  CHECK_RC(rc, ZOK, "create");
  CHECK(strcmp(out, path) == 0, "created path %s", out);

  rc = zoo_create(zh, path, "x", 1, &ZOO_OPEN_ACL_UNSAFE, 0, out, sizeof out);
  CHECK_RC(rc, ZNODEEXISTS, "create existing");

  snprintf(buf, sizeof buf, "%s/missing/child", root);
  rc = zoo_create(zh, buf, "x", 1, &ZOO_OPEN_ACL_UNSAFE, 0, out, sizeof out);
  CHECK_RC(rc, ZNONODE, "create under missing parent");

  len = sizeof buf;
  memset(&st, 0, sizeof st);
  rc = zoo_get(zh, path, 0, buf, &len, &st);
  CHECK_RC(rc, ZOK, "get");
  CHECK(len == 5 && memcmp(buf, "hello", 5) == 0, "get data len=%d", len);
  CHECK(st.version == 0 && st.dataLength == 5 && st.numChildren == 0 && st.ephemeralOwner == 0,
        "stat version=%d dataLength=%d", st.version, st.dataLength);
  CHECK(st.czxid == st.mzxid && st.ctime == st.mtime, "fresh node czxid/mzxid");

  rc = zoo_set2(zh, path, "world!", 6, 0, &st2);
  CHECK_RC(rc, ZOK, "set2");
  CHECK(st2.version == 1 && st2.dataLength == 6 && st2.mzxid > st.mzxid && st2.czxid == st.czxid,
        "set2 stat version=%d", st2.version);
  rc = zoo_set(zh, path, "bad", 3, 0);
  CHECK_RC(rc, ZBADVERSION, "set with stale version");

  memset(&st, 0, sizeof st);
  rc = zoo_exists(zh, path, 0, &st);
  CHECK_RC(rc, ZOK, "exists");
  CHECK(st.version == 1 && st.mzxid == st2.mzxid, "exists stat version=%d", st.version);

  /* empty data and NULL data */
  snprintf(buf, sizeof buf, "%s/empty", root);
  rc = zoo_create(zh, buf, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
  CHECK_RC(rc, ZOK, "create null data");
  len = sizeof out;
  rc = zoo_get(zh, buf, 0, out, &len, &st);
  CHECK_RC(rc, ZOK, "get null data");
  CHECK(len == -1 || len == 0, "null data len=%d", len);
  CHECK(st.dataLength == 0, "null data dataLength=%d", st.dataLength);

  rc = zoo_delete(zh, path, 0);
  CHECK_RC(rc, ZBADVERSION, "delete with wrong version");
  rc = zoo_delete(zh, path, 1);
  CHECK_RC(rc, ZOK, "delete");
  rc = zoo_exists(zh, path, 0, &st);
  CHECK_RC(rc, ZNONODE, "exists after delete");
  len = sizeof buf;
  rc = zoo_get(zh, path, 0, buf, &len, &st);
  CHECK_RC(rc, ZNONODE, "get after delete");
  rc = zoo_delete(zh, path, -1);
  CHECK_RC(rc, ZNONODE, "delete missing");

  /* not empty */
  snprintf(path, sizeof path, "%s/parent", root);
  zoo_create(zh, path, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
  snprintf(buf, sizeof buf, "%s/parent/kid", root);
  zoo_create(zh, buf, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
  rc = zoo_delete(zh, path, -1);
  CHECK_RC(rc, ZNOTEMPTY, "delete non-empty");
}

static void test_create_modes(zhandle_t *zh, const char *root, int64_t session_id) {
  char path[512], out[512];
  struct Stat st;
  int rc;

  snprintf(path, sizeof path, "%s/eph", root);
  rc = zoo_create2(zh, path, "e", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, out, sizeof out, &st);
  CHECK_RC(rc, ZOK, "create2 ephemeral");
  CHECK(st.ephemeralOwner == session_id, "ephemeralOwner %lld vs session %lld", (long long)st.ephemeralOwner,
        (long long)session_id);
  CHECK(st.version == 0 && st.dataLength == 1, "create2 stat");
  snprintf(out, sizeof out, "%s/eph/child", root);
  rc = zoo_create(zh, out, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
  CHECK_RC(rc, ZNOCHILDRENFOREPHEMERALS, "child of ephemeral");

  snprintf(path, sizeof path, "%s/seq-", root);
  rc = zoo_create(zh, path, "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_SEQUENCE, out, sizeof out);
  CHECK_RC(rc, ZOK, "create sequential");
  /* root has children: eph (1 creation) -> suffix 1 */
  char expect[512];
  snprintf(expect, sizeof expect, "%s/seq-0000000001", root);
  CHECK(strcmp(out, expect) == 0, "sequential name %s, expected %s", out, expect);
  rc = zoo_create2(zh, path, "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL | ZOO_SEQUENCE, out, sizeof out, &st);
  CHECK_RC(rc, ZOK, "create2 ephemeral sequential");
  snprintf(expect, sizeof expect, "%s/seq-0000000002", root);
  CHECK(strcmp(out, expect) == 0, "ephemeral sequential name %s", out);
  CHECK(st.ephemeralOwner == session_id, "ephemeral sequential owner");

  /* path buffer too small: the name is truncated, not an error */
  char small[8];
  rc = zoo_create(zh, path, "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_SEQUENCE, small, sizeof small);
  CHECK_RC(rc, ZOK, "create with small buffer");
  CHECK(strlen(small) == sizeof small - 1, "truncated name '%s'", small);

  /* container and TTL */
  snprintf(path, sizeof path, "%s/container", root);
  rc = zoo_create2(zh, path, "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_CONTAINER, out, sizeof out, &st);
  CHECK_RC(rc, ZOK, "create2 container");
  snprintf(path, sizeof path, "%s/ttl", root);
  rc = zoo_create2_ttl(zh, path, "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT_WITH_TTL, 60000, out, sizeof out, &st);
  CHECK_RC(rc, ZOK, "create2 ttl");

  /* bad arguments */
  rc = zoo_create(zh, "nopath", "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
  CHECK_RC(rc, ZBADARGUMENTS, "create relative path");
}

static void test_children(zhandle_t *zh, const char *root) {
  char path[512], kid[1024];
  struct String_vector v;
  struct Stat st;
  int rc;

  snprintf(path, sizeof path, "%s/kids", root);
  zoo_create(zh, path, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
  const char *names[] = {"c", "a", "b"};
  for (int i = 0; i < 3; i++) {
    snprintf(kid, sizeof kid, "%s/%s", path, names[i]);
    rc = zoo_create(zh, kid, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
    CHECK_RC(rc, ZOK, "create kid");
  }
  rc = zoo_get_children(zh, path, 0, &v);
  CHECK_RC(rc, ZOK, "get_children");
  if (rc == ZOK) {
    CHECK(v.count == 3 && has_child(&v, "a") && has_child(&v, "b") && has_child(&v, "c"), "children count=%d",
          v.count);
    deallocate_String_vector(&v);
  }
  rc = zoo_get_children2(zh, path, 0, &v, &st);
  CHECK_RC(rc, ZOK, "get_children2");
  if (rc == ZOK) {
    CHECK(v.count == 3, "children2 count=%d", v.count);
    CHECK(st.numChildren == 3 && st.cversion == 3, "children2 stat numChildren=%d cversion=%d", st.numChildren,
          st.cversion);
    deallocate_String_vector(&v);
  }
  snprintf(kid, sizeof kid, "%s/none", root);
  rc = zoo_get_children(zh, kid, 0, &v);
  CHECK_RC(rc, ZNONODE, "get_children missing");
}

static void test_watches(zhandle_t *zh, zhandle_t *zh2, const char *root) {
  struct watch_counts w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, 0, ""};
  char path[512], buf[64], kid[1024];
  struct Stat st;
  struct String_vector v;
  int rc, len;

  snprintf(path, sizeof path, "%s/watched", root);
  /* exists watch on a missing node -> created */
  rc = zoo_wexists(zh, path, watcher, &w, &st);
  CHECK_RC(rc, ZNONODE, "wexists missing");
  rc = zoo_create(zh2, path, "0", 1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
  CHECK_RC(rc, ZOK, "create watched");
  CHECK(wait_count(&w, &w.created, 1, 5000) == 1, "created events");
  CHECK(strcmp(w.last_path, path) == 0, "created path %s", w.last_path);

  /* data watch -> changed, once */
  len = sizeof buf;
  rc = zoo_wget(zh, path, watcher, &w, buf, &len, &st);
  CHECK_RC(rc, ZOK, "wget");
  zoo_set(zh2, path, "1", 1, -1);
  CHECK(wait_count(&w, &w.changed, 1, 5000) == 1, "changed events");
  zoo_set(zh2, path, "2", 1, -1);

  /* child watch -> child event */
  rc = zoo_wget_children(zh, path, watcher, &w, &v);
  CHECK_RC(rc, ZOK, "wget_children");
  if (rc == ZOK) deallocate_String_vector(&v);
  snprintf(kid, sizeof kid, "%s/kid", path);
  zoo_create(zh2, kid, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
  CHECK(wait_count(&w, &w.child, 1, 5000) == 1, "child events");

  /* data watch -> deleted */
  len = sizeof buf;
  rc = zoo_wget(zh, kid, watcher, &w, buf, &len, &st);
  CHECK_RC(rc, ZOK, "wget kid");
  zoo_delete(zh2, kid, -1);
  CHECK(wait_count(&w, &w.deleted, 1, 5000) == 1, "deleted events");

  /* a watch that is removed does not fire */
  len = sizeof buf;
  rc = zoo_wget(zh, path, watcher, &w, buf, &len, &st);
  CHECK_RC(rc, ZOK, "wget for removal");
  rc = zoo_remove_watches(zh, path, ZWATCHTYPE_DATA, watcher, &w, 0);
  CHECK_RC(rc, ZOK, "remove_watches");
  zoo_set(zh2, path, "3", 1, -1);
  usleep(300 * 1000);
  rc = zoo_remove_watches(zh, path, ZWATCHTYPE_DATA, watcher, &w, 0);
  CHECK_RC(rc, ZNOWATCHER, "remove_watches when none");
  /* the changed counter may include a local "data watch removed" notification only (type 5/6), not a change */
  CHECK(read_count(&w, &w.changed) == 1, "changed after removal=%d", read_count(&w, &w.changed));
  CHECK(read_count(&w, &w.created) == 1 && read_count(&w, &w.child) == 1 && read_count(&w, &w.deleted) == 1,
        "event totals");
}

static void test_multi(zhandle_t *zh, const char *root) {
  char p1[512], p2[512], p3[512], out1[512], out2[512];
  struct Stat st, setst;
  int rc;

  snprintf(p1, sizeof p1, "%s/m1", root);
  snprintf(p2, sizeof p2, "%s/m2", root);
  snprintf(p3, sizeof p3, "%s/m3", root);
  zoo_create(zh, p3, "v", 1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);

  /* success */
  zoo_op_t ops[4];
  zoo_op_result_t res[4];
  zoo_create_op_init(&ops[0], p1, "a", 1, &ZOO_OPEN_ACL_UNSAFE, 0, out1, sizeof out1);
  zoo_create_op_init(&ops[1], p2, "b", 1, &ZOO_OPEN_ACL_UNSAFE, 0, out2, sizeof out2);
  zoo_set_op_init(&ops[2], p3, "w", 1, 0, &setst);
  zoo_check_op_init(&ops[3], p3, 1);
  rc = zoo_multi(zh, 4, ops, res);
  CHECK_RC(rc, ZOK, "multi success");
  for (int i = 0; i < 4; i++) CHECK(res[i].err == ZOK, "multi op %d err=%d", i, res[i].err);
  CHECK(strcmp(out1, p1) == 0 && strcmp(out2, p2) == 0, "multi created paths");
  CHECK(setst.version == 1, "multi set stat version=%d", setst.version);
  struct Stat s1, s2;
  zoo_exists(zh, p1, 0, &s1);
  zoo_exists(zh, p2, 0, &s2);
  CHECK(s1.czxid == s2.czxid && s1.czxid == setst.mzxid, "multi ops share one zxid");

  /* failure: delete p1 ok, check p3 bad version, create p1 again */
  zoo_op_t fops[3];
  zoo_op_result_t fres[3];
  zoo_delete_op_init(&fops[0], p1, -1);
  zoo_check_op_init(&fops[1], p3, 42);
  zoo_create_op_init(&fops[2], p2, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
  rc = zoo_multi(zh, 3, fops, fres);
  CHECK_RC(rc, ZBADVERSION, "multi failure rc");
  CHECK(fres[0].err == ZOK, "failed multi op0 err=%d (expected 0: rolled back)", fres[0].err);
  CHECK(fres[1].err == ZBADVERSION, "failed multi op1 err=%d", fres[1].err);
  CHECK(fres[2].err == ZRUNTIMEINCONSISTENCY, "failed multi op2 err=%d", fres[2].err);
  rc = zoo_exists(zh, p1, 0, &st);
  CHECK_RC(rc, ZOK, "rolled back delete left node in place");
}

static void test_acl(zhandle_t *zh, const char *hosts, const char *root) {
  char path[512], buf[64];
  struct ACL_vector acls;
  struct Stat st;
  int rc, len;

  rc = add_auth_sync(zh, "digest", "cuser:cpass");
  CHECK_RC(rc, ZOK, "add_auth digest");

  snprintf(path, sizeof path, "%s/acl", root);
  rc = zoo_create(zh, path, "secret", 6, &ZOO_CREATOR_ALL_ACL, 0, NULL, 0);
  CHECK_RC(rc, ZOK, "create with creator ACL");
  memset(&acls, 0, sizeof acls);
  rc = zoo_get_acl(zh, path, &acls, &st);
  CHECK_RC(rc, ZOK, "get_acl");
  if (rc == ZOK) {
    CHECK(acls.count == 1, "acl count=%d", acls.count);
    if (acls.count == 1) {
      CHECK(acls.data[0].perms == ZOO_PERM_ALL, "perms=%d", acls.data[0].perms);
      CHECK(strcmp(acls.data[0].id.scheme, "digest") == 0, "scheme=%s", acls.data[0].id.scheme);
      /* sha1("cuser:cpass") base64 */
      CHECK(strncmp(acls.data[0].id.id, "cuser:", 6) == 0 && strlen(acls.data[0].id.id) == 6 + 28, "id=%s",
            acls.data[0].id.id);
    }
    CHECK(st.aversion == 0, "aversion=%d", st.aversion);
    deallocate_ACL_vector(&acls);
  }

  /* another, unauthenticated client */
  struct watch_counts w2 = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, 0, ""};
  zhandle_t *anon = connect_zk(hosts, &w2);
  CHECK(anon != NULL, "second connection");
  if (anon) {
    len = sizeof buf;
    rc = zoo_get(anon, path, 0, buf, &len, &st);
    CHECK_RC(rc, ZNOAUTH, "anonymous get");
    rc = zoo_set(anon, path, "x", 1, -1);
    CHECK_RC(rc, ZNOAUTH, "anonymous set");
    rc = zoo_add_auth(anon, "nosuchscheme", "x", 1, NULL, NULL);
    CHECK_RC(rc, ZOK, "add_auth submit");
    zookeeper_close(anon);
  }

  /* setACL with version check: read-only for world plus all for us */
  struct ACL entries[2];
  entries[0].perms = ZOO_PERM_READ;
  entries[0].id.scheme = "world";
  entries[0].id.id = "anyone";
  entries[1].perms = ZOO_PERM_ALL;
  entries[1].id.scheme = "auth";
  entries[1].id.id = "";
  struct ACL_vector nv = {2, entries};
  rc = zoo_set_acl(zh, path, 5, &nv);
  CHECK_RC(rc, ZBADVERSION, "set_acl bad version");
  rc = zoo_set_acl(zh, path, 0, &nv);
  CHECK_RC(rc, ZOK, "set_acl");
  memset(&acls, 0, sizeof acls);
  rc = zoo_get_acl(zh, path, &acls, &st);
  CHECK_RC(rc, ZOK, "get_acl after set");
  if (rc == ZOK) {
    CHECK(acls.count == 2 && st.aversion == 1, "acl count=%d aversion=%d", acls.count, st.aversion);
    deallocate_ACL_vector(&acls);
  }
  struct watch_counts w3 = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, 0, ""};
  anon = connect_zk(hosts, &w3);
  if (anon) {
    len = sizeof buf;
    rc = zoo_get(anon, path, 0, buf, &len, &st);
    CHECK_RC(rc, ZOK, "anonymous get after world:read");
    CHECK(len == 6 && memcmp(buf, "secret", 6) == 0, "data");
    rc = zoo_set(anon, path, "x", 1, -1);
    CHECK_RC(rc, ZNOAUTH, "anonymous set still refused");
    /* auth scheme without identities */
    char p2[512];
    snprintf(p2, sizeof p2, "%s/acl2", root);
    rc = zoo_create(anon, p2, "", 0, &ZOO_CREATOR_ALL_ACL, 0, NULL, 0);
    CHECK_RC(rc, ZINVALIDACL, "creator ACL without auth");
    zookeeper_close(anon);
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s host:port\n", argv[0]);
    return 2;
  }
  const char *hosts = argv[1];
  zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);

  zhandle_t *zh = connect_zk(hosts, &g_w);
  if (!zh) return 1;
  struct watch_counts w2 = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, 0, ""};
  zhandle_t *zh2 = connect_zk(hosts, &w2);
  if (!zh2) return 1;
  const clientid_t *cid = zoo_client_id(zh);
  CHECK(cid->client_id != 0, "session id");
  CHECK(zoo_recv_timeout(zh) == 10000, "negotiated timeout %d", zoo_recv_timeout(zh));

  char root[128];
  snprintf(root, sizeof root, "/c_client_%d_%ld", (int)getpid(), (long)time(NULL));
  int rc = zoo_create(zh, root, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
  CHECK_RC(rc, ZOK, "create root");

  test_create_get_set_delete(zh, root);
  char sub[256];
  snprintf(sub, sizeof sub, "%s/modes", root);
  zoo_create(zh, sub, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
  test_create_modes(zh, sub, cid->client_id);
  test_children(zh, root);
  test_watches(zh, zh2, root);
  test_multi(zh, root);
  test_acl(zh, hosts, root);

  /* closing the session removes its ephemerals */
  char eph[512];
  snprintf(eph, sizeof eph, "%s/eph", sub);
  struct Stat st;
  rc = zoo_exists(zh2, eph, 0, &st);
  CHECK_RC(rc, ZOK, "ephemeral present before close");
  zookeeper_close(zh);
  rc = zoo_exists(zh2, eph, 0, &st);
  CHECK_RC(rc, ZNONODE, "ephemeral gone after close");
  zookeeper_close(zh2);

  printf("%d checks, %d failures\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
