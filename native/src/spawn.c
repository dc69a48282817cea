/* spawn(file, argv, envp, fds, opts) -> {pid, pidfd} | {error: -errno, step: syscall name}.
 * The parent half: copy every argument out of V8, clone, and learn through a CLOEXEC pipe whether
 * execve happened (EOF) or which step failed (a wg_child_error). With opts.hold the child stops short
 * of execve: spawn returns once it is set up, with releaseFd (write end of its hold pipe) and execFd
 * (read end of the error pipe); spawnRelease(releaseFd, execFd) lets it exec. */
#include "wg.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PID_DIGITS 21

static napi_value failure(napi_env env, int err, const char *step) {
  napi_value out, s;
  if (!wg_check(env, napi_create_object(env, &out))) return NULL;
  napi_create_string_utf8(env, step, NAPI_AUTO_LENGTH, &s);
  napi_set_named_property(env, out, "error", wg_int(env, err));
  napi_set_named_property(env, out, "step", s);
  return out;
}

/* release_fd and exec_fd are -1 unless the child is held. */
static napi_value started(napi_env env, int pid, int pidfd, int release_fd, int exec_fd) {
  napi_value out;
  if (!wg_check(env, napi_create_object(env, &out))) return NULL;
  napi_set_named_property(env, out, "pid", wg_int(env, pid));
  napi_set_named_property(env, out, "pidfd", wg_int(env, pidfd));
  if (release_fd >= 0) {
    napi_set_named_property(env, out, "releaseFd", wg_int(env, release_fd));
    napi_set_named_property(env, out, "execFd", wg_int(env, exec_fd));
  }
  return out;
}

static void close_if(int fd) {
  if (fd >= 0) close(fd);
}

static bool get_opt_int(napi_env env, napi_value opts, const char *key, int32_t *out, bool *has) {
  napi_value v;
  *has = wg_get_opt(env, opts, key, &v);
  return !*has || wg_get_int32(env, v, key, out);
}

/* Fills the option fields of the plan; false when a TypeError was thrown. */
static bool read_opts(napi_env env, napi_value opts, struct wg_plan *p, char **cwd, bool *hold) {
  napi_value v;
  int32_t n = 0;
  bool has = false;
  if (wg_get_opt(env, opts, "cwd", &v) && !(*cwd = wg_get_string(env, v, "opts.cwd"))) return false;
  p->cwd = *cwd;
  if (!get_opt_int(env, opts, "uid", &n, &p->has_uid)) return false;
  p->uid = (uid_t)n;
  if (!get_opt_int(env, opts, "gid", &n, &p->has_gid)) return false;
  p->gid = (gid_t)n;
  if (!get_opt_int(env, opts, "deathSignal", &p->death_signal, &has)) return false;
  if (!get_opt_int(env, opts, "cgroupFd", &p->cgroup_fd, &has)) return false;
  if (wg_get_opt(env, opts, "setsid", &v) && !wg_check(env, napi_get_value_bool(env, v, &p->setsid))) return false;
  if (wg_get_opt(env, opts, "hold", &v) && !wg_check(env, napi_get_value_bool(env, v, hold))) return false;
  if (wg_get_opt(env, opts, "cgroupProcs", &v)) {
    uint32_t count = 0;
    if (!wg_check(env, napi_get_array_length(env, v, &count))) return false;
    int *list = calloc(count + 1, sizeof *list);
    if (!list) return napi_throw_error(env, NULL, "out of memory"), false;
    p->cgroup_fds = list; /* freed by the caller, also on failure */
    for (uint32_t i = 0; i < count; i++) {
      napi_value item;
      if (!wg_check(env, napi_get_element(env, v, i, &item)) || !wg_get_int32(env, item, "opts.cgroupProcs[i]", &list[i])) return false;
    }
    p->ncgroup_fds = (int)count;
  }
  if (wg_get_opt(env, opts, "stdio", &v)) {
    p->has_stdio = true;
    for (uint32_t i = 0; i < 3; i++) {
      napi_value item;
      if (!wg_check(env, napi_get_element(env, v, i, &item))) return false;
      if (!wg_get_int32(env, item, "opts.stdio[i]", &p->stdio[i])) return false;
    }
  }
  return true;
}

/* Reserves envp[slot] = "NAME=" + room for the pid, which the child fills after clone. */
static bool pid_slot(napi_env env, napi_value opts, struct wg_plan *p, size_t slot) {
  napi_value v;
  if (!wg_get_opt(env, opts, "pidEnv", &v)) return true;
  char *name = wg_get_string(env, v, "opts.pidEnv");
  if (!name) return false;
  size_t len = strlen(name);
  char *entry = malloc(len + 1 + PID_DIGITS + 1);
  if (!entry) return free(name), napi_throw_error(env, NULL, "out of memory"), false;
  memcpy(entry, name, len);
  entry[len] = '=';
  strcpy(entry + len + 1, "0");
  free(name);
  p->envp[slot] = entry;
  p->pid_digits = entry + len + 1;
  return true;
}

static void reap(pid_t pid) {
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
}

