/* test_parity_compare.c: the stage dump container, its safetensors round trip, the
 * comparison (statistics computed by hand, every kind of issue), token parsing and
 * padding, and the adapter runner (with a stand-in adapter, no Python needed). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parity/parity.h"
#include "util.h"

#include "check.h"
/* Statistics below are sums of a few exact binary fractions: 1e-12 is rounding only. */
#define NEAR(a, b) CHECK(fabs((double)(a) - (double)(b)) <= 1e-12 * (1.0 + fabs((double)(b))))

enum { S = 4, NV = 3, H = 5, E = 4, K = 2 };

/* A complete one-block dump with deterministic values; `shift` is added to logits[t][v]. */
static void make_dump(stage_dump *d, int n_blocks) {
    dump_init(d);
    int64_t tok[S] = {4827, 382, 199999, 199999}, nv = NV, one = 1, s1 = S;
    CHECK(dump_put(d, "tokens", GPTOSS_DT_I64, 1, &s1, tok) == GPTOSS_OK);
    CHECK(dump_put(d, "n_valid", GPTOSS_DT_I64, 1, &one, &nv) == GPTOSS_OK);
    float buf[S * 2 * 2 * H];
    for (int i = 0; i < S * 2 * 2 * H; i++) buf[i] = (float)((i % 7) - 3) * 0.25f;
    int64_t idx[S * K];
    for (int i = 0; i < S * K; i++) idx[i] = (i * 3) % E;
    char name[64];
    for (int b = 0; b < n_blocks; b++)
        for (int j = 0; j < GPTOSS_BLOCK_STAGES; j++) {
            const char *st = gptoss_stages[j].name;
            snprintf(name, sizeof name, "block%d.%s", b, st);
            if (!strcmp(st, "mlp_expert_indices")) {
                int64_t sh[2] = {S, K};
                CHECK(dump_put(d, name, GPTOSS_DT_I64, 2, sh, idx) == GPTOSS_OK);
            } else if (!strcmp(st, "attn_q")) {
                int64_t sh[4] = {S, 2, 2, H};
                CHECK(dump_put(d, name, GPTOSS_DT_F32, 4, sh, buf) == GPTOSS_OK);
            } else {
                int64_t sh[2] = {S, H};
                CHECK(dump_put(d, name, GPTOSS_DT_F32, 2, sh, buf) == GPTOSS_OK);
            }
        }
    int64_t sh[2] = {S, H};
    CHECK(dump_put(d, "final_normed", GPTOSS_DT_F32, 2, sh, buf) == GPTOSS_OK);
    CHECK(dump_put(d, "logits", GPTOSS_DT_F32, 2, sh, buf) == GPTOSS_OK);
}

static float *f32(const stage_dump *d, const char *name) {
    return (float *)dump_get(d, name)->data;
}

static int count_issues(const parity_result *r, parity_issue_kind kind) {
    int n = 0;
    for (size_t i = 0; i < r->n_issues; i++) n += r->issues[i].kind == kind;
    return n;
}

static void test_identical(void) {
    stage_dump a, b;
    make_dump(&a, 2);
    make_dump(&b, 2);
    parity_result r;
    CHECK(parity_compare(&a, &b, "engine", "ref", &r) == GPTOSS_OK);
    CHECK(r.n_issues == 0);
    CHECK(r.n_blocks == 2);
    CHECK(r.n_tokens == S && r.n_valid == NV);
    CHECK(r.n_stages == 2 * GPTOSS_BLOCK_STAGES + 2);
    for (size_t i = 0; i < r.n_stages; i++) CHECK(r.stages[i].all.max == 0.0);
    CHECK(parity_find(&r, "block1.mlp_expert_indices")->is_integer);
    parity_result_free(&r);
    dump_free(&a);
    dump_free(&b);
}

