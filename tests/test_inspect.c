/* test_inspect.c: the `gptoss inspect` command (run as $GPTOSS_BIN): the parameter count of
 * the full gpt-oss-20b geometry (a sparse checkpoint: real headers, zero data, no disk
 * blocks), both layouts, --max-layers, --json, --dequantize against an independent MXFP4
 * decoding written here, atomic output, and usage errors. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "ckpt_fixture.h"
#include "safetensors.h"
#include "util.h"

#include "check.h"

static char g_root[256];
static const char *g_bin;
static char g_out[1 << 20], g_err[4096];

/* Runs "$GPTOSS_BIN inspect <args>"; stdout/stderr land in g_out/g_err; returns the exit
 * status (128+signal when killed). */
static int inspect(const char *args) {
    char cmd[4096], po[600], pe[600];
    snprintf(po, sizeof po, "%s/stdout", g_root);
    snprintf(pe, sizeof pe, "%s/stderr", g_root);
    snprintf(cmd, sizeof cmd, "'%s' inspect %s >'%s' 2>'%s'", g_bin, args, po, pe);
    int rc = system(cmd);
    rc = WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
    char *o = gptoss_read_file(po, NULL), *e = gptoss_read_file(pe, NULL);
    snprintf(g_out, sizeof g_out, "%s", o ? o : "");
    snprintf(g_err, sizeof g_err, "%s", e ? e : "");
    free(o);
    free(e);
    return rc;
}

/* Parameters of geometry g with n blocks: every element, MXFP4 weights as decoded values. */
static int64_t expected_params(const geom *g, int n) {
    int64_t h = g->hidden, e = g->experts, in = g->inter, q = (int64_t)g->heads * g->head_dim,
            qkv = q + 2 * (int64_t)g->kv_heads * g->head_dim;
    int64_t per = h + qkv * h + qkv + g->heads + h * q + h + h + e * h + e + e * 2 * in * h + e * 2 * in +
                  e * h * in + e * h;
    return 2 * (int64_t)g->vocab * h + h + n * per;
}

static char *new_dir(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", g_root, name);
    mkdir(buf, 0777);
    return buf;
}

static void check_20b(int hf) {
    char *dir = new_dir(hf ? "20b-hf" : "20b");
    write_checkpoint(dir, &GEOM_20B, hf, 1);
    char args[1024], want[128];
    snprintf(args, sizeof args, "'%s'", dir);
    int rc = inspect(args);
    CHECK(rc == 0, "inspect 20b: exit %d: %s", rc, g_err);
    int64_t p = expected_params(&GEOM_20B, 24);
    CHECK(p == 20914757184LL, "the test's own count: %lld", (long long)p);
    snprintf(want, sizeof want, "parameters: 20.91 B (%lld)", (long long)p);
    CHECK(strstr(g_out, want), "20b %s: no '%s' in:\n%s", hf ? "hf" : "original", want, g_out);
    CHECK(strstr(g_out, hf ? "model.layers.23.mlp.experts.gate_up_proj_blocks" : "block.23.mlp.mlp1_weight.blocks"),
          "table lists the last block");
    CHECK(strstr(g_out, "[32, 5760, 90, 16]") && strstr(g_out, "[201088, 2880]"), "table shapes");
    CHECK(strstr(g_out, hf ? "layout:     hf" : "layout:     original"), "layout line");

    /* --max-layers 2: the 2-layer slice */
    snprintf(args, sizeof args, "'%s' --max-layers 2", dir);
    rc = inspect(args);
    snprintf(want, sizeof want, "(%lld)", (long long)expected_params(&GEOM_20B, 2));
    CHECK(rc == 0 && strstr(g_out, want) && strstr(g_out, "blocks in use: 2 of 24"), "--max-layers 2: %s%s", g_out,
          g_err);

    /* --json */
    snprintf(args, sizeof args, "'%s' --json", dir);
    rc = inspect(args);
    cJSON *j = cJSON_Parse(g_out);
    const cJSON *par = cJSON_GetObjectItemCaseSensitive(j, "parameters");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(j, "tensors");
    const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(j, "config");
    CHECK(rc == 0 && cJSON_IsNumber(par) && (int64_t)par->valuedouble == p, "--json parameters");
    CHECK(cJSON_GetArraySize(ts) == 3 + 24 * (hf ? 19 : 15), "--json tensor count %d", cJSON_GetArraySize(ts));
    const cJSON *ne = cJSON_GetObjectItemCaseSensitive(cfg, "num_experts");
    CHECK(cJSON_IsNumber(ne) && ne->valueint == 32, "--json config");
    cJSON_Delete(j);
    printf("ok: 20b geometry (%s): 20.91 B parameters, --max-layers, --json\n", hf ? "hf" : "original");
}

/* Independent MXFP4 decoding of element (row, c) from the fixture's byte pattern. */
static float fixture_mxfp4(const char *blocks_name, const char *scales_name, int64_t row, int64_t c, int64_t cols) {
    int64_t g = cols / 32;
    size_t bi = (size_t)((row * g + c / 32) * 16 + (c % 32) / 2), si = (size_t)(row * g + c / 32);
    uint8_t byte = u8val(bi, (int)strlen(blocks_name), 0);
    uint8_t scale = u8val(si, (int)strlen(scales_name), 1);
    int code = c % 2 ? byte >> 4 : byte & 15;
    return ldexpf(gptoss_fp4_values[code], scale - 127);
}

