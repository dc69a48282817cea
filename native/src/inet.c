/* inetListen(host, port, backlog) -> fd | -errno and getsockname(fd) -> { family, address, port } | -errno:
 * the TCP listening sockets of socket-mode apps. Like unixListen, the gateway never accepts on them. */
#include "wg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* host is a numeric IPv4 or IPv6 address (no brackets, no names, no %scope): the config has resolved
 * nothing, and a name could map to several addresses. Anything else is -EINVAL.
 *
 * Created blocking (see unixListen): O_NONBLOCK would be shared with the instance through the file
 * description and break its plain accept(). Runtimes that want non-blocking (libuv does) set it.
 * SO_REUSEADDR lets a restarted gateway bind while old connections sit in TIME_WAIT; it does not allow
 * two listeners on one address on Linux, so EADDRINUSE still means someone else holds it.
 * IPV6_V6ONLY=1 for v6: an address means exactly that address. A dual-stack "::" would also take
 * 0.0.0.0 of the same port (so another app could not have it), and its IPv4 peers would appear as
 * v4-mapped addresses that the kernel counters would have to translate. */
napi_value wg_inet_listen(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t port, backlog;
  if (!wg_args(env, info, 3, argv) || !wg_get_int32(env, argv[1], "port", &port) ||
      !wg_get_int32(env, argv[2], "backlog", &backlog)) {
    return NULL;
  }
  char *host = wg_get_string(env, argv[0], "host");
  if (!host) return NULL;
  if (port < 0 || port > 65535) return free(host), wg_int(env, -EINVAL);
  struct sockaddr_storage ss;
  socklen_t len;
  memset(&ss, 0, sizeof ss);
  struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    len = sizeof *v6;
  } else {
    free(host);
    return wg_int(env, -EINVAL);
  }
  free(host);
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return wg_int(env, -errno);
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) ||
      bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, backlog) < 0) {
    int err = errno;
    close(fd);
    return wg_int(env, -err);
  }
  return wg_int(env, fd);
}

static bool set_named(napi_env env, napi_value obj, const char *key, napi_value v) {
  return v && wg_check(env, napi_set_named_property(env, obj, key, v));
}

static napi_value str(napi_env env, const char *s) {
  napi_value v = NULL;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  return v;
}

/* family is "inet", "inet6" or "unix"; an unnamed unix socket has address "". */
napi_value wg_getsockname(napi_env env, napi_callback_info info) {
  napi_value argv[1], out;
  int32_t fd;
  if (!wg_args(env, info, 1, argv) || !wg_get_int32(env, argv[0], "fd", &fd)) return NULL;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  memset(&ss, 0, sizeof ss);
  if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return wg_int(env, -errno);
  char text[INET6_ADDRSTRLEN > sizeof(((struct sockaddr_un *)0)->sun_path) ? INET6_ADDRSTRLEN : sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
  const char *family;
  int port = 0;
  memset(text, 0, sizeof text);
  if (ss.ss_family == AF_INET) {
    family = "inet";
    inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, text, sizeof text);
    port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    family = "inet6";
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, text, sizeof text);
    port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  } else if (ss.ss_family == AF_UNIX) {
    family = "unix";
    size_t n = len > offsetof(struct sockaddr_un, sun_path) ? len - offsetof(struct sockaddr_un, sun_path) : 0;
    if (n >= sizeof text) n = sizeof text - 1;
    memcpy(text, ((struct sockaddr_un *)&ss)->sun_path, n); /* an abstract name starts with NUL and reads as "" */
  } else {
    return wg_int(env, -EAFNOSUPPORT);
  }
  if (!wg_check(env, napi_create_object(env, &out)) || !set_named(env, out, "family", str(env, family)) ||
      !set_named(env, out, "address", str(env, text)) || !set_named(env, out, "port", wg_int(env, port))) {
    return NULL;
  }
  return out;
}
