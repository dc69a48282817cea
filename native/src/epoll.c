/* One epoll set in the hands of the caller: epollCreate, epollAdd, epollDel, epollWait. Each returns
 * -errno on failure and decides nothing; which fds go in and what an event means is the facade's.
 *
 * Entries are EPOLLIN and level-triggered, carrying a caller's token (int32 >= 0) instead of the fd:
 * the caller keeps its own table and needs no lookup by fd. Adding an fd does not touch its O_NONBLOCK
 * (unlike uv_poll_init), which matters for a listening socket whose file description an instance
 * shares and accepts on blocking. epollWait never blocks: the set's own fd is watched by the event loop
 * (pollReadable), and this only collects what is ready. */
#include "wg.h"

#include <errno.h>
#include <sys/epoll.h>

/* Events taken per epollWait, whatever the size of the caller's array: bounds the stack. */
#define WG_EPOLL_BATCH 256

napi_value wg_epoll_create(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = epoll_create1(EPOLL_CLOEXEC);
  return wg_int(env, fd < 0 ? -errno : fd);
}

napi_value wg_epoll_add(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t epfd, fd, token;
  if (!wg_args(env, info, 3, argv) || !wg_get_int32(env, argv[0], "epfd", &epfd) || !wg_get_int32(env, argv[1], "fd", &fd) ||
      !wg_get_int32(env, argv[2], "token", &token)) {
    return NULL;
  }
  /* Negative values are how epollWait marks a hang-up: a negative token could not be told from one. */
  if (token < 0) return wg_int(env, -EINVAL);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)token};
  return wg_int(env, epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0);
}

napi_value wg_epoll_del(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t epfd, fd;
  if (!wg_args(env, info, 2, argv) || !wg_get_int32(env, argv[0], "epfd", &epfd) || !wg_get_int32(env, argv[1], "fd", &fd)) return NULL;
  return wg_int(env, epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0);
}

/* epollWait(epfd, out: Int32Array) -> n | -errno: fills out[0..n) with the ready entries' tokens, n at
 * most min(out.length, WG_EPOLL_BATCH). An entry with EPOLLERR or EPOLLHUP (with or without EPOLLIN) is
 * written as -1 - token. The caller's array is reused across calls: nothing is allocated per call. */
napi_value wg_epoll_wait(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t epfd;
  bool is_typed = false;
  napi_typedarray_type type;
  size_t length = 0;
  void *data = NULL;
  if (!wg_args(env, info, 2, argv) || !wg_get_int32(env, argv[0], "epfd", &epfd)) return NULL;
  if (!wg_check(env, napi_is_typedarray(env, argv[1], &is_typed))) return NULL;
  if (is_typed && !wg_check(env, napi_get_typedarray_info(env, argv[1], &type, &length, &data, NULL, NULL))) return NULL;
  if (!is_typed || type != napi_int32_array) return napi_throw_type_error(env, NULL, "out must be an Int32Array"), NULL;
  int max = length < WG_EPOLL_BATCH ? (int)length : WG_EPOLL_BATCH;
  if (max == 0) return wg_int(env, 0);
  struct epoll_event ev[WG_EPOLL_BATCH];
  int n = epoll_wait(epfd, ev, max, 0);
  if (n < 0) return wg_int(env, -errno);
  int32_t *out = data;
  for (int i = 0; i < n; i++) {
    int32_t token = (int32_t)ev[i].data.u64;
    out[i] = (ev[i].events & (EPOLLERR | EPOLLHUP)) ? -1 - token : token;
  }
  return wg_int(env, n);
}
