/* flock(2) for the runtimeDir lock. Which lock to take, and what EWOULDBLOCK means, is the facade's call. */
#include "wg.h"

#include <errno.h>
#include <sys/file.h>

/* flock(fd, operation) -> 0 or -errno. Retried on EINTR: a signal arriving during a blocking lock is not a failure. */
napi_value wg_flock(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd, op;
  if (!wg_args(env, info, 2, argv) || !wg_get_int32(env, argv[0], "fd", &fd) || !wg_get_int32(env, argv[1], "operation", &op)) {
    return NULL;
  }
  int r;
  do r = flock(fd, op);
  while (r < 0 && errno == EINTR);
  return wg_int(env, r < 0 ? -errno : 0);
}