static void check_dequantize(void) {
    char *dir = new_dir("tiny");
    const geom *g = &GEOM_TINY;
    write_checkpoint(dir, g, 0, 0);
    char args[2048], out[600];
    snprintf(out, sizeof out, "%s/deq.safetensors", g_root);

    const char *bn = "block.1.mlp.mlp1_weight.blocks", *sn = "block.1.mlp.mlp1_weight.scales";
    snprintf(args, sizeof args, "'%s' --dequantize block.1.mlp.mlp1_weight -o '%s'", dir, out);
    int rc = inspect(args);
    CHECK(rc == 0, "dequantize mlp1: exit %d: %s", rc, g_err);
    st_file *f = NULL;
    if (rc == 0 && st_open(out, &f) == GPTOSS_OK) {
        const gptoss_tensor *t = st_find(f, "block.1.mlp.mlp1_weight");
        int64_t rows = (int64_t)g->experts * 2 * g->inter, cols = g->hidden;
        CHECK(t && t->dtype == GPTOSS_DT_F32 && t->ndim == 3 && t->shape[0] == g->experts &&
                  t->shape[1] == 2 * g->inter && t->shape[2] == g->hidden,
              "decoded shape");
        int bad = 0, n255 = 0;
        for (int64_t r = 0; t && r < rows; r++)
            for (int64_t c = 0; c < cols; c++) {
                float want = fixture_mxfp4(bn, sn, r, c, cols), have;
                memcpy(&have, (const uint8_t *)t->data + 4 * (size_t)(r * cols + c), 4);
                bad += memcmp(&want, &have, 4) != 0;
                n255 += u8val((size_t)(r * (cols / 32) + c / 32), (int)strlen(sn), 1) == 255;
            }
        CHECK(bad == 0, "%d decoded values differ", bad);
        CHECK(n255 > 0, "the fixture exercises scale 255");
        st_close(f);
    } else {
        CHECK(0, "cannot read %s: %s", out, gptoss_last_error());
    }

    /* BF16 -> F32 */
    snprintf(args, sizeof args, "'%s' --dequantize block.0.attn.qkv.weight -o '%s'", dir, out);
    rc = inspect(args);
    if (rc == 0 && st_open(out, &f) == GPTOSS_OK) {
        const gptoss_tensor *t = st_find(f, "block.0.attn.qkv.weight");
        int salt = (int)strlen("block.0.attn.qkv.weight"), bad = 0;
        size_t n = t ? t->nbytes / 4 : 0;
        for (size_t i = 0; i < n; i++) {
            float have;
            memcpy(&have, (const uint8_t *)t->data + 4 * i, 4);
            bad += have != bf16_to_f32(f32_to_bf16(fval(i, salt)));
        }
        CHECK(t && t->ndim == 2 && n == (size_t)(g->heads + 2 * g->kv_heads) * g->head_dim * g->hidden && bad == 0,
              "bf16 -> f32");
        st_close(f);
    } else {
        CHECK(0, "dequantize bf16: exit %d: %s", rc, g_err);
    }

    /* a failure leaves the existing output untouched and no temporary behind */
    write_raw(out, "keep", 4);
    snprintf(args, sizeof args, "'%s' --dequantize no.such.tensor -o '%s'", dir, out);
    rc = inspect(args);
    CHECK(rc != 0 && rc < 128 && strstr(g_err, "no.such.tensor"), "unknown tensor: exit %d: %s", rc, g_err);
    char *kept = gptoss_read_file(out, NULL);
    CHECK(kept && !strcmp(kept, "keep"), "existing output was modified");
    free(kept);
    DIR *d = opendir(g_root);
    struct dirent *e;
    while (d && (e = readdir(d))) CHECK(!strstr(e->d_name, ".tmp."), "temporary left behind: %s", e->d_name);
    if (d) closedir(d);
    printf("ok: --dequantize (MXFP4 with scales 0..255, BF16), atomic output\n");
}

static void check_errors(void) {
    struct {
        const char *args;
        int rc;
        const char *frag;
    } cases[] = {
        {"", 2, "no checkpoint folder"},
        {"--help", 0, NULL},
        {"x --bogus", 2, "unknown option"},
        {"x --max-layers", 2, "needs a value"},
        {"x --max-layers abc", 2, "--max-layers"},
        {"x --max-layers 0", 2, "--max-layers"},
        {"x y", 2, "one checkpoint folder"},
        {"x --dequantize a", 2, "-o"},
        {"x -o out", 2, "--dequantize"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = inspect(cases[i].args);
        CHECK(rc == cases[i].rc, "inspect %s: exit %d, expected %d", cases[i].args, rc, cases[i].rc);
        if (cases[i].frag)
            CHECK(strstr(g_err, cases[i].frag) && !strncmp(g_err, "gptoss inspect: ", 16) &&
                      strchr(g_err, '\n') == g_err + strlen(g_err) - 1,
                  "inspect %s: message '%s'", cases[i].args, g_err);
    }
    CHECK(inspect("--help") == 0 && strstr(g_out, "usage: gptoss inspect"), "--help text");
    char args[600];
    snprintf(args, sizeof args, "'%s/missing'", g_root);
    int rc = inspect(args);
    CHECK(rc == 1 && strstr(g_err, "gptoss inspect: ") && strstr(g_err, "/missing: cannot open folder") &&
              strchr(g_err, '\n') == g_err + strlen(g_err) - 1,
          "missing folder: exit %d: %s", rc, g_err);
    printf("ok: usage and folder errors\n");
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

int main(void) {
    g_bin = getenv("GPTOSS_BIN");
    if (!g_bin || !*g_bin) {
        printf("skipped: GPTOSS_BIN not set\n");
        return 77;
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(g_root, sizeof g_root, "%s/gptoss-test-inspect-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_root)) return 1;
    check_errors();
    check_dequantize();
    check_20b(0);
    check_20b(1);
    nftw(g_root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    if (check_failures) fprintf(stderr, "%d checks failed\n", check_failures);
    return check_failures ? 1 : 0;
}
