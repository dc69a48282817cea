/* Shared declarations of the wakegate addon. Every exported function returns a non-negative result
 * or -errno: the addon never decides what a failure means, the TypeScript facade does. It throws only
 * for programming errors (wrong argument types). */
#ifndef WG_H
#define WG_H

#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Everything the child needs between clone and execve. It is allocated and filled by the parent
 * beforehand, because the child of a multi-threaded process may not call malloc (or anything that
 * takes a lock another thread could have held at clone time). */
struct wg_plan {
  const char *file;
  char **argv;
  char **envp;
  const int *fds; /* sources to install at 3, 4, ... */
  int nfds;
  int *scratch;   /* nfds + 3 slots for the high duplicates */
  int stdio[3];
  bool has_stdio;
  const char *cwd;
  uid_t uid;
  bool has_uid;
  gid_t gid;
  bool has_gid;
  bool setsid;
  int death_signal;
  pid_t parent_pid;
  char *pid_digits; /* inside an envp entry "NAME=" + room for 20 digits; NULL if unused */
  int err_fd;       /* write end of the O_CLOEXEC error pipe */
  unsigned long fd_limit; /* last-resort bound of the CLOEXEC walk: no close_range and no /proc */
  const int *cgroup_fds;  /* cgroup.procs files, opened for writing, that the child joins first */
  int ncgroup_fds;
  int cgroup_fd;          /* a cgroup2 directory the child is cloned straight into (CLONE_INTO_CGROUP); -1 if none */
  int hold_fd;            /* read end of the hold pipe: the child execs only after one byte; -1 if not held */
  int hold_peer;          /* its write end, which the child closes so that the parent's death reads as EOF */
};

/* What a failed child writes to the error pipe before _exit(127). */
struct wg_child_error {
  int err;
  int step;
};

enum wg_step {
  WG_STEP_SIGNALS = 1, WG_STEP_PIPE, WG_STEP_STDIO, WG_STEP_FDS, WG_STEP_CLOEXEC, WG_STEP_SETSID,
  WG_STEP_SETGROUPS, WG_STEP_SETGID, WG_STEP_SETUID, WG_STEP_PDEATHSIG, WG_STEP_CHDIR, WG_STEP_EXECVE,
  WG_STEP_CGROUP,
  WG_STEP_HELD, /* not a failure: a held child is set up and waits for its release (err is 0) */
};

_Noreturn void wg_child_exec(struct wg_plan *p);
/* clone.c: clones the child, which runs wg_child_exec; the pid in the parent, -1 with errno. forked: fell back to fork. */
pid_t wg_clone(struct wg_plan *p, int *pidfd, bool *forked);
const char *wg_step_name(int step);

/* N-API helpers (util.c). Those returning bool have thrown a TypeError when they return false. */
bool wg_check(napi_env env, napi_status status);
bool wg_get_int32(napi_env env, napi_value v, const char *what, int32_t *out);
char *wg_get_string(napi_env env, napi_value v, const char *what);
char **wg_get_strings(napi_env env, napi_value arr, const char *what, size_t extra, size_t *count);
void wg_free_strings(char **list);
bool wg_get_opt(napi_env env, napi_value obj, const char *key, napi_value *out);
napi_value wg_int(napi_env env, int64_t v);
bool wg_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv);

napi_value wg_spawn(napi_env env, napi_callback_info info);
napi_value wg_spawn_release(napi_env env, napi_callback_info info);
napi_value wg_watch_exit(napi_env env, napi_callback_info info);
napi_value wg_pidfd_send_signal(napi_env env, napi_callback_info info);
napi_value wg_unix_listen(napi_env env, napi_callback_info info);
napi_value wg_close(napi_env env, napi_callback_info info);
napi_value wg_pipe(napi_env env, napi_callback_info info);
napi_value wg_flock(napi_env env, napi_callback_info info);
napi_value wg_reap(napi_env env, napi_callback_info info);
napi_value wg_pidfd_open(napi_env env, napi_callback_info info);
napi_value wg_eventfd(napi_env env, napi_callback_info info);
napi_value wg_malloc_trim(napi_env env, napi_callback_info info);
napi_value wg_poll_readable(napi_env env, napi_callback_info info);
napi_value wg_poll_stop(napi_env env, napi_callback_info info);
napi_value wg_epoll_create(napi_env env, napi_callback_info info);
napi_value wg_epoll_add(napi_env env, napi_callback_info info);
napi_value wg_epoll_del(napi_env env, napi_callback_info info);
napi_value wg_epoll_wait(napi_env env, napi_callback_info info);
napi_value wg_inet_listen(napi_env env, napi_callback_info info);
napi_value wg_getsockname(napi_env env, napi_callback_info info);
napi_value wg_netlink_dump(napi_env env, napi_callback_info info);
napi_value wg_notify(napi_env env, napi_callback_info info);
napi_value wg_socket_info(napi_env env, napi_callback_info info);
napi_value wg_set_cloexec(napi_env env, napi_callback_info info);
napi_value wg_unix_connect(napi_env env, napi_callback_info info);

#endif
