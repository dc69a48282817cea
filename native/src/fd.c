/* Small fd-level syscalls: the app socket, pipes for a child's output, a client stream socket, close, pidfd signals, eventfds. */
#include "wg.h"

#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

/* addr for path: -EINVAL for an empty path, -ENAMETOOLONG for one without room for its NUL (a path
 * filling sun_path exactly works on Linux but not for every client). */
static int unix_addr(const char *path, struct sockaddr_un *addr) {
  size_t len = strlen(path);
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (len == 0) return -EINVAL;
  if (len >= sizeof addr->sun_path) return -ENAMETOOLONG;
  memcpy(addr->sun_path, path, len);
  return 0;
}

/* unixListen(path, backlog, mode, gid) -> fd. The gateway never accepts on it: connects queue in the
 * backlog until an instance, which inherits it as fd 3, accepts. It is created blocking, as systemd does
 * by default, because O_NONBLOCK lives in the shared file description: a nonblocking socket would make
 * a plain blocking accept() in the instance fail with EAGAIN. Apps that want nonblocking set it.
 *
 * The socket file gets its group (gid >= 0) and then its mode (mode >= 0) between bind and listen: a
 * connect to a bound socket that does not listen yet is refused (ECONNREFUSED), so no client can get in
 * while the file still has the mode the umask gave it, nor queue a connection that the final mode would
 * have kept out. Group before mode, so the group never has write on a file that is not yet its own. A
 * failure there removes the file again. fchmod/fchown on the socket fd would change the socket's own
 * inode, not the file connect(2) checks; hence the path. */
napi_value wg_unix_listen(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t backlog, mode;
  int64_t gid; /* gids go up to 2^32 - 2, past int32 */
  if (!wg_args(env, info, 4, argv) || !wg_get_int32(env, argv[1], "backlog", &backlog) || !wg_get_int32(env, argv[2], "mode", &mode)) return NULL;
  if (!wg_check(env, napi_get_value_int64(env, argv[3], &gid))) return NULL;
  if (gid > (int64_t)UINT32_MAX - 1 || mode > 07777) return wg_int(env, -EINVAL);
  char *path = wg_get_string(env, argv[0], "path");
  if (!path) return NULL;
  struct sockaddr_un addr;
  int bad = unix_addr(path, &addr);
  if (bad < 0) {
    free(path);
    return wg_int(env, bad);
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    int err = errno;
    free(path);
    return wg_int(env, -err);
  }
  int err = 0;
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    err = errno;
  } else if ((gid >= 0 && chown(path, (uid_t)-1, (gid_t)gid) < 0) || (mode >= 0 && chmod(path, (mode_t)mode) < 0) || listen(fd, backlog) < 0) {
    err = errno;
    unlink(path);
  }
  free(path);
  if (err != 0) {
    close(fd);
    return wg_int(env, -err);
  }
  return wg_int(env, fd);
}

napi_value wg_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!wg_args(env, info, 1, argv) || !wg_get_int32(env, argv[0], "fd", &fd)) return NULL;
  /* On Linux the fd is released even when close reports EINTR: retrying could close a reused number. */
  if (close(fd) < 0 && errno != EINTR) return wg_int(env, -errno);
  return wg_int(env, 0);
}

napi_value wg_pipe(napi_env env, napi_callback_info info) {
  (void)info;
  int p[2];
  napi_value out;
  if (pipe2(p, O_CLOEXEC) < 0) return wg_int(env, -errno);
  if (!wg_check(env, napi_create_array_with_length(env, 2, &out)) ||
      !wg_check(env, napi_set_element(env, out, 0, wg_int(env, p[0]))) ||
      !wg_check(env, napi_set_element(env, out, 1, wg_int(env, p[1])))) {
    close(p[0]);
    close(p[1]);
    return NULL;
  }
  return out;
}

napi_value wg_pidfd_send_signal(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t pidfd, sig;
  if (!wg_args(env, info, 2, argv) || !wg_get_int32(env, argv[0], "pidfd", &pidfd) ||
      !wg_get_int32(env, argv[1], "sig", &sig)) {
    return NULL;
  }
  if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0) return wg_int(env, -errno);
  return wg_int(env, 0);
}

/* pidfdOpen(pid) -> pidfd | -errno (ESRCH when gone). O_CLOEXEC is implied by pidfd_open. */
napi_value wg_pidfd_open(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t pid;
  if (!wg_args(env, info, 1, argv) || !wg_get_int32(env, argv[0], "pid", &pid)) return NULL;
  int fd = (int)syscall(SYS_pidfd_open, pid, 0);
  return wg_int(env, fd < 0 ? -errno : fd);
}

/* eventfd() -> fd | -errno: a counter the kernel adds to, for cgroup v1 notifications (cgroup.event_control).
 * Non-blocking, so that reading an unsignalled one answers EAGAIN instead of stalling the loop. */
napi_value wg_eventfd(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  return wg_int(env, fd < 0 ? -errno : fd);
}

/* unixConnect(path) -> fd | -errno: an AF_UNIX stream socket (O_CLOEXEC) connected to path. The connect
 * is non-blocking, so a listener whose backlog is full answers EAGAIN at once instead of stalling the
 * caller's event loop; the socket is then made blocking, because its file description is shared with
 * whoever gets the fd (a child's stdout), and a program writing to stdout expects blocking writes. */
napi_value wg_unix_connect(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!wg_args(env, info, 1, argv)) return NULL;
  char *path = wg_get_string(env, argv[0], "path");
  if (!path) return NULL;
  struct sockaddr_un addr;
  int bad = unix_addr(path, &addr);
  free(path);
  if (bad < 0) return wg_int(env, bad);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return wg_int(env, -errno);
  int flags;
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || (flags = fcntl(fd, F_GETFL)) < 0 ||
      fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
    int err = errno;
    close(fd);
    return wg_int(env, -err);
  }
  return wg_int(env, fd);
}
