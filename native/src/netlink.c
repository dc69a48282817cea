/* One netlink request/dump round trip, for sock_diag. Which request to send and what the answer means
 * is the facade's business: the caller builds the nlmsghdr and payload, and gets back the raw messages. */
#include "wg.h"

#include <errno.h>
#include <linux/netlink.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* A sane dump of every socket on a busy host is a few MiB; past this something is wrong, and growing
 * further would only trade the gateway's memory for it. */
#define WG_NETLINK_MAX (64u << 20)

/* Reads datagrams until NLMSG_DONE. Returns the length of the concatenated messages (DONE excluded)
 * in *out, or -errno; *out is malloc'd (or NULL) on success, freed on failure. */
static ssize_t dump(int fd, uint8_t **out) {
  uint8_t *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    /* Peek the datagram's real size first: a recv into too small a buffer would silently cut it. */
    ssize_t n;
    do n = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC);
    while (n < 0 && errno == EINTR);
    if (n < 0) goto fail_errno;
    if (len + (size_t)n > WG_NETLINK_MAX) {
      free(buf);
      return -ENOBUFS;
    }
    if (len + (size_t)n > cap) {
      size_t want = cap ? cap : 64 * 1024;
      while (want < len + (size_t)n) want *= 2;
      uint8_t *grown = realloc(buf, want);
      if (!grown) {
        free(buf);
        return -ENOMEM;
      }
      buf = grown;
      cap = want;
    }
    ssize_t got;
    do got = recv(fd, buf + len, (size_t)n, 0);
    while (got < 0 && errno == EINTR);
    if (got < 0) goto fail_errno;
    size_t left = (size_t)got;
    for (struct nlmsghdr *h = (struct nlmsghdr *)(buf + len); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type == NLMSG_DONE) {
        /* Messages after DONE in the same datagram do not belong to this dump. */
        len = (size_t)((uint8_t *)h - buf);
        *out = buf;
        return (ssize_t)len;
      }
      if (h->nlmsg_type == NLMSG_ERROR) {
        const struct nlmsgerr *e = NLMSG_DATA(h);
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof *e)) {
          free(buf);
          return -EPROTO;
        }
        int err = e->error;
        free(buf);
        /* error 0 is an ACK, which ends a non-dump request. */
        if (err == 0) return *out = NULL, 0;
        return err < 0 ? err : -err;
      }
    }
    len += (size_t)got;
  }
fail_errno:;
  int err = errno;
  free(buf);
  return -err;
}

/* One request and its whole answer on a fresh socket: the part that runs on a libuv thread, so it must
 * not touch N-API. */
static ssize_t round_trip(int protocol, const void *req, size_t req_len, uint8_t **out) {
  *out = NULL;
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, protocol);
  if (fd < 0) return -errno;
  /* The kernel answers a well-formed dump at once; a request it ignores must not hold a thread forever. */
  struct timeval tv = {.tv_sec = 1, .tv_usec = 0};
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  ssize_t r, sent;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
    r = -errno;
  } else {
    do sent = sendto(fd, req, req_len, 0, (struct sockaddr *)&kernel, sizeof kernel);
    while (sent < 0 && errno == EINTR);
    if (sent < 0) r = -errno;
    else if ((size_t)sent != req_len) r = -EMSGSIZE;
    else r = dump(fd, out);
  }
  close(fd);
  return r;
}

struct dump_work {
  napi_async_work work;
  napi_ref callback;
  int protocol;
  void *req;
  size_t req_len;
  uint8_t *data;
  ssize_t result;
};

static void dump_execute(napi_env env, void *arg) {
  (void)env;
  struct dump_work *w = arg;
  w->result = round_trip(w->protocol, w->req, w->req_len, &w->data);
}

static void dump_complete(napi_env env, napi_status status, void *arg) {
  struct dump_work *w = arg;
  napi_value cb, result = NULL, global;
  if (status != napi_ok && w->result >= 0) w->result = -ECANCELED;
  if (w->result < 0) {
    free(w->data);
    result = wg_int(env, w->result);
  } else {
    /* A copy rather than an external buffer: V8 does not count external memory towards its GC trigger, so
     * one dump per sample could pile up unseen between collections. The copy costs ~0.1 ms per MiB. */
    void *copy = NULL;
    if (napi_create_buffer_copy(env, (size_t)w->result, w->data, &copy, &result) != napi_ok) result = wg_int(env, -ENOMEM);
    free(w->data);
  }
  if (napi_get_reference_value(env, w->callback, &cb) == napi_ok && napi_get_global(env, &global) == napi_ok) {
    napi_call_function(env, global, cb, 1, &result, NULL);
  }
  napi_delete_reference(env, w->callback);
  napi_delete_async_work(env, w->work);
  free(w->req);
  free(w);
}

/* netlinkDump(protocol, request, cb) -> 0 or -errno. cb(Buffer | -errno) runs once, later: the kernel's
 * walk over every socket takes milliseconds on a busy host, too long for the event loop's thread. */
napi_value wg_netlink_dump(napi_env env, napi_callback_info info) {
  napi_value argv[3], name;
  int32_t protocol;
  bool is_buffer = false;
  napi_valuetype t;
  void *req = NULL;
  size_t req_len = 0;
  if (!wg_args(env, info, 3, argv) || !wg_get_int32(env, argv[0], "protocol", &protocol)) return NULL;
  if (!wg_check(env, napi_is_buffer(env, argv[1], &is_buffer))) return NULL;
  if (!is_buffer) return napi_throw_type_error(env, NULL, "request must be a Buffer"), NULL;
  if (!wg_check(env, napi_typeof(env, argv[2], &t))) return NULL;
  if (t != napi_function) return napi_throw_type_error(env, NULL, "callback must be a function"), NULL;
  if (!wg_check(env, napi_get_buffer_info(env, argv[1], &req, &req_len))) return NULL;
  if (req_len < sizeof(struct nlmsghdr)) return wg_int(env, -EINVAL);
  struct dump_work *w = calloc(1, sizeof *w);
  if (!w || !(w->req = malloc(req_len))) return free(w), wg_int(env, -ENOMEM);
  /* A copy: the caller's Buffer may change or be collected while a thread sends it. */
  memcpy(w->req, req, req_len);
  w->req_len = req_len;
  w->protocol = protocol;
  if (!wg_check(env, napi_create_string_utf8(env, "wakegate:netlinkDump", NAPI_AUTO_LENGTH, &name)) ||
      !wg_check(env, napi_create_reference(env, argv[2], 1, &w->callback))) {
    free(w->req);
    free(w);
    return NULL;
  }
  if (!wg_check(env, napi_create_async_work(env, NULL, name, dump_execute, dump_complete, w, &w->work))) {
    napi_delete_reference(env, w->callback);
    free(w->req);
    free(w);
    return NULL;
  }
  if (!wg_check(env, napi_queue_async_work(env, w->work))) {
    napi_delete_async_work(env, w->work);
    napi_delete_reference(env, w->callback);
    free(w->req);
    free(w);
    return NULL;
  }
  return wg_int(env, 0);
}
