/* args.c: the argument layer (see args.h). */
#include "args.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int args_int(const char *v, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) return -1;
    *out = x;
    return 0;
}

int args_float(const char *v, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x) || x < lo || x > hi) return -1;
    *out = x;
    return 0;
}

static int parse_u64(const char *v, uint64_t *out) {
    char *end;
    errno = 0;
    if (*v == '-' || *v == '+') return -1;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end) return -1;
    *out = (uint64_t)x;
    return 0;
}

static int set_value(const char *cmd, const arg_spec *s, const char *opt, const char *v) {
    switch (s->kind) {
    case ARG_STR: *(const char **)s->dst = v; return 0;
    case ARG_INT:
        if (args_int(v, (long)s->lo, (long)s->hi, (long *)s->dst))
            return cli_usage_error(cmd, "%s %s: want an integer in %ld..%ld", opt, v, (long)s->lo, (long)s->hi);
        return 0;
    case ARG_FLOAT:
        if (args_float(v, s->lo, s->hi, (double *)s->dst))
            return cli_usage_error(cmd, "%s %s: want a number in [%g, %g]", opt, v, s->lo, s->hi);
        return 0;
    case ARG_U64:
        if (parse_u64(v, (uint64_t *)s->dst))
            return cli_usage_error(cmd, "%s %s: want an unsigned 64-bit integer", opt, v);
        return 0;
    case ARG_FLAG: break;
    }
    return 0;
}

int args_parse(const char *cmd, const char *help, int argc, char **argv, const arg_spec *specs,
               size_t n_specs, arg_extra *extra) {
    if (extra) {
        extra->n = 0;
        if (!(extra->v = calloc((size_t)argc + 1, sizeof *extra->v)))
            return cli_usage_error(cmd, "out of memory");
    }
    int options_end = 0; /* after "--" every argument is positional */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!options_end && !strcmp(a, "--")) {
            options_end = 1;
            continue;
        }
        if (!options_end && (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
            fputs(help, stdout);
            return 0;
        }
        const arg_spec *s = NULL;
        if (options_end || a[0] != '-' || !a[1]) { /* a positional argument */
            for (size_t j = 0; j < n_specs && !s; j++)
                if (!*specs[j].name) s = &specs[j];
            if (!s) return cli_usage_error(cmd, "unexpected argument '%s'", a);
            if (*(const char **)s->dst)
                return cli_usage_error(cmd, "one %s only ('%s' and '%s')", s->alias ? s->alias : "argument",
                                       *(const char **)s->dst, a);
            *(const char **)s->dst = a;
            continue;
        }
        for (size_t j = 0; j < n_specs && !s; j++)
            if (*specs[j].name && (!strcmp(a, specs[j].name) || (specs[j].alias && !strcmp(a, specs[j].alias))))
                s = &specs[j];
        if (!s) {
            if (!extra || strncmp(a, "--", 2) || !a[2]) return cli_usage_error(cmd, "%s: unknown option", a);
            extra->v[extra->n++] = argv[i]; /* a pass-through option, with its value if any */
            if (v && strncmp(v, "--", 2) && !strchr(a, '=')) extra->v[extra->n++] = argv[++i];
            continue;
        }
        if (s->kind == ARG_FLAG) {
            *(int *)s->dst = 1;
            continue;
        }
        if (!v) return cli_usage_error(cmd, "%s needs a value", a);
        int rc = set_value(cmd, s, a, v);
        if (rc) return rc;
        i++;
    }
    return -1;
}