static napi_value run(napi_env env, struct wg_plan *p, bool hold) {
  int pipefd[2], holdfd[2] = {-1, -1};
  struct rlimit rl;
  /* Only used without close_range and without /proc. An fd can sit above the soft limit (opened before
   * it was lowered) but not above the hard one, which Linux keeps at or below fs.nr_open: RLIM_INFINITY
   * is refused for RLIMIT_NOFILE, and is mapped to nr_open's default if it ever shows up. */
  p->fd_limit = 1UL << 20;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY) p->fd_limit = rl.rlim_max;
  if (pipe2(pipefd, O_CLOEXEC) < 0) return failure(env, -errno, "pipe2");
  if (hold && pipe2(holdfd, O_CLOEXEC) < 0) {
    int err = errno;
    close(pipefd[0]);
    close(pipefd[1]);
    return failure(env, -err, "pipe2");
  }
  p->err_fd = pipefd[1];
  p->hold_fd = holdfd[0];
  p->hold_peer = holdfd[1];
  p->parent_pid = getpid();

  /* Block every signal across clone so that no Node handler runs in the child before it resets them. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int pidfd = -1;
  bool forked = false;
  pid_t pid = wg_clone(p, &pidfd, &forked);
  int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  close(pipefd[1]);
  close_if(holdfd[0]);
  if (pid < 0) {
    close(pipefd[0]);
    close_if(holdfd[1]);
    /* A distinct step: CLONE_INTO_CGROUP is refused (ENOSYS, EPERM: no clone3; EINVAL, E2BIG: kernel < 5.7). */
    const char *step = forked ? "fork" : p->cgroup_fd >= 0 ? "clone_into_cgroup" : "clone3";
    return failure(env, -clone_errno, step);
  }

  struct wg_child_error e = {0, 0};
  ssize_t n;
  while ((n = read(pipefd[0], &e, sizeof e)) < 0 && errno == EINTR) {}
  int read_errno = errno;
  /* Not held: EOF is execve. Held: the report of its set-up, and the error pipe stays open for execve. */
  bool ok = hold ? n == (ssize_t)sizeof e && e.step == WG_STEP_HELD : n == 0;
  if (!ok) {
    /* The child failed before execve (or the pipe broke): it is ours to reap, not the watcher's. */
    close(pipefd[0]);
    close_if(holdfd[1]);
    if (n < 0) kill(pid, SIGKILL);
    reap(pid);
    if (pidfd >= 0) close(pidfd);
    if (n == (ssize_t)sizeof e) return failure(env, -e.err, wg_step_name(e.step));
    return failure(env, n < 0 ? -read_errno : -EPROTO, "read");
  }
  if (!hold) close(pipefd[0]);
  if (forked && (pidfd = (int)syscall(SYS_pidfd_open, pid, 0)) < 0) {
    int err = errno;
    kill(pid, SIGKILL);
    if (hold) {
      close(pipefd[0]);
      close(holdfd[1]);
    }
    reap(pid);
    return failure(env, -err, "pidfd_open");
  }
  return started(env, pid, pidfd, holdfd[1], hold ? pipefd[0] : -1);
}

/* spawnRelease(releaseFd, execFd) -> 0 | {error: -errno, step}: lets a held child exec, and waits, as spawn
 * does, until it has (EOF on the error pipe) or says which step failed (then it exits 127 and is the
 * watcher's to reap). Closes both fds. EPIPE (step write): the child is gone already. */
napi_value wg_spawn_release(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t release_fd, exec_fd;
  if (!wg_args(env, info, 2, argv) || !wg_get_int32(env, argv[0], "releaseFd", &release_fd) ||
      !wg_get_int32(env, argv[1], "execFd", &exec_fd)) {
    return NULL;
  }
  char byte = 1;
  ssize_t n;
  while ((n = write(release_fd, &byte, 1)) < 0 && errno == EINTR) {}
  int write_errno = errno;
  close(release_fd);
  if (n != 1) {
    close(exec_fd);
    return failure(env, -write_errno, "write");
  }
  struct wg_child_error e = {0, 0};
  while ((n = read(exec_fd, &e, sizeof e)) < 0 && errno == EINTR) {}
  int read_errno = errno;
  close(exec_fd);
  if (n == 0) return wg_int(env, 0);
  if (n == (ssize_t)sizeof e) return failure(env, -e.err, wg_step_name(e.step));
  return failure(env, n < 0 ? -read_errno : -EPROTO, "read");
}

napi_value wg_spawn(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!wg_args(env, info, 5, argv)) return NULL;
  struct wg_plan plan;
  memset(&plan, 0, sizeof plan);
  plan.cgroup_fd = -1;
  plan.hold_fd = -1;
  plan.hold_peer = -1;
  bool hold = false;
  char *file = NULL, *cwd = NULL;
  char **args = NULL, **envp = NULL;
  int *fds = NULL, *scratch = NULL;
  size_t nargs = 0, nenv = 0;
  uint32_t nfds = 0;
  napi_value ret = NULL;

  if (!(file = wg_get_string(env, argv[0], "file"))) goto out;
  if (!(args = wg_get_strings(env, argv[1], "argv", 0, &nargs))) goto out;
  if (!(envp = wg_get_strings(env, argv[2], "envp", 1, &nenv))) goto out;
  if (!wg_check(env, napi_get_array_length(env, argv[3], &nfds))) goto out;
  fds = calloc(nfds + 1, sizeof *fds);
  scratch = calloc(nfds + 3, sizeof *scratch);
  if (!fds || !scratch) {
    napi_throw_error(env, NULL, "out of memory");
    goto out;
  }
  for (uint32_t i = 0; i < nfds; i++) {
    napi_value item;
    if (!wg_check(env, napi_get_element(env, argv[3], i, &item)) || !wg_get_int32(env, item, "fds[i]", &fds[i])) goto out;
  }
  plan.file = file;
  plan.argv = args;
  plan.envp = envp;
  plan.fds = fds;
  plan.nfds = (int)nfds;
  plan.scratch = scratch;
  if (!read_opts(env, argv[4], &plan, &cwd, &hold) || !pid_slot(env, argv[4], &plan, nenv)) goto out;
  ret = run(env, &plan, hold);
out:
  free(file);
  free(cwd);
  wg_free_strings(args);
  wg_free_strings(envp);
  free(fds);
  free(scratch);
  free((void *)plan.cgroup_fds);
  return ret;
}
