{
  "targets": [
    {
      "target_name": "wakegate",
      "sources": [
        "src/module.c",
        "src/util.c",
        "src/spawn.c",
        "src/child.c",
        "src/clone.c",
        "src/exit.c",
        "src/fd.c",
        "src/lock.c",
        "src/poll.c",
        "src/epoll.c",
        "src/inet.c",
        "src/netlink.c",
        "src/sd.c",
        "src/heap.c"
      ],
      "defines": ["_GNU_SOURCE", "NAPI_VERSION=8"],
      "cflags_c": ["-std=c11", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
      "cflags_c!": ["-std=gnu11"]
    }
  ]
}
