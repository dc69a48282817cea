/* What the gateway needs as a systemd service: sd_notify's datagram with optional SCM_RIGHTS, and the
 * probes of sd_listen_fds (socket domain, type, listening; close-on-exec). Policy (which message, when,
 * what a failure means) is the facade's. */
#include "wg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* At most this many fds in one message: the kernel's own SCM_MAX_FD is 253. */
#define WG_NOTIFY_MAX_FDS 253

/* notify(path, message, fds) -> 0 | -errno. One sendmsg on a fresh AF_UNIX SOCK_DGRAM socket: a leading
 * '@' in path names the abstract namespace, as $NOTIFY_SOCKET writes it. Blocking, as sd_notify is: the
 * receiver (PID 1) reads its queue at once, and a lost READY=1 would be worse than a short wait. */
napi_value wg_notify(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!wg_args(env, info, 3, argv)) return NULL;
  char *path = wg_get_string(env, argv[0], "path");
  if (!path) return NULL;
  char *message = wg_get_string(env, argv[1], "message");
  if (!message) return free(path), NULL;
  uint32_t nfds = 0;
  int fds[WG_NOTIFY_MAX_FDS];
  bool is_array = false;
  if (!wg_check(env, napi_is_array(env, argv[2], &is_array)) || !is_array ||
      !wg_check(env, napi_get_array_length(env, argv[2], &nfds))) {
    free(path), free(message);
    if (!is_array) napi_throw_type_error(env, NULL, "fds must be an array");
    return NULL;
  }
  if (nfds > WG_NOTIFY_MAX_FDS) return free(path), free(message), wg_int(env, -E2BIG);
  for (uint32_t i = 0; i < nfds; i++) {
    napi_value v;
    int32_t fd;
    if (!wg_check(env, napi_get_element(env, argv[2], i, &v)) || !wg_get_int32(env, v, "fds[i]", &fd)) {
      free(path), free(message);
      return NULL;
    }
    fds[i] = fd;
  }
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  size_t len = strlen(path);
  if (len < 2 || len >= sizeof addr.sun_path || (path[0] != '/' && path[0] != '@')) {
    bool empty = len < 2;
    free(path), free(message);
    return wg_int(env, empty ? -EINVAL : len >= sizeof addr.sun_path ? -ENAMETOOLONG : -EINVAL);
  }
  memcpy(addr.sun_path, path, len);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
  socklen_t addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '@' ? 0 : 1));
  free(path);

  struct iovec iov = {.iov_base = message, .iov_len = strlen(message)};
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * WG_NOTIFY_MAX_FDS)];
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr msg = {.msg_name = &addr, .msg_namelen = addr_len, .msg_iov = &iov, .msg_iovlen = 1};
  if (nfds > 0) {
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return free(message), wg_int(env, -errno);
  ssize_t sent;
  do sent = sendmsg(s, &msg, MSG_NOSIGNAL);
  while (sent < 0 && errno == EINTR);
  int err = sent < 0 ? errno : 0;
  close(s);
  free(message);
  return wg_int(env, -err);
}

static bool set_int(napi_env env, napi_value obj, const char *key, int64_t v) {
  napi_value value = wg_int(env, v);
  return value && wg_check(env, napi_set_named_property(env, obj, key, value));
}

/* socketInfo(fd) -> { domain, type, listening } | -errno (ENOTSOCK for a non-socket). domain and type are
 * the raw AF_* and SOCK_* numbers; listening is SO_ACCEPTCONN. */
napi_value wg_socket_info(napi_env env, napi_callback_info info) {
  napi_value argv[1], out;
  int32_t fd;
  if (!wg_args(env, info, 1, argv) || !wg_get_int32(env, argv[0], "fd", &fd)) return NULL;
  int domain = 0, type = 0, accepting = 0;
  socklen_t l1 = sizeof domain, l2 = sizeof type, l3 = sizeof accepting;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &l1) < 0 || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l2) < 0 ||
      getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &l3) < 0) {
    return wg_int(env, -errno);
  }
  napi_value listening;
  if (!wg_check(env, napi_create_object(env, &out)) || !set_int(env, out, "domain", domain) || !set_int(env, out, "type", type) ||
      !wg_check(env, napi_get_boolean(env, accepting != 0, &listening)) ||
      !wg_check(env, napi_set_named_property(env, out, "listening", listening))) {
    return NULL;
  }
  return out;
}

/* setCloexec(fd) -> 0 | -errno: sets FD_CLOEXEC, keeping the other fd flags. */
napi_value wg_set_cloexec(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!wg_args(env, info, 1, argv) || !wg_get_int32(env, argv[0], "fd", &fd)) return NULL;
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0 || fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) return wg_int(env, -errno);
  return wg_int(env, 0);
}