/* Known differences in the logits: the statistics must be exactly what they should be. */
static void test_statistics(void) {
    stage_dump a, b;
    make_dump(&a, 1);
    make_dump(&b, 1);
    float *l = f32(&b, "logits");
    /* |diff| per row (H = 5 each): row0 {0.5,0,0,0,0}, row1 {0,0.25,0,0,0}, row2 (last real)
     * {0,0,0.125,0.125,0}, row3 (padding) {0,0,0,0,2}. */
    l[0] += 0.5f;
    l[H + 1] -= 0.25f;
    l[2 * H + 2] += 0.125f;
    l[2 * H + 3] += 0.125f;
    l[3 * H + 4] -= 2.0f;
    parity_result r;
    CHECK(parity_compare(&a, &b, "engine", "ref", &r) == GPTOSS_OK);
    const stage_diff *d = parity_find(&r, "logits");
    CHECK(d && !d->is_integer);
    NEAR(d->all.max, 2.0);
    CHECK(d->all.argmax == 3 * H + 4);
    NEAR(d->all.mean, (0.5 + 0.25 + 0.25 + 2.0) / (S * H));
    NEAR(d->all.median, 0.0);
    CHECK(d->all.count == S * H);
    NEAR(d->real.max, 0.5);
    CHECK(d->real.argmax == 0);
    NEAR(d->real.mean, 1.0 / (NV * H));
    CHECK(d->real.count == NV * H);
    NEAR(d->last.max, 0.125);
    CHECK(d->last.argmax == 2 * H + 2);
    NEAR(d->last.mean, 0.25 / H);
    NEAR(d->last.median, 0.0);
    CHECK(r.n_issues == 0);
    parity_result_free(&r);

    /* A median that is not zero, with an even count: row 2 all different. */
    for (int v = 0; v < H; v++) l[2 * H + v] = f32(&a, "logits")[2 * H + v] + 0.0625f * (float)(v + 1);
    CHECK(parity_compare(&a, &b, "engine", "ref", &r) == GPTOSS_OK);
    d = parity_find(&r, "logits");
    NEAR(d->last.median, 0.0625 * 3); /* {1,2,3,4,5}/16 -> 3/16 */
    NEAR(d->last.max, 0.0625 * 5);
    parity_result_free(&r);
    dump_free(&a);
    dump_free(&b);
}

static void test_issues(void) {
    stage_dump a, b;
    make_dump(&a, 2);
    make_dump(&b, 2);
    parity_result r;

    /* A missing stage on each side, a shape mismatch, a NaN, an expert index mismatch. */
    stage_dump c;
    dump_init(&c);
    for (size_t i = 0; i < b.n; i++) {
        const dump_tensor *t = &b.tensors[i];
        if (!strcmp(t->name, "block1.attn_v")) continue;
        int64_t sh[GPTOSS_MAX_DIMS];
        memcpy(sh, t->shape, sizeof sh);
        if (!strcmp(t->name, "block0.attn_q")) sh[1] = 4, sh[2] = 1;
        CHECK(dump_put(&c, t->name, t->dtype, t->ndim, sh, t->data) == GPTOSS_OK);
    }
    f32(&c, "block0.output")[3] = NAN;
    ((int64_t *)dump_get(&c, "block1.mlp_expert_indices")->data)[2 * K + 1] = 0; /* was 3 */
    int64_t one = 1;
    float x = 1.0f;
    CHECK(dump_put(&a, "extra_engine_only", GPTOSS_DT_F32, 1, &one, &x) == GPTOSS_OK);
    CHECK(parity_compare(&a, &c, "engine", "torch", &r) == GPTOSS_OK);
    CHECK(count_issues(&r, ISSUE_MISSING_IN_REFERENCE) == 1);
    CHECK(count_issues(&r, ISSUE_SHAPE) == 1);
    CHECK(count_issues(&r, ISSUE_NONFINITE) == 1);
    CHECK(count_issues(&r, ISSUE_MISMATCH) == 1);
    CHECK(count_issues(&r, ISSUE_EXTRA) == 1);
    CHECK(r.n_issues == 5);
    for (size_t i = 0; i < r.n_issues; i++) {
        fprintf(stderr, "  issue: %s\n", r.issues[i].text);
        if (r.issues[i].kind == ISSUE_MISMATCH) {
            CHECK(strstr(r.issues[i].text, "block1.mlp_expert_indices") != NULL);
            CHECK(strstr(r.issues[i].text, "token 2") != NULL);
        }
        if (r.issues[i].kind == ISSUE_MISSING_IN_REFERENCE)
            CHECK(strstr(r.issues[i].text, "block1.attn_v: missing in torch") != NULL);
    }
    const stage_diff *d = parity_find(&r, "block0.output");
    CHECK(d && isinf(d->all.max) && d->nonfinite == 1);
    d = parity_find(&r, "block1.mlp_expert_indices");
    CHECK(d && d->mismatches == 1 && d->first_mismatch == 2 * K + 1);
    CHECK(parity_find(&r, "block0.attn_q") == NULL);
    CHECK(parity_issue_is_fatal(ISSUE_MISMATCH, 0) && parity_issue_is_fatal(ISSUE_SHAPE, 0));
    CHECK(!parity_issue_is_fatal(ISSUE_MISSING_IN_REFERENCE, 0));
    CHECK(parity_issue_is_fatal(ISSUE_MISSING_IN_REFERENCE, 1));
    CHECK(parity_issue_is_fatal(ISSUE_MISSING_IN_ENGINE, 0));
    parity_result_free(&r);

    /* The other direction: the stage is missing in the engine (always fatal). */
    CHECK(parity_compare(&c, &b, "engine", "torch", &r) == GPTOSS_OK);
    CHECK(count_issues(&r, ISSUE_MISSING_IN_ENGINE) == 1);
    parity_result_free(&r);

    /* Different ids, different n_valid. */
    ((int64_t *)dump_get(&b, "tokens")->data)[1] = 7;
    CHECK(parity_compare(&a, &b, "engine", "torch", &r) == GPTOSS_OK);
    CHECK(count_issues(&r, ISSUE_TOKENS) == 1);
    CHECK(strstr(r.issues[0].text, "position 1") != NULL);
    parity_result_free(&r);
    ((int64_t *)dump_get(&b, "tokens")->data)[1] = 382;
    ((int64_t *)dump_get(&b, "n_valid")->data)[0] = 2;
    CHECK(parity_compare(&a, &b, "engine", "torch", &r) == GPTOSS_OK);
    CHECK(count_issues(&r, ISSUE_TOKENS) == 1);
    parity_result_free(&r);

    /* Float against integer. */
    ((int64_t *)dump_get(&b, "n_valid")->data)[0] = NV;
    int64_t sh[2] = {S, H};
    int32_t ints[S * H] = {0};
    CHECK(dump_put(&b, "final_normed", GPTOSS_DT_I32, 2, sh, ints) == GPTOSS_OK);
    CHECK(parity_compare(&a, &b, "engine", "torch", &r) == GPTOSS_OK);
    CHECK(count_issues(&r, ISSUE_DTYPE) == 1);
    parity_result_free(&r);

    dump_free(&a);
    dump_free(&b);
    dump_free(&c);
}

