/* The child side of spawn, between clone and execve. The parent is multi-threaded (V8, libuv's pool),
 * and the child runs in the parent's memory (clone.c) while those threads go on: any lock one of them
 * holds may stay held, and anything the child writes outside its stack and the plan, the parent sees.
 * So: only async-signal-safe calls, no malloc, no stdio, no snprintf. Everything was prepared in the plan. */
#include "wg.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <stdbool.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static int err_fd = -1;

static void report(int err, int step) {
  struct wg_child_error e = {err, step};
  const char *p = (const char *)&e;
  size_t left = sizeof e;
  while (left > 0) {
    ssize_t n = write(err_fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    p += n;
    left -= (size_t)n;
  }
}

_Noreturn static void fail(int step) {
  report(errno, step);
  _exit(127);
}

static void reset_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  /* Node ignores SIGPIPE and an ignored signal survives execve; a handled one would run Node's
   * handler in this half-made copy. glibc refuses its two internal signals (EINVAL): exec resets them. */
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &sa, NULL);
  }
  /* The parent blocked everything around clone; only now that no handler is left may signals arrive. */
  sigset_t none;
  sigemptyset(&none);
  if (sigprocmask(SIG_SETMASK, &none, NULL) < 0) fail(WG_STEP_SIGNALS);
}

static void mark_cloexec(int fd) {
  int flags = fcntl(fd, F_GETFD);
  if (flags >= 0 && !(flags & FD_CLOEXEC) && fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) fail(WG_STEP_CLOEXEC);
}

struct dirent64_head {
  unsigned long long ino;
  long long off;
  unsigned short reclen;
  unsigned char type;
  char name[];
};

/* Kernels before 5.11: the open fds are the entries of /proc/self/fd, so the work is bounded by what is
 * open, not by RLIMIT_NOFILE (1,048,576 under the unit), and a number above the limit (opened before it
 * was lowered) is found too. opendir would malloc; open + getdents64 into a stack buffer do not. The
 * directory is the child's own: /proc/self resolves at this open, after clone. False without /proc. */
static bool cloexec_listed(int base) {
  int dir = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return false;
  char buf[4096] __attribute__((aligned(8)));
  long n;
  while ((n = syscall(SYS_getdents64, dir, buf, sizeof buf)) > 0) {
    for (long at = 0; at < n;) {
      struct dirent64_head *d = (struct dirent64_head *)(buf + at);
      int fd = 0;
      const char *c = d->name;
      for (; *c >= '0' && *c <= '9'; c++) fd = fd * 10 + (*c - '0');
      if (c != d->name && *c == '\0' && fd >= base && fd != dir) mark_cloexec(fd);
      at += d->reclen;
    }
  }
  if (n < 0) fail(WG_STEP_CLOEXEC);
  close(dir);
  return true;
}

/* Joins the instance's cgroups before anything of the app can run: "0" names the writer itself, and the
 * parent opened the files (the permission check happened there). Whatever the app forks after execve
 * is born inside, so a stop can find and kill every process of the instance, setsid or not. This is the
 * fallback of clone3's CLONE_INTO_CGROUP (opts.cgroupFd), which needs cgroup2 and kernel 5.7 and joins one
 * hierarchy, while hosts without cgroup2 need several. Joining here is as sound, because this copy runs no code of the app until execve, and is not yet released to
 * anyone: a failure is reported like any other step, and the spawn fails without running the app. */
static void join_cgroups(const struct wg_plan *p) {
  for (int i = 0; i < p->ncgroup_fds; i++) {
    ssize_t n;
    while ((n = write(p->cgroup_fds[i], "0", 1)) < 0 && errno == EINTR) {}
    if (n != 1) fail(WG_STEP_CGROUP);
  }
}

/* Installs stdio at 0-2 and fds[i] at 3+i. Every source is first duplicated above the target range,
 * so that no dup2 can clobber a source still to be moved (fds = [4, 3] swaps them correctly). */
static int above(int fd, int base) {
  if (fd >= base) return fd;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, base);
  if (moved < 0) fail(WG_STEP_PIPE);
  return moved; /* the old number is about to be overwritten or closed at exec */
}

