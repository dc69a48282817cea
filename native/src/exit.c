/* watchExit(pidfd, cb): cb(code, signal, error) once the child behind pidfd has exited and been
 * reaped. The pidfd becomes readable at exit; waitid(P_PIDFD) then reaps exactly that child, so a
 * recycled pid can never be confused with ours. The pidfd itself stays open: the caller closes it. */
#include "wg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <uv.h>

struct watch {
  uv_poll_t poll; /* first: the uv handle pointer is the struct pointer */
  napi_env env;
  napi_ref cb;
  napi_async_context ctx;
  int pidfd;
};

static void free_watch(uv_handle_t *h) {
  free(h);
}

/* The env is going away (worker exit, process teardown) while the child still runs: drop the
 * handle without calling into JS. The references die with the env. */
static void on_env_cleanup(void *arg) {
  struct watch *w = arg;
  uv_poll_stop(&w->poll);
  uv_close((uv_handle_t *)&w->poll, free_watch);
}

/* code and sig are -1 when absent; JS gets null for them. */
static void finish(struct watch *w, int code, int sig, int err) {
  napi_env env = w->env;
  napi_handle_scope scope;
  uv_poll_stop(&w->poll);
  napi_remove_env_cleanup_hook(env, on_env_cleanup, w);
  if (napi_open_handle_scope(env, &scope) == napi_ok) {
    napi_value cb, recv, args[3], ignored;
    napi_get_global(env, &recv); /* make_callback needs an object receiver */
    napi_get_null(env, &args[0]);
    napi_get_null(env, &args[1]);
    if (code >= 0) args[0] = wg_int(env, code);
    if (sig >= 0) args[1] = wg_int(env, sig);
    args[2] = wg_int(env, err);
    /* make_callback, not call_function: it drains the microtask queue, so promise reactions run now. */
    if (napi_get_reference_value(env, w->cb, &cb) == napi_ok &&
        napi_make_callback(env, w->ctx, recv, cb, 3, args, &ignored) != napi_ok) {
      bool pending = false;
      napi_value exc;
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
          napi_get_and_clear_last_exception(env, &exc) == napi_ok) {
        napi_fatal_exception(env, exc); /* no JS frame above us: make it an uncaughtException */
      }
    }
    napi_close_handle_scope(env, scope);
  }
  napi_delete_reference(env, w->cb);
  napi_async_destroy(env, w->ctx);
  uv_close((uv_handle_t *)&w->poll, free_watch);
}

static void on_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  struct watch *w = (struct watch *)h;
  siginfo_t si;
  memset(&si, 0, sizeof si);
  int r = waitid(P_PIDFD, (id_t)w->pidfd, &si, WEXITED | WNOHANG);
  if (r < 0 && (errno == EINTR || errno == EAGAIN) && status == 0) return; /* level-triggered: retry */
  if (r == 0 && si.si_pid == 0 && status == 0) return;                     /* spurious wake-up */

  int code = -1, sig = -1, err = 0;
  if (r < 0) {
    err = -errno; /* ECHILD: someone else reaped it (a stray waitpid(-1)); the status is lost */
  } else if (si.si_pid == 0) {
    err = status; /* the poll itself failed and the child has not exited: give up watching */
  } else if (si.si_code == CLD_EXITED) {
    code = si.si_status;
  } else {
    sig = si.si_status; /* CLD_KILLED or CLD_DUMPED */
  }
  finish(w, code, sig, err);
}

napi_value wg_watch_exit(napi_env env, napi_callback_info info) {
  napi_value argv[2], name;
  int32_t pidfd;
  napi_valuetype t;
  uv_loop_t *loop;
  if (!wg_args(env, info, 2, argv) || !wg_get_int32(env, argv[0], "pidfd", &pidfd)) return NULL;
  if (!wg_check(env, napi_typeof(env, argv[1], &t))) return NULL;
  if (t != napi_function) return napi_throw_type_error(env, NULL, "cb must be a function"), NULL;
  if (!wg_check(env, napi_get_uv_event_loop(env, &loop))) return NULL;

  struct watch *w = calloc(1, sizeof *w);
  if (!w) return wg_int(env, -ENOMEM);
  int r = uv_poll_init(loop, &w->poll, pidfd);
  if (r < 0) return free(w), wg_int(env, r); /* libuv errors are -errno on Linux */
  w->env = env;
  w->pidfd = pidfd;
  if (!wg_check(env, napi_create_string_utf8(env, "wakegate.watchExit", NAPI_AUTO_LENGTH, &name)) ||
      !wg_check(env, napi_create_reference(env, argv[1], 1, &w->cb)) ||
      !wg_check(env, napi_async_init(env, NULL, name, &w->ctx))) {
    uv_close((uv_handle_t *)&w->poll, free_watch);
    return NULL;
  }
  if ((r = uv_poll_start(&w->poll, UV_READABLE, on_readable)) < 0) {
    napi_delete_reference(env, w->cb);
    napi_async_destroy(env, w->ctx);
    uv_close((uv_handle_t *)&w->poll, free_watch);
    return wg_int(env, r);
  }
  /* The handle stays ref'ed on purpose: a gateway whose children still run must not exit as if it
   * were idle and orphan them. Shutdown stops the children first, then the loop drains by itself. */
  napi_add_env_cleanup_hook(env, on_env_cleanup, w);
  return wg_int(env, 0);
}

/* reap(pidfd) -> 0 | -errno: waits for the child behind pidfd and reaps it. For the one case where no
 * watcher exists (watchExit failed) and the caller has just SIGKILLed it: without this it would stay a
 * zombie for the gateway's life. Blocking, but only for as long as a killed process takes to die. */
napi_value wg_reap(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t pidfd;
  if (!wg_args(env, info, 1, argv) || !wg_get_int32(env, argv[0], "pidfd", &pidfd)) return NULL;
  siginfo_t si;
  int r;
  while ((r = waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED)) < 0 && errno == EINTR) {}
  return wg_int(env, r < 0 ? -errno : 0);
}
