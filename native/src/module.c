/* Registers the addon's functions. Context-aware (NAPI_MODULE_INIT), so workers may load it too. */
#include "wg.h"

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
    {"spawn", NULL, wg_spawn, NULL, NULL, NULL, napi_enumerable, NULL},
    {"watchExit", NULL, wg_watch_exit, NULL, NULL, NULL, napi_enumerable, NULL},
    {"pidfdSendSignal", NULL, wg_pidfd_send_signal, NULL, NULL, NULL, napi_enumerable, NULL},
    {"unixListen", NULL, wg_unix_listen, NULL, NULL, NULL, napi_enumerable, NULL},
    {"close", NULL, wg_close, NULL, NULL, NULL, napi_enumerable, NULL},
    {"pipe", NULL, wg_pipe, NULL, NULL, NULL, napi_enumerable, NULL},
    {"flock", NULL, wg_flock, NULL, NULL, NULL, napi_enumerable, NULL},
    {"reap", NULL, wg_reap, NULL, NULL, NULL, napi_enumerable, NULL},
    {"pidfdOpen", NULL, wg_pidfd_open, NULL, NULL, NULL, napi_enumerable, NULL},
    {"pollReadable", NULL, wg_poll_readable, NULL, NULL, NULL, napi_enumerable, NULL},
    {"pollStop", NULL, wg_poll_stop, NULL, NULL, NULL, napi_enumerable, NULL},
    {"epollCreate", NULL, wg_epoll_create, NULL, NULL, NULL, napi_enumerable, NULL},
    {"epollAdd", NULL, wg_epoll_add, NULL, NULL, NULL, napi_enumerable, NULL},
    {"epollDel", NULL, wg_epoll_del, NULL, NULL, NULL, napi_enumerable, NULL},
    {"epollWait", NULL, wg_epoll_wait, NULL, NULL, NULL, napi_enumerable, NULL},
    {"inetListen", NULL, wg_inet_listen, NULL, NULL, NULL, napi_enumerable, NULL},
    {"getsockname", NULL, wg_getsockname, NULL, NULL, NULL, napi_enumerable, NULL},
    {"netlinkDump", NULL, wg_netlink_dump, NULL, NULL, NULL, napi_enumerable, NULL},
    {"notify", NULL, wg_notify, NULL, NULL, NULL, napi_enumerable, NULL},
    {"socketInfo", NULL, wg_socket_info, NULL, NULL, NULL, napi_enumerable, NULL},
    {"setCloexec", NULL, wg_set_cloexec, NULL, NULL, NULL, napi_enumerable, NULL},
    {"eventfd", NULL, wg_eventfd, NULL, NULL, NULL, napi_enumerable, NULL},
    {"spawnRelease", NULL, wg_spawn_release, NULL, NULL, NULL, napi_enumerable, NULL},
    {"unixConnect", NULL, wg_unix_connect, NULL, NULL, NULL, napi_enumerable, NULL},
    {"mallocTrim", NULL, wg_malloc_trim, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
