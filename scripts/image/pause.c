/*
 * The pod sandbox's "pause" process for the local test node (scripts/image/build.mjs).
 * Written for this repository; it does what Kubernetes' build/pause/linux/pause.c does:
 * hold the pod's namespaces open, reap zombies when it is PID 1 of a shared PID
 * namespace, and exit cleanly on SIGINT/SIGTERM. Built with `gcc -static` so the
 * image needs nothing but this file.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig) {
  (void)sig;
  _exit(0);
}

static void on_child(int sig) {
  (void)sig;
  /* Reap every exited child; WNOHANG so one signal for several children is enough. */
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(int argc, char **argv) {
  if (argc > 1 && (strcmp(argv[1], "-v") == 0 || strcmp(argv[1], "--version") == 0)) {
    puts("pause (smtp-relay-operator test node)");
    return 0;
  }
  if (getpid() != 1) fprintf(stderr, "pause: warning: not PID 1, will not reap orphans of a pod\n");

  struct sigaction stop = {.sa_handler = on_stop};
  struct sigaction child = {.sa_handler = on_child, .sa_flags = SA_NOCLDSTOP};
  if (sigaction(SIGINT, &stop, NULL) < 0 || sigaction(SIGTERM, &stop, NULL) < 0 ||
      sigaction(SIGCHLD, &child, NULL) < 0) {
    fprintf(stderr, "pause: sigaction: %s\n", strerror(errno));
    return 1;
  }
  for (;;) pause();
}
