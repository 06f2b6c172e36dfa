/* util.c: see util.h. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

static _Thread_local char g_error[1024];

gptoss_status gptoss_error(gptoss_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_error, sizeof g_error, fmt, ap);
    va_end(ap);
    /* one line: fold any newline */
    for (char *p = g_error; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    return status;
}

void gptoss_clear_error(void) { g_error[0] = 0; }
const char *gptoss_last_error(void) { return g_error; }

const char *gptoss_status_name(gptoss_status s) {
    switch (s) {
    case GPTOSS_OK: return "ok";
    case GPTOSS_ERR_ARG: return "bad argument";
    case GPTOSS_ERR_IO: return "i/o error";
    case GPTOSS_ERR_FORMAT: return "format error";
    case GPTOSS_ERR_MISSING: return "missing";
    case GPTOSS_ERR_NOMEM: return "out of memory";
    case GPTOSS_ERR_UNSUPPORTED: return "unsupported";
    case GPTOSS_ERR_RANGE: return "out of range";
    case GPTOSS_ERR_EXTERNAL: return "external tool failed";
    }
    return "unknown";
}

const char *gptoss_version(void) { return GPTOSS_VERSION; }

size_t gptoss_dtype_size(gptoss_dtype dt) {
    switch (dt) {
    case GPTOSS_DT_BF16: case GPTOSS_DT_F16: return 2;
    case GPTOSS_DT_F32: case GPTOSS_DT_I32: return 4;
    case GPTOSS_DT_U8: return 1;
    case GPTOSS_DT_I64: return 8;
    }
    return 0;
}

const char *gptoss_dtype_name(gptoss_dtype dt) {
    switch (dt) {
    case GPTOSS_DT_BF16: return "BF16";
    case GPTOSS_DT_F16: return "F16";
    case GPTOSS_DT_F32: return "F32";
    case GPTOSS_DT_I32: return "I32";
    case GPTOSS_DT_U8: return "U8";
    case GPTOSS_DT_I64: return "I64";
    }
    return "?";
}

const float gptoss_fp4_values[16] = {+0.0f, +0.5f, +1.0f, +1.5f, +2.0f, +3.0f, +4.0f, +6.0f,
                                     -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

/* ---- interrupt cleanup ------------------------------------------------------------------ */

#define MAX_CLEANUP 64
static char *g_cleanup[MAX_CLEANUP];
static pthread_mutex_t g_cleanup_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_handlers_installed;

static void remove_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d))) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
                char buf[4096];
                snprintf(buf, sizeof buf, "%s/%s", path, e->d_name);
                remove_tree(buf);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void on_signal(int sig) {
    /* Best effort: unlink pending temporaries, then die with the signal's status. */
    for (int i = 0; i < MAX_CLEANUP; i++)
        if (g_cleanup[i]) remove_tree(g_cleanup[i]);
    signal(sig, SIG_DFL);
    raise(sig);
}

void gptoss_cleanup_register(const char *path) {
    pthread_mutex_lock(&g_cleanup_lock);
    if (!g_handlers_installed) {
        g_handlers_installed = 1;
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        signal(SIGHUP, on_signal);
    }
    for (int i = 0; i < MAX_CLEANUP; i++)
        if (!g_cleanup[i]) {
            g_cleanup[i] = strdup(path);
            break;
        }
    pthread_mutex_unlock(&g_cleanup_lock);
}

void gptoss_cleanup_unregister(const char *path) {
    pthread_mutex_lock(&g_cleanup_lock);
    for (int i = 0; i < MAX_CLEANUP; i++)
        if (g_cleanup[i] && !strcmp(g_cleanup[i], path)) {
            char *p = g_cleanup[i];
            g_cleanup[i] = NULL;
            free(p);
            break;
        }
    pthread_mutex_unlock(&g_cleanup_lock);
}

/* ---- atomic files ------------------------------------------------------------------------ */

