/* args.h: the commands' argument layer: options declared as a table, parsed and checked in
 * one place, with the same one-line usage errors everywhere.
 *
 *   long n = 16; const char *model = NULL; int json = 0;
 *   const arg_spec specs[] = {
 *       {"--model", "-m", ARG_STR, &model, 0, 0},
 *       {"-n", NULL, ARG_INT, &n, 1, 1e9},
 *       {"--json", NULL, ARG_FLAG, &json, 0, 0},
 *   };
 *   int rc = args_parse("generate", HELP, argc, argv, specs, ARGS_N(specs), NULL);
 *   if (rc >= 0) return rc;        // --help printed (0) or a usage error printed (2)
 */
#ifndef GPTOSS_TOOLS_ARGS_H
#define GPTOSS_TOOLS_ARGS_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    ARG_FLAG,  /* int *: set to 1, takes no value */
    ARG_STR,   /* const char **: the value as given */
    ARG_INT,   /* long *: an integer in [lo, hi] */
    ARG_FLOAT, /* double *: a finite number in [lo, hi] */
    ARG_U64,   /* uint64_t *: any unsigned 64-bit integer */
} arg_kind;

typedef struct arg_spec {
    const char *name, *alias; /* "--model", "-m" (alias may be NULL); name "" = the one
                                 positional argument (anything not starting with '-',
                                 '-' alone, or anything after "--"), ARG_STR; alias then
                                 names it in errors */
    arg_kind kind;
    void *dst;
    double lo, hi; /* ARG_INT / ARG_FLOAT bounds */
} arg_spec;

#define ARGS_N(specs) (sizeof(specs) / sizeof((specs)[0]))

/* Unknown "--options" (with their value, when the next argument does not start with "--")
 * are collected here instead of being errors: the pass-through options of the reference
 * adapters. argv must outlive it; free(extra->v) when done. */
typedef struct arg_extra {
    char **v;
    int n;
} arg_extra;

/* Parses argv[1..argc) against specs. Returns -1 to go on; 0 after printing help for
 * -h/--help; 2 after printing a usage error ("gptoss CMD: --top x: want an integer in
 * 1..1000000 (see 'gptoss CMD --help')"). extra NULL: unknown options are usage errors. */
int args_parse(const char *cmd, const char *help, int argc, char **argv, const arg_spec *specs,
               size_t n_specs, arg_extra *extra);

/* Number parsing shared with the commands that parse values themselves: 0 when v is an
 * integer (resp. finite number) in [lo, hi]. */
int args_int(const char *v, long lo, long hi, long *out);
int args_float(const char *v, double lo, double hi, double *out);

#endif