static void install_fds(struct wg_plan *p) {
  int base = 3 + p->nfds;
  err_fd = above(err_fd, base);
  if (p->hold_fd >= 0) p->hold_fd = above(p->hold_fd, base);
  if (p->has_stdio) {
    for (int i = 0; i < 3; i++) {
      if ((p->scratch[i] = fcntl(p->stdio[i], F_DUPFD_CLOEXEC, base)) < 0) fail(WG_STEP_STDIO);
    }
  }
  for (int i = 0; i < p->nfds; i++) {
    if ((p->scratch[3 + i] = fcntl(p->fds[i], F_DUPFD_CLOEXEC, base)) < 0) fail(WG_STEP_FDS);
  }
  for (int i = 0; p->has_stdio && i < 3; i++) {
    if (dup2(p->scratch[i], i) < 0) fail(WG_STEP_STDIO);
  }
  /* Node marks its own 0-2 close-on-exec; a parent that closed one of them gets EBADF, which is fine. */
  for (int i = 0; i < 3; i++) {
    if (fcntl(i, F_SETFD, 0) < 0 && (p->has_stdio || errno != EBADF)) fail(WG_STEP_STDIO);
  }
  for (int i = 0; i < p->nfds; i++) {
    if (dup2(p->scratch[3 + i], 3 + i) < 0) fail(WG_STEP_FDS);
    /* dup2(n, n) would keep FD_CLOEXEC; clear it whatever path got us here. */
    if (fcntl(3 + i, F_SETFD, 0) < 0) fail(WG_STEP_FDS);
  }
  /* Everything else (the parent's fds, the scratch copies, the error pipe) closes at exec. */
  if (syscall(SYS_close_range, (unsigned)base, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  if (cloexec_listed(base)) return;
  /* Neither close_range (before 5.11) nor /proc: walk every number that can be open. */
  for (unsigned long fd = (unsigned long)base; fd < p->fd_limit; fd++) mark_cloexec((int)fd);
}

static void write_pid(char *digits) {
  char tmp[24];
  int n = 0;
  unsigned long v = (unsigned long)syscall(SYS_getpid);
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v > 0);
  while (n > 0) *digits++ = tmp[--n];
  *digits = '\0';
}

/* A held child says that its set-up is done (step HELD, which the parent's spawn returns on), then waits
 * for one byte: the parent sends it once the child has been placed (moved into a cgroup by a third party,
 * such as systemd) and reads the outcome of execve from the error pipe, as spawn does. Anything else ends
 * it before the app ever ran: EOF means the parent gave up on it, or died. The child closed its own copy
 * of the write end first thing; a child held after it has a copy until it execs or exits, and it exits on
 * its own EOF first, so the parent's death reaches every held child. */
static void wait_for_release(int fd) {
  report(0, WG_STEP_HELD);
  char byte;
  ssize_t n;
  while ((n = read(fd, &byte, 1)) < 0 && errno == EINTR) {}
  if (n != 1) _exit(127);
}

_Noreturn void wg_child_exec(struct wg_plan *p) {
  err_fd = p->err_fd;
  if (p->hold_peer >= 0) close(p->hold_peer);
  reset_signals();
  /* Before install_fds, which may reuse the numbers of the cgroup files. */
  join_cgroups(p);
  install_fds(p);
  if (p->setsid && setsid() < 0) fail(WG_STEP_SETSID);
  /* Raw syscalls on purpose: glibc's set*id wrappers broadcast to every thread they know of, and
   * after a raw clone3 that list still names the parent's threads. Here there is only this one. */
  if (p->has_gid) {
    if (syscall(SYS_setgroups, 0, NULL) < 0) fail(WG_STEP_SETGROUPS);
    if (syscall(SYS_setgid, p->gid) < 0) fail(WG_STEP_SETGID);
  }
  if (p->has_uid && syscall(SYS_setuid, p->uid) < 0) fail(WG_STEP_SETUID);
  /* After the credential change, which clears the death signal. The getppid check closes the race
   * where the parent died before prctl: then nobody would ever send the signal. */
  if (p->death_signal > 0) {
    if (prctl(PR_SET_PDEATHSIG, (unsigned long)p->death_signal, 0, 0, 0) < 0) fail(WG_STEP_PDEATHSIG);
    if (getppid() != p->parent_pid) _exit(127);
  }
  if (p->cwd && chdir(p->cwd) < 0) fail(WG_STEP_CHDIR);
  if (p->pid_digits) write_pid(p->pid_digits);
  if (p->hold_fd >= 0) wait_for_release(p->hold_fd);
  execve(p->file, p->argv, p->envp);
  fail(WG_STEP_EXECVE);
}

const char *wg_step_name(int step) {
  static const char *const names[] = {
    [WG_STEP_SIGNALS] = "sigprocmask", [WG_STEP_PIPE] = "fcntl", [WG_STEP_STDIO] = "dup2",
    [WG_STEP_FDS] = "dup2", [WG_STEP_CLOEXEC] = "fcntl", [WG_STEP_SETSID] = "setsid",
    [WG_STEP_SETGROUPS] = "setgroups", [WG_STEP_SETGID] = "setgid", [WG_STEP_SETUID] = "setuid",
    [WG_STEP_PDEATHSIG] = "prctl", [WG_STEP_CHDIR] = "chdir", [WG_STEP_EXECVE] = "execve",
    [WG_STEP_CGROUP] = "cgroup.procs", [WG_STEP_HELD] = "held",
  };
  if (step > 0 && step < (int)(sizeof names / sizeof names[0]) && names[step]) return names[step];
  return "unknown";
}