gptoss_status gptoss_atomic_open(gptoss_atomic_file *af, const char *path) {
    memset(af, 0, sizeof *af);
    size_t n = strlen(path) + 32;
    af->path = strdup(path);
    af->tmp_path = malloc(n);
    if (!af->path || !af->tmp_path) {
        free(af->path);
        free(af->tmp_path);
        return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(af->tmp_path, n, "%s.tmp.%ld", path, (long)getpid());
    gptoss_cleanup_register(af->tmp_path);
    af->f = fopen(af->tmp_path, "wb");
    if (!af->f) {
        gptoss_status st = gptoss_error(GPTOSS_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
        gptoss_cleanup_unregister(af->tmp_path);
        free(af->path);
        free(af->tmp_path);
        memset(af, 0, sizeof *af);
        return st;
    }
    return GPTOSS_OK;
}

static void atomic_free(gptoss_atomic_file *af) {
    if (af->tmp_path) gptoss_cleanup_unregister(af->tmp_path);
    free(af->path);
    free(af->tmp_path);
    memset(af, 0, sizeof *af);
}

gptoss_status gptoss_atomic_commit(gptoss_atomic_file *af) {
    gptoss_status st = GPTOSS_OK;
    if (!af->f) return gptoss_error(GPTOSS_ERR_ARG, "atomic file: not open");
    int bad = ferror(af->f) || fflush(af->f) != 0 || fsync(fileno(af->f)) != 0;
    int err = errno;
    if (fclose(af->f) != 0 && !bad) {
        bad = 1;
        err = errno;
    }
    af->f = NULL;
    if (bad) {
        st = gptoss_error(GPTOSS_ERR_IO, "%s: write failed: %s", af->path, strerror(err));
        unlink(af->tmp_path);
    } else if (rename(af->tmp_path, af->path) != 0) {
        st = gptoss_error(GPTOSS_ERR_IO, "%s: cannot rename into place: %s", af->path, strerror(errno));
        unlink(af->tmp_path);
    }
    atomic_free(af);
    return st;
}

void gptoss_atomic_abort(gptoss_atomic_file *af) {
    if (af->f) fclose(af->f);
    af->f = NULL;
    if (af->tmp_path) unlink(af->tmp_path);
    atomic_free(af);
}

gptoss_status gptoss_atomic_dir_begin(const char *dir, char **tmp_dir) {
    size_t n = strlen(dir) + 32;
    char *t = malloc(n);
    if (!t) return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", dir);
    snprintf(t, n, "%s.tmp.%ld", dir, (long)getpid());
    remove_tree(t);
    gptoss_cleanup_register(t);
    if (mkdir(t, 0777) != 0) {
        gptoss_status st = gptoss_error(GPTOSS_ERR_IO, "%s: cannot create: %s", dir, strerror(errno));
        gptoss_cleanup_unregister(t);
        free(t);
        return st;
    }
    *tmp_dir = t;
    return GPTOSS_OK;
}

gptoss_status gptoss_atomic_dir_commit(const char *tmp_dir, const char *dir) {
    /* An existing target folder is replaced only once the new one is complete. */
    struct stat st;
    if (stat(dir, &st) == 0) {
        size_t n = strlen(dir) + 32;
        char *old = malloc(n);
        if (!old) return gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", dir);
        snprintf(old, n, "%s.old.%ld", dir, (long)getpid());
        if (rename(dir, old) != 0) {
            free(old);
            return gptoss_error(GPTOSS_ERR_IO, "%s: cannot move the old folder aside: %s", dir,
                                strerror(errno));
        }
        if (rename(tmp_dir, dir) != 0) {
            int e = errno;
            rename(old, dir);
            free(old);
            return gptoss_error(GPTOSS_ERR_IO, "%s: cannot rename into place: %s", dir, strerror(e));
        }
        remove_tree(old);
        free(old);
    } else if (rename(tmp_dir, dir) != 0) {
        return gptoss_error(GPTOSS_ERR_IO, "%s: cannot rename into place: %s", dir, strerror(errno));
    }
    gptoss_cleanup_unregister(tmp_dir);
    return GPTOSS_OK;
}

void gptoss_atomic_dir_abort(const char *tmp_dir) {
    remove_tree(tmp_dir);
    gptoss_cleanup_unregister(tmp_dir);
}

/* ---- misc -------------------------------------------------------------------------------- */

const char *gptoss_home(void) {
    const char *h = getenv("GPTOSS_HOME");
    return (h && *h) ? h : GPTOSS_SOURCE_DIR;
}

char *gptoss_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        gptoss_error(GPTOSS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf) {
        gptoss_error(GPTOSS_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    if (bad) {
        free(buf);
        gptoss_error(GPTOSS_ERR_IO, "%s: read failed", path);
        return NULL;
    }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

char *gptoss_path_join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", a, b);
    return p;
}

double gptoss_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int gptoss_ncpu(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

size_t gptoss_peak_rss(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    size_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = (size_t)strtoull(line + 6, NULL, 10);
    fclose(f);
    return kb * 1024;
}
