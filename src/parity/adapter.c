/* adapter.c: runs a reference adapter (python/ref_<name>.py) as a subprocess, without a
 * shell, and loads the stage dump it writes. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "parity.h"
#include "util.h"

extern char **environ;

char *adapter_python(void) {
    const char *env = getenv("GPTOSS_PYTHON");
    if (env && *env) {
        if (access(env, X_OK) != 0) {
            gptoss_error(GPTOSS_ERR_MISSING, "GPTOSS_PYTHON=%s: not an executable file", env);
            return NULL;
        }
        char *p = strdup(env);
        if (!p) gptoss_error(GPTOSS_ERR_NOMEM, "out of memory");
        return p;
    }
    char *p = gptoss_path_join(gptoss_home(), ".venv/bin/python");
    if (!p) {
        gptoss_error(GPTOSS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (access(p, X_OK) != 0) {
        gptoss_error(GPTOSS_ERR_MISSING,
                     "%s: no reference Python (set GPTOSS_PYTHON, or run scripts/setup_python.sh)",
                     p);
        free(p);
        return NULL;
    }
    return p;
}

char *adapter_script(const char *name) {
    size_t len = strlen(name);
    if (len == 0 || len > 64 || strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != len) {
        gptoss_error(GPTOSS_ERR_ARG, "'%s': not a reference name", name);
        return NULL;
    }
    char rel[96];
    snprintf(rel, sizeof rel, "python/ref_%s.py", name);
    char *p = gptoss_path_join(gptoss_home(), rel);
    if (!p) {
        gptoss_error(GPTOSS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (access(p, R_OK) != 0) {
        gptoss_error(GPTOSS_ERR_MISSING, "%s: no such reference adapter", p);
        free(p);
        return NULL;
    }
    return p;
}

/* "1,2,3" from the ids; malloc'ed. */
static char *join_ids(const int32_t *ids, int n) {
    char *s = malloc((size_t)n * 12 + 1), *p = s;
    if (!s) return NULL;
    for (int i = 0; i < n; i++) p += sprintf(p, i ? ",%d" : "%d", (int)ids[i]);
    *p = '\0';
    return s;
}

/* Keeps the last non-empty line of a stream that arrives in chunks. */
typedef struct {
    char cur[512], last[512];
    size_t n;
} last_line;

static void last_line_feed(last_line *l, const char *buf, size_t len) {
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (c == '\n' || c == '\r') {
            if (l->n) {
                memcpy(l->last, l->cur, l->n);
                l->last[l->n] = '\0';
            }
            l->n = 0;
        } else if (l->n + 1 < sizeof l->cur) {
            l->cur[l->n++] = c;
        }
    }
}

static const char *last_line_get(last_line *l) {
    last_line_feed(l, "\n", 1);
    return l->last;
}

/* Spawns argv with stdout+stderr into a pipe; collects the last line (and echoes the
 * stream when verbose); returns the wait status in *wstatus. */
static gptoss_status spawn_and_wait(char *const *argv, int verbose, int *wstatus,
                                    last_line *ll) {
    int fds[2];
    if (pipe(fds) != 0) return gptoss_error(GPTOSS_ERR_EXTERNAL, "pipe: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return gptoss_error(GPTOSS_ERR_EXTERNAL, "%s: cannot run: %s", argv[0], strerror(rc));
    }
    char buf[4096];
    for (;;) {
        ssize_t k = read(fds[0], buf, sizeof buf);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        last_line_feed(ll, buf, (size_t)k);
        if (verbose && fwrite(buf, 1, (size_t)k, stderr) != (size_t)k) verbose = 0;
    }
    close(fds[0]);
    while (waitpid(pid, wstatus, 0) < 0)
        if (errno != EINTR) return gptoss_error(GPTOSS_ERR_EXTERNAL, "waitpid: %s", strerror(errno));
    return GPTOSS_OK;
}

/* A temporary file name for the dump: $TMPDIR (or /tmp)/gptoss_ref_XXXXXX.safetensors. */
static char *temp_dump_path(void) {
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    char *path = gptoss_path_join(dir, "gptoss_ref_XXXXXX.safetensors");
    if (!path) return NULL;
    int fd = mkstemps(path, (int)strlen(".safetensors"));
    if (fd < 0) {
        gptoss_error(GPTOSS_ERR_IO, "%s: cannot create a temporary file: %s", dir, strerror(errno));
        free(path);
        return NULL;
    }
    close(fd);
    return path;
}

gptoss_status adapter_run(const adapter_options *o, stage_dump *out, double *seconds) {
    gptoss_status s = GPTOSS_OK;
    char *python = NULL, *script = NULL, *ids = NULL, *tmp = NULL;
    char **argv = NULL;
    char n_valid[16], max_layers[16];
    const char *base;
    if (!(python = adapter_python()) || !(script = adapter_script(o->name))) {
        s = GPTOSS_ERR_MISSING;
        goto done;
    }
    base = strrchr(script, '/') ? strrchr(script, '/') + 1 : script;
    ids = join_ids(o->tokens, o->n_tokens);
    argv = calloc(16 + (size_t)(o->n_extra > 0 ? o->n_extra : 0), sizeof *argv);
    if (!ids || !argv) {
        s = gptoss_error(GPTOSS_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (!(tmp = temp_dump_path())) {
        s = GPTOSS_ERR_IO;
        goto done;
    }
    gptoss_cleanup_register(tmp);
    snprintf(n_valid, sizeof n_valid, "%d", o->n_valid);
    snprintf(max_layers, sizeof max_layers, "%d", o->max_layers);
    int a = 0;
    argv[a++] = python;
    argv[a++] = script;
    argv[a++] = "--checkpoint";
    argv[a++] = (char *)o->checkpoint;
    argv[a++] = "--tokens";
    argv[a++] = ids;
    argv[a++] = "--n-valid";
    argv[a++] = n_valid;
    if (o->max_layers > 0) {
        argv[a++] = "--max-layers";
        argv[a++] = max_layers;
    }
    argv[a++] = "--out";
    argv[a++] = tmp;
    if (o->verbose) setenv("GPTOSS_VERBOSE", "1", 1); /* adapters may print progress */
    for (int i = 0; i < o->n_extra; i++) argv[a++] = o->extra[i];
    argv[a] = NULL;

    double t0 = gptoss_now();
    last_line ll = {0};
    int ws = 0;
    if ((s = spawn_and_wait(argv, o->verbose, &ws, &ll))) goto done;
    if (seconds) *seconds = gptoss_now() - t0;
    const char *msg = last_line_get(&ll);
    if (WIFSIGNALED(ws)) {
        s = gptoss_error(GPTOSS_ERR_EXTERNAL, "%s: killed by signal %d%s%s", base, WTERMSIG(ws),
                         *msg ? ": " : "", msg);
    } else if (WEXITSTATUS(ws) != 0) {
        s = gptoss_error(GPTOSS_ERR_EXTERNAL, "%s: exit status %d: %s", base, WEXITSTATUS(ws),
                         *msg ? msg : "(no message)");
    } else if ((s = dump_load(tmp, out))) {
        char why[512];
        snprintf(why, sizeof why, "%s", gptoss_last_error());
        s = gptoss_error(GPTOSS_ERR_EXTERNAL, "%s: unreadable output: %s", base, why);
    }
done:
    if (tmp) {
        unlink(tmp);
        gptoss_cleanup_unregister(tmp);
    }
    free(tmp);
    free(argv);
    free(ids);
    free(script);
    free(python);
    return s;
}
