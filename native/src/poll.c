/* pollReadable(fd, cb) -> handle | -errno, pollStop(handle) -> 0: a uv_poll_t on fd, readable only.
 * Level-triggered, as uv_poll is: cb(0) runs in every loop iteration in which fd is readable, for a
 * listening socket as long as a connection waits in its accept queue. It never reads or accepts: what
 * readability means is the caller's business. cb(-errno) reports a failed poll; the watch has then
 * stopped and the caller still calls pollStop.
 *
 * The handle stays ref'ed, like a listening server: a gateway that watches a socket for its app is
 * serving and must not exit as if idle. Stopping the watch (or env teardown) releases the loop. */
#include "wg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <uv.h>

struct poller {
  uv_poll_t poll; /* first: the uv handle pointer is the struct pointer */
  napi_env env;
  napi_ref cb;
  napi_async_context ctx;
  bool stopped; /* no callback may run from now on; the uv handle is closing or closed */
  bool in_callback; /* cb is running: its async context must outlive napi_make_callback */
  bool deferred;    /* stopped inside cb: on_readable closes the handle once cb has returned */
  int owners;   /* the uv handle (until its close callback) and the JS external (until finalized) */
};

static void release(struct poller *p) {
  if (--p->owners == 0) free(p);
}

static void on_closed(uv_handle_t *h) {
  release((struct poller *)h);
}

static void on_env_cleanup(void *arg) {
  /* The env is going away: its references die with it, and JS must not be called any more. */
  struct poller *p = arg;
  if (p->stopped) return;
  p->stopped = true;
  uv_poll_stop(&p->poll);
  uv_close((uv_handle_t *)&p->poll, on_closed);
}

static void finish_stop(struct poller *p) {
  napi_async_destroy(p->env, p->ctx);
  uv_close((uv_handle_t *)&p->poll, on_closed);
}

/* Idempotent, and allowed inside cb. The references are deleted here, not in the finalizer, so that a stopped watch keeps no
 * JS function alive while its external waits for GC. */
static void stop_alive(struct poller *p) {
  if (p->stopped) return;
  p->stopped = true;
  uv_poll_stop(&p->poll);
  napi_remove_env_cleanup_hook(p->env, on_env_cleanup, p);
  napi_delete_reference(p->env, p->cb);
  if (p->in_callback) p->deferred = true;
  else finish_stop(p);
}

static void on_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  release(data);
}

static void on_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  struct poller *p = (struct poller *)h;
  if (p->stopped) return; /* libuv drops events of a stopped handle; this guards against a stop in a sibling's callback anyway */
  if (status < 0) uv_poll_stop(&p->poll); /* a failed poll would fire again at once: report it once */
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, arg, ignored;
  napi_get_global(env, &recv);
  arg = wg_int(env, status);
  p->in_callback = true;
  /* make_callback drains the microtask queue, so promise reactions run now (as for watchExit). */
  if (napi_get_reference_value(env, p->cb, &cb) == napi_ok && napi_make_callback(env, p->ctx, recv, cb, 1, &arg, &ignored) != napi_ok) {
    bool pending = false;
    napi_value exc;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending && napi_get_and_clear_last_exception(env, &exc) == napi_ok) {
      napi_fatal_exception(env, exc);
    }
  }
  p->in_callback = false;
  napi_close_handle_scope(env, scope);
  if (p->deferred) finish_stop(p);
}

napi_value wg_poll_readable(napi_env env, napi_callback_info info) {
  napi_value argv[2], name, out;
  int32_t fd;
  napi_valuetype t;
  uv_loop_t *loop;
  if (!wg_args(env, info, 2, argv) || !wg_get_int32(env, argv[0], "fd", &fd)) return NULL;
  if (!wg_check(env, napi_typeof(env, argv[1], &t))) return NULL;
  if (t != napi_function) return napi_throw_type_error(env, NULL, "cb must be a function"), NULL;
  if (!wg_check(env, napi_get_uv_event_loop(env, &loop))) return NULL;

  /* uv_poll_init makes the fd non-blocking, and O_NONBLOCK lives in the file description that the
   * instance inherits: its plain blocking accept() would then fail with EAGAIN. Watching readiness
   * does not need it (epoll works on blocking fds), so the fd's own mode is put back. */
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return wg_int(env, -errno);
  struct poller *p = calloc(1, sizeof *p);
  if (!p) return wg_int(env, -ENOMEM);
  int r = uv_poll_init(loop, &p->poll, fd);
  if (r < 0) return free(p), wg_int(env, r); /* libuv errors are -errno on Linux */
  p->owners = 1;
  p->env = env;
  if (fcntl(fd, F_SETFL, flags) < 0) {
    r = -errno;
    p->stopped = true;
    uv_close((uv_handle_t *)&p->poll, on_closed);
    return wg_int(env, r);
  }
  if (!wg_check(env, napi_create_string_utf8(env, "wakegate.pollReadable", NAPI_AUTO_LENGTH, &name)) ||
      !wg_check(env, napi_create_reference(env, argv[1], 1, &p->cb)) ||
      !wg_check(env, napi_async_init(env, NULL, name, &p->ctx))) {
    if (p->cb) napi_delete_reference(env, p->cb);
    p->stopped = true;
    uv_close((uv_handle_t *)&p->poll, on_closed);
    return NULL;
  }
  if ((r = uv_poll_start(&p->poll, UV_READABLE, on_readable)) < 0) {
    napi_delete_reference(env, p->cb);
    napi_async_destroy(env, p->ctx);
    p->stopped = true;
    uv_close((uv_handle_t *)&p->poll, on_closed);
    return wg_int(env, r);
  }
  if (!wg_check(env, napi_create_external(env, p, on_finalize, NULL, &out))) {
    stop_alive(p);
    return NULL;
  }
  p->owners = 2;
  napi_add_env_cleanup_hook(env, on_env_cleanup, p);
  return out;
}

napi_value wg_poll_stop(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  napi_valuetype t;
  void *data = NULL;
  if (!wg_args(env, info, 1, argv) || !wg_check(env, napi_typeof(env, argv[0], &t))) return NULL;
  if (t != napi_external) return napi_throw_type_error(env, NULL, "handle must come from pollReadable"), NULL;
  if (!wg_check(env, napi_get_value_external(env, argv[0], &data))) return NULL;
  stop_alive(data);
  return wg_int(env, 0);
}
