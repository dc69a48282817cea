/* The clone of spawn. A plain fork-style clone copies the page tables of the whole gateway, and the child
 * then takes a copy-on-write fault for every page it touches before execve: measured here, 1 ms for a
 * 47 MB Node process and 9 ms at 150 MB, so the cost of a cold start grew with the gateway's own size.
 * CLONE_VM | CLONE_VFORK, as posix_spawn does, shares the memory instead: the child runs on a stack of
 * its own until execve, and the calling thread sleeps until then. The child code (child.c) already
 * touches nothing but the plan, its stack and the calling thread's errno, which is what sharing needs.
 * clone3 returns twice on the caller's stack, so with a new stack the child's first instructions must be
 * written by hand: x86-64 only; other architectures keep the copying clone. */
#include "wg.h"

#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* child.c's deepest frame holds a 4 KiB getdents buffer; 64 KiB leaves ample room for glibc's wrappers. */
#define CHILD_STACK_SIZE (64 * 1024)

static void child_main(void *plan) {
  wg_child_exec(plan);
}

#if defined(__x86_64__)
/* The child starts at the instruction after `syscall` with rsp at the top of its stack and every other
 * register but rax, rcx and r11 as the parent had them: it calls fn(arg) there and never comes back. */
static long clone3_on_stack(struct clone_args *args, void (*fn)(void *), void *arg) {
  long ret = SYS_clone3;
  __asm__ volatile(
      "syscall\n\t"
      "test %%rax, %%rax\n\t"
      "jnz 1f\n\t"
      "xor %%ebp, %%ebp\n\t"
      "mov %[arg], %%rdi\n\t"
      "call *%[fn]\n\t"
      "mov $127, %%edi\n\t"
      "mov %[exit], %%eax\n\t"
      "syscall\n\t"
      "1:\n\t"
      : "+a"(ret)
      : "D"(args), "S"(sizeof *args), [fn] "r"(fn), [arg] "r"(arg), [exit] "i"(SYS_exit)
      : "rcx", "r11", "memory");
  if (ret < 0) {
    errno = (int)-ret;
    return -1;
  }
  return ret;
}
#define WG_SHARED_CLONE 1
#else
#define WG_SHARED_CLONE 0
#endif

pid_t wg_clone(struct wg_plan *p, int *pidfd, bool *forked) {
  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.flags = CLONE_PIDFD;
  args.pidfd = (uint64_t)(uintptr_t)pidfd;
  args.exit_signal = SIGCHLD;
  if (p->cgroup_fd >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = (uint64_t)p->cgroup_fd;
  }
  *forked = false;
  long pid = -1;
  /* A held child waits for the parent before execve, so it cannot borrow the parent's memory: with
   * CLONE_VFORK the parent would sleep until that execve, which only the parent can allow. It is copied. */
  void *stack = WG_SHARED_CLONE && p->hold_fd < 0 ? aligned_alloc(16, CHILD_STACK_SIZE) : NULL;
#if WG_SHARED_CLONE
  if (stack) {
    struct clone_args shared = args;
    shared.flags |= CLONE_VM | CLONE_VFORK;
    shared.stack = (uint64_t)(uintptr_t)stack;
    shared.stack_size = CHILD_STACK_SIZE;
    /* Returns once the child has exec'd or exited: its stack is free again. */
    pid = clone3_on_stack(&shared, child_main, p);
  }
#endif
  int err = errno;
  free(stack);
  /* No stack (out of memory, or held), or another architecture: the copying clone, whose child returns here. */
  if (!stack) {
    pid = syscall(SYS_clone3, &args, sizeof args);
    err = errno;
    if (pid == 0) wg_child_exec(p);
  }
  /* Seccomp profiles of older container runtimes answer clone3 with ENOSYS or EPERM. fork cannot join
   * a cgroup, so then there is no fallback here: the caller retries with cgroupProcs. */
  if (pid < 0 && p->cgroup_fd < 0 && (err == ENOSYS || err == EPERM)) {
    *forked = true;
    pid = fork();
    err = errno;
    if (pid == 0) wg_child_exec(p);
  }
  errno = err;
  return (pid_t)pid;
}