static char tmpdir[64];

static void test_save_load(void) {
    stage_dump a, b;
    make_dump(&a, 2);
    char *path = gptoss_path_join(tmpdir, "dump.safetensors");
    CHECK(dump_save(&a, path) == GPTOSS_OK);
    dump_init(&b);
    CHECK(dump_load(path, &b) == GPTOSS_OK);
    CHECK(b.n == a.n);
    for (size_t i = 0; i < a.n; i++) {
        const dump_tensor *t = dump_get(&b, a.tensors[i].name);
        CHECK(t && t->dtype == a.tensors[i].dtype && t->ndim == a.tensors[i].ndim);
        CHECK(t && t->nbytes == a.tensors[i].nbytes && !memcmp(t->data, a.tensors[i].data, t->nbytes));
    }
    CHECK(dump_n_blocks(&b) == 2);
    dump_free(&b);
    dump_init(&b);
    CHECK(dump_load("/nonexistent/dump.safetensors", &b) != GPTOSS_OK);
    CHECK(strstr(gptoss_last_error(), "/nonexistent/dump.safetensors") != NULL);
    dump_free(&b);
    dump_free(&a);
    free(path);
}

static void test_tokens(void) {
    int32_t *ids, *pad;
    int n, np;
    CHECK(tokens_parse("--tokens", "4827, 382,290", &ids, &n) == GPTOSS_OK);
    CHECK(n == 3 && ids[0] == 4827 && ids[1] == 382 && ids[2] == 290);
    CHECK(tokens_pad(ids, n, 5, &pad, &np) == GPTOSS_OK);
    CHECK(np == 5 && pad[2] == 290 && pad[3] == GPTOSS_TOKEN_ENDOFTEXT && pad[4] == 199999);
    free(pad);
    CHECK(tokens_pad(ids, n, 0, &pad, &np) == GPTOSS_OK && np == 3);
    free(pad);
    CHECK(tokens_pad(ids, n, 2, &pad, &np) == GPTOSS_ERR_ARG);
    CHECK(strstr(gptoss_last_error(), "--sequence-length 2") != NULL);
    free(ids);
    const char *bad[] = {"", "1,,2", "1,2,", "x", "1;2", "-1", "99999999999", ",1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(tokens_parse("--tokens", bad[i], &ids, &n) == GPTOSS_ERR_ARG);
        CHECK(ids == NULL && strstr(gptoss_last_error(), "--tokens") != NULL);
    }
    /* the loose form of tokenize --decode / --parse: commas and/or white space, any int32 */
    size_t nl;
    CHECK(tokens_parse_loose(" 4827,\t382\n,, 290 -5 ", &ids, &nl) == GPTOSS_OK);
    CHECK(nl == 4 && ids[0] == 4827 && ids[1] == 382 && ids[2] == 290 && ids[3] == -5);
    free(ids);
    CHECK(tokens_parse_loose(", \n", &ids, &nl) == GPTOSS_OK && nl == 0);
    free(ids);
    const char *bad_loose[] = {"1;2", "x", "1x", "99999999999", "-2147483649", "1\v2"};
    for (size_t i = 0; i < sizeof bad_loose / sizeof bad_loose[0]; i++) {
        CHECK(tokens_parse_loose(bad_loose[i], &ids, &nl) == GPTOSS_ERR_ARG);
        CHECK(ids == NULL && nl == 0 && gptoss_last_error()[0]);
    }
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
    chmod(path, 0755);
}

