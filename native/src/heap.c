/* mallocTrim() -> 1 when memory went back to the kernel, else 0: glibc's malloc_trim(0). glibc keeps what
 * was freed in the middle of its heap (only a free top is returned), so a burst of short-lived native
 * allocations (V8's GC and compiler zones, stream buffers) stays in RSS for good. When to trim is the
 * facade's caller's call; where libc has no malloc_trim (musl), nothing is done. */
#include "wg.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

napi_value wg_malloc_trim(napi_env env, napi_callback_info info) {
  (void)info;
#ifdef __GLIBC__
  return wg_int(env, malloc_trim(0));
#else
  return wg_int(env, 0);
#endif
}