/* adapter_run with a stand-in: GPTOSS_PYTHON=/bin/sh runs python/ref_<name>.py as a shell
 * script, which copies a prepared dump to --out (or fails with a message). */
static void test_adapter(void) {
    char *py = gptoss_path_join(tmpdir, "python");
    mkdir(py, 0755);
    char *ok = gptoss_path_join(py, "ref_fake.py"), *bad = gptoss_path_join(py, "ref_broken.py");
    char *src = gptoss_path_join(tmpdir, "prepared.safetensors");
    stage_dump a, b;
    make_dump(&a, 1);
    CHECK(dump_save(&a, src) == GPTOSS_OK);
    char script[512];
    snprintf(script, sizeof script,
             "while [ $# -gt 0 ]; do case $1 in --out) out=$2;; --want) want=$2;; esac; shift; done\n"
             "[ \"$want\" = yes ] || { echo 'missing --want'; exit 4; }\n"
             "cp %s \"$out\"\n", src);
    write_text(ok, script);
    write_text(bad, "echo 'loading...' >&2\necho 'Traceback' >&2\necho 'ValueError: bad checkpoint' >&2\nexit 1\n");
    setenv("GPTOSS_HOME", tmpdir, 1);
    setenv("GPTOSS_PYTHON", "/bin/sh", 1);

    int32_t ids[S] = {4827, 382, 199999, 199999};
    char *extra[] = {"--want", "yes"};
    adapter_options o = {.name = "fake", .checkpoint = tmpdir, .tokens = ids, .n_tokens = S,
                         .n_valid = NV, .extra = extra, .n_extra = 2};
    double secs = -1;
    dump_init(&b);
    CHECK(adapter_run(&o, &b, &secs) == GPTOSS_OK);
    CHECK(b.n == a.n && secs >= 0);
    dump_free(&b);

    o.n_extra = 0; /* the adapter exits 4 with a message on stdout */
    dump_init(&b);
    CHECK(adapter_run(&o, &b, NULL) == GPTOSS_ERR_EXTERNAL);
    CHECK(strstr(gptoss_last_error(), "ref_fake.py: exit status 4: missing --want") != NULL);
    o.name = "broken";
    CHECK(adapter_run(&o, &b, NULL) == GPTOSS_ERR_EXTERNAL);
    fprintf(stderr, "  adapter error: %s\n", gptoss_last_error());
    CHECK(strstr(gptoss_last_error(), "ValueError: bad checkpoint") != NULL);
    o.name = "nosuch";
    CHECK(adapter_run(&o, &b, NULL) != GPTOSS_OK);
    CHECK(strstr(gptoss_last_error(), "ref_nosuch.py") != NULL);
    o.name = "../etc";
    CHECK(adapter_run(&o, &b, NULL) != GPTOSS_OK);
    CHECK(strstr(gptoss_last_error(), "not a reference name") != NULL);
    o.name = "fake";
    setenv("GPTOSS_PYTHON", "/nonexistent/python", 1);
    CHECK(adapter_run(&o, &b, NULL) == GPTOSS_ERR_MISSING);
    CHECK(strstr(gptoss_last_error(), "GPTOSS_PYTHON=/nonexistent/python") != NULL);
    unsetenv("GPTOSS_PYTHON");
    CHECK(adapter_run(&o, &b, NULL) == GPTOSS_ERR_MISSING); /* no <home>/.venv here */
    CHECK(strstr(gptoss_last_error(), "no reference Python") != NULL);
    CHECK(b.n == 0);
    dump_free(&b);
    dump_free(&a);
    unlink(ok);
    unlink(bad);
    unlink(src);
    rmdir(py);
    free(ok);
    free(bad);
    free(src);
    free(py);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/gptoss_test_parity_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    test_identical();
    test_statistics();
    test_issues();
    test_save_load();
    test_tokens();
    test_adapter();
    char *p = gptoss_path_join(tmpdir, "dump.safetensors");
    unlink(p);
    free(p);
    rmdir(tmpdir);
    if (check_failures) fprintf(stderr, "%d checks failed\n", check_failures);
    else printf("ok\n");
    return check_failures ? 1 : 0;
}
