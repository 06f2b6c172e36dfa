/* test_checkpoint.c: the safetensors reader, the config parser and gptoss_model_open on
 * small checkpoints written here (original and Hugging Face layouts), then every kind of bad
 * input, each its own check: a clear one-line error naming the file, never a crash. */
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model_internal.h"
#include "mxfp4.h"
#include "safetensors.h"
#include "util.h"

#include "check.h"

#include "ckpt_fixture.h"

/* ---- a tiny geometry (GEOM_TINY) -------------------------------------------------------- */
enum { L = 2, E = 4, K = 2, V = 100, H = 64, I = 64, NH = 4, NKV = 2, D = 16 };
#define QKV ((NH + 2 * NKV) * D)

static void tensors_for(tlist *l, int hf, int layers) {
    geom g = GEOM_TINY;
    g.layers = layers;
    tensors_for_geom(l, &g, hf);
}
static void write_st(const char *path, const tlist *l) { write_st_file(path, l, 0); }

static const char *ORIGINAL_CONFIG =
    "{\"num_hidden_layers\": 2, \"num_experts\": 4, \"experts_per_token\": 2, \"vocab_size\": 100,"
    " \"hidden_size\": 64, \"intermediate_size\": 64, \"swiglu_limit\": 7.0, \"head_dim\": 16,"
    " \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"sliding_window\": 8,"
    " \"initial_context_length\": 4096, \"rope_theta\": 150000, \"rope_scaling_factor\": 32.0,"
    " \"rope_ntk_alpha\": 1.0, \"rope_ntk_beta\": 32.0}";

static const char *HF_CONFIG =
    "{\"architectures\": [\"GptOssForCausalLM\"], \"model_type\": \"gpt_oss\", \"num_hidden_layers\": 2,"
    " \"num_local_experts\": 4, \"num_experts_per_tok\": 2, \"experts_per_token\": 2, \"vocab_size\": 100,"
    " \"hidden_size\": 64, \"intermediate_size\": 64, \"swiglu_limit\": 7.0, \"head_dim\": 16,"
    " \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"sliding_window\": 8,"
    " \"initial_context_length\": 4096, \"rope_theta\": 150000, \"rms_norm_eps\": 1e-05,"
    " \"layer_types\": [\"sliding_attention\", \"full_attention\"],"
    " \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 32.0, \"beta_fast\": 32.0, \"beta_slow\": 1.0,"
    " \"original_max_position_embeddings\": 4096, \"truncate\": false}}";

static char g_root[256];
static int g_case;

/* A fresh folder for one case. */
static char *new_dir(void) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/c%d", g_root, g_case++);
    mkdir(buf, 0777);
    return buf;
}

static void write_text(const char *dir, const char *name, const char *text) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    write_raw(p, text, strlen(text));
}

/* A checkpoint folder: config + tensors (after an optional mutation) in one file. */
static char *make_ckpt(int hf, void (*mutate)(tlist *)) {
    char *dir = new_dir();
    static tlist l;
    tensors_for(&l, hf, L);
    if (mutate) mutate(&l);
    write_text(dir, "config.json", hf ? HF_CONFIG : ORIGINAL_CONFIG);
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, hf ? "model.safetensors" : "model.safetensors");
    write_st(p, &l);
    return dir;
}

/* gptoss_model_open must fail with status want and a one-line message containing every
 * one of the given fragments. */
static void expect_open_fails(const char *what, const char *dir, int max_layers, gptoss_status want,
                              const char *frag1, const char *frag2) {
    gptoss_model *m = NULL;
    gptoss_open_options o = {.max_layers = max_layers};
    gptoss_status st = gptoss_model_open(dir, &o, &m);
    const char *msg = gptoss_last_error();
    CHECK(st != GPTOSS_OK && m == NULL, "%s: opened a bad checkpoint", what);
    CHECK(st == want, "%s: status %s, expected %s (%s)", what, gptoss_status_name(st), gptoss_status_name(want), msg);
    CHECK(!strchr(msg, '\n'), "%s: message is not one line", what);
    CHECK(frag1 == NULL || strstr(msg, frag1), "%s: message lacks '%s': %s", what, frag1, msg);
    CHECK(frag2 == NULL || strstr(msg, frag2), "%s: message lacks '%s': %s", what, frag2, msg);
    printf("ok: %-40s %s\n", what, msg);
    gptoss_model_close(m);
}

/* ---- valid checkpoints ------------------------------------------------------------------ */

static float bf16_at(const gptoss_mat *m, int64_t r, int64_t c) {
    uint16_t h;
    memcpy(&h, (const uint8_t *)m->data + 2 * (size_t)(r * m->stride + c), 2);
    return bf16_to_f32(h);
}

static void check_valid(int hf) {
    char *dir = make_ckpt(hf, NULL);
    gptoss_model *m = NULL;
    gptoss_status st = gptoss_model_open(dir, NULL, &m);
    CHECK(st == GPTOSS_OK, "open %s: %s", hf ? "hf" : "original", gptoss_last_error());
    if (st) return;
    const gptoss_config *c = gptoss_model_config(m);
    CHECK(c->num_hidden_layers == L && c->num_experts == E && c->experts_per_token == K && c->vocab_size == V &&
              c->hidden_size == H && c->intermediate_size == I && c->head_dim == D && c->num_attention_heads == NH &&
              c->num_key_value_heads == NKV && c->sliding_window == 8 && c->initial_context_length == 4096,
          "config ints");
    CHECK(c->rope_theta == 150000.0f && c->rope_scaling_factor == 32.0f && c->rope_ntk_alpha == 1.0f &&
              c->rope_ntk_beta == 32.0f && c->swiglu_limit == 7.0f,
          "config floats");
    CHECK(gptoss_model_layers(m) == L, "layers");
    CHECK(!strcmp(gptoss_model_layout(m), hf ? "hf" : "original"), "layout %s", gptoss_model_layout(m));
    size_t want_tensors = (size_t)(3 + L * (hf ? 19 : 15));
    CHECK(gptoss_model_tensor_count(m) == want_tensors, "tensor count %zu", gptoss_model_tensor_count(m));
    CHECK(gptoss_model_tensor(m, want_tensors) == NULL, "tensor index out of range");
    /* natural order: block.1.* before block.10.* would hold; here check sortedness by index */
    for (int b = 0; b < L; b++) {
        const gptoss_block *blk = &m->blocks[b];
        CHECK(blk->wq.rows == NH * D && blk->wk.rows == NKV * D && blk->wv.rows == NKV * D && blk->wq.cols == H,
              "qkv views shape");
        CHECK(blk->wq.stride == H && blk->wo.rows == H && blk->wo.cols == NH * D, "strides");
        CHECK(blk->mlp1.n_experts == E && blk->mlp1.rows == 2 * I && blk->mlp1.cols == H, "mlp1 geometry");
        CHECK(blk->mlp2.rows == H && blk->mlp2.cols == I, "mlp2 geometry");
        if (!hf) {
            /* element j of qkv holds fval(j, salt): wk row 0 col 0 is element NH*D*H */
            int salt = (int)strlen("block.0.attn.qkv.weight");
            float want = bf16_to_f32(f32_to_bf16(fval((size_t)NH * D * H, salt)));
            CHECK(bf16_at(&blk->wk, 0, 0) == want, "wk view offset");
            want = bf16_to_f32(f32_to_bf16(fval((size_t)(NH + NKV) * D * H + 3 * H + 5, salt)));
            CHECK(bf16_at(&blk->wv, 3, 5) == want, "wv view offset");
            salt = (int)strlen("block.0.attn.qkv.bias");
            CHECK(blk->bk[1] == bf16_to_f32(f32_to_bf16(fval(NH * D + 1, salt))), "bk offset");
        }
        /* small vectors are fp32 copies */
        int salt = (int)strlen(hf ? "model.layers.0.mlp.experts.down_proj_bias" : "block.0.mlp.mlp2_bias");
        CHECK(blk->b2[E * H - 1] == bf16_to_f32(f32_to_bf16(fval(E * H - 1, salt))), "b2 conversion");
    }
    CHECK(m->norm[5] == fval(5, (int)strlen(hf ? "model.norm.weight" : "norm.scale")), "F32 vector copied");
    CHECK(m->embedding.rows == V && m->unembedding.cols == H, "embedding geometry");
    gptoss_model_close(m);

    /* max_layers: block 1 may even be broken, it is never looked at */
    gptoss_open_options o = {.max_layers = 1};
    st = gptoss_model_open(dir, &o, &m);
    CHECK(st == GPTOSS_OK && gptoss_model_layers(m) == 1, "max_layers 1: %s", gptoss_last_error());
    gptoss_model_close(m);
    printf("ok: valid %s checkpoint\n", hf ? "hf" : "original");
}

static void drop_block1(tlist *l) {
    tremove(l, "block.1.attn.qkv.weight");
    tremove(l, "block.1.mlp.mlp1_weight.scales");
}

static void check_max_layers_touches_nothing_else(void) {
    char *dir = make_ckpt(0, drop_block1);
    gptoss_open_options o = {.max_layers = 1};
    gptoss_model *m = NULL;
    gptoss_status st = gptoss_model_open(dir, &o, &m);
    CHECK(st == GPTOSS_OK, "max_layers=1 with block 1 incomplete: %s", gptoss_last_error());
    gptoss_model_close(m);
    expect_open_fails("all layers with block 1 incomplete", dir, 0, GPTOSS_ERR_MISSING, "block.1.attn.qkv.weight", NULL);
}

/* Resident file-backed pages of this process (the third field of /proc/self/statm). */
static long resident_file_pages(void) {
    long size = 0, resident = 0, shared = -1;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld %ld", &size, &resident, &shared) != 3) shared = -1;
        fclose(f);
    }
    return shared;
}

/* preload: the unembedding (8 MiB here, 2048 pages) is in this process's page tables once
 * the model is open; a lazy open maps only what it reads (the header and the small vectors,
 * plus the kernel's fault-around, at most 16 pages per fault). */
static void check_preload(void) {
    if (resident_file_pages() < 0) {
        printf("skipped: preload (no /proc/self/statm)\n");
        return;
    }
    geom g = GEOM_TINY;
    g.vocab = 65536;
    static tlist l;
    tensors_for_geom(&l, &g, 0);
    char *dir = new_dir(), p[600], cfg[1024];
    const char *at = strstr(ORIGINAL_CONFIG, "\"vocab_size\": 100,");
    snprintf(cfg, sizeof cfg, "%.*s\"vocab_size\": 65536,%s", (int)(at - ORIGINAL_CONFIG), ORIGINAL_CONFIG,
             at + strlen("\"vocab_size\": 100,"));
    write_text(dir, "config.json", cfg);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    write_st(p, &l);
    long delta[2];
    for (int preload = 0; preload < 2; preload++) {
        gptoss_open_options o = {.preload = preload};
        gptoss_model *m = NULL;
        long before = resident_file_pages();
        gptoss_status st = gptoss_model_open(dir, &o, &m);
        CHECK(st == GPTOSS_OK, "preload %d: %s", preload, gptoss_last_error());
        delta[preload] = resident_file_pages() - before;
        gptoss_model_close(m);
    }
    CHECK(delta[1] - delta[0] >= 2048, "preload: %ld more resident pages than a lazy open (%ld), want >= 2048",
          delta[1] - delta[0], delta[0]);
    printf("ok: preload maps %ld pages at open, a lazy open %ld\n", delta[1], delta[0]);
}

/* Sharded HF: two files + model.safetensors.index.json. */
static void check_hf_sharded(void) {
    char *dir = new_dir();
    static tlist all, a, b;
    tensors_for(&all, 1, L);
    a.n = b.n = 0;
    char idx[16384];
    size_t k = (size_t)sprintf(idx, "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
    for (int i = 0; i < all.n; i++) {
        int second = strstr(all.t[i].name, "layers.1.") != NULL;
        (second ? &b : &a)->t[(second ? &b : &a)->n++] = all.t[i];
        k += (size_t)sprintf(idx + k, "%s\"%s\": \"model-0000%d-of-00002.safetensors\"", i ? ", " : "",
                             all.t[i].name, second + 1);
    }
    sprintf(idx + k, "}}");
    write_text(dir, "config.json", HF_CONFIG);
    write_text(dir, "model.safetensors.index.json", idx);
    char p[600];
    snprintf(p, sizeof p, "%s/model-00001-of-00002.safetensors", dir);
    write_st(p, &a);
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", dir);
    write_st(p, &b);
    /* a stray file the index does not name is ignored */
    write_text(dir, "junk.safetensors", "garbage");
    gptoss_model *m = NULL;
    gptoss_status st = gptoss_model_open(dir, NULL, &m);
    CHECK(st == GPTOSS_OK, "hf sharded: %s", gptoss_last_error());
    if (!st) CHECK(m->n_files == 2 && gptoss_model_tensor_count(m) == (size_t)all.n, "shards");
    gptoss_model_close(m);
    printf("ok: hf sharded checkpoint\n");

    /* index naming a shard that does not exist */
    write_text(dir, "model.safetensors.index.json",
               "{\"weight_map\": {\"lm_head.weight\": \"model-00009-of-00009.safetensors\"}}");
    expect_open_fails("index names a missing shard", dir, 0, GPTOSS_ERR_IO, "model-00009-of-00009.safetensors", NULL);
    write_text(dir, "model.safetensors.index.json",
               "{\"weight_map\": {\"lm_head.weight\": \"model-00002-of-00002.safetensors\"}}");
    expect_open_fails("index puts a tensor in the wrong shard", dir, 0, GPTOSS_ERR_MISSING, "lm_head.weight", NULL);
    write_text(dir, "model.safetensors.index.json", "{\"weight_map\": {\"x\": \"../etc.safetensors\"}}");
    expect_open_fails("index names a path outside", dir, 0, GPTOSS_ERR_FORMAT, "index.json", NULL);
}

/* The same data split over several *.safetensors files (original layout). */
static void check_original_multi_file(void) {
    char *dir = new_dir();
    static tlist all, a, b;
    tensors_for(&all, 0, L);
    a.n = b.n = 0;
    for (int i = 0; i < all.n; i++) (i % 2 ? &b : &a)->t[(i % 2 ? &b : &a)->n++] = all.t[i];
    write_text(dir, "config.json", ORIGINAL_CONFIG);
    char p[600];
    snprintf(p, sizeof p, "%s/a.safetensors", dir);
    write_st(p, &a);
    snprintf(p, sizeof p, "%s/b.safetensors", dir);
    write_st(p, &b);
    gptoss_model *m = NULL;
    gptoss_status st = gptoss_model_open(dir, NULL, &m);
    CHECK(st == GPTOSS_OK && m->n_files == 2, "original, two files: %s", gptoss_last_error());
    gptoss_model_close(m);
    printf("ok: original layout in two files\n");
    /* the same tensor in two files */
    snprintf(p, sizeof p, "%s/c.safetensors", dir);
    write_st(p, &b);
    expect_open_fails("tensor in two files", dir, 0, GPTOSS_ERR_FORMAT, "c.safetensors", "also in");
}

/* ---- bad folders ------------------------------------------------------------------------- */

static void check_bad_folders(void) {
    char p[600];
    snprintf(p, sizeof p, "%s/does-not-exist", g_root);
    expect_open_fails("missing folder", p, 0, GPTOSS_ERR_IO, "does-not-exist", "No such file");

    char *dir = new_dir();
    write_text(dir, "config.json", ORIGINAL_CONFIG);
    snprintf(p, sizeof p, "%s/config.json", dir);
    expect_open_fails("a file, not a folder", p, 0, GPTOSS_ERR_IO, "config.json", "not a folder");
    expect_open_fails("no safetensors files", dir, 0, GPTOSS_ERR_MISSING, dir, "no *.safetensors");

    dir = new_dir();
    expect_open_fails("no config.json", dir, 0, GPTOSS_ERR_IO, "config.json", "cannot open");

    /* a folder and a FIFO posing as safetensors files */
    dir = new_dir();
    write_text(dir, "config.json", ORIGINAL_CONFIG);
    snprintf(p, sizeof p, "%s/sub.safetensors", dir);
    mkdir(p, 0777);
    expect_open_fails("a folder named *.safetensors", dir, 0, GPTOSS_ERR_IO, "sub.safetensors", "not a regular file");
    dir = new_dir();
    write_text(dir, "config.json", ORIGINAL_CONFIG);
    snprintf(p, sizeof p, "%s/pipe.safetensors", dir);
    if (mkfifo(p, 0666) == 0)
        expect_open_fails("a FIFO named *.safetensors", dir, 0, GPTOSS_ERR_IO, "pipe.safetensors", "not a regular file");

    if (geteuid() != 0) { /* root reads everything */
        dir = make_ckpt(0, NULL);
        chmod(dir, 0);
        expect_open_fails("unreadable folder", dir, 0, GPTOSS_ERR_IO, dir, "Permission denied");
        chmod(dir, 0755);
        dir = make_ckpt(0, NULL);
        snprintf(p, sizeof p, "%s/model.safetensors", dir);
        chmod(p, 0);
        expect_open_fails("unreadable safetensors file", dir, 0, GPTOSS_ERR_IO, "model.safetensors", "Permission denied");
        chmod(p, 0644);
    } else {
        printf("skip: unreadable folder/file checks (running as root)\n");
    }
}

/* ---- bad safetensors files ------------------------------------------------------------- */

/* A folder with a valid config and one safetensors file made of an 8-byte length, the
 * header text and data_len zero bytes. hlen_override != 0 replaces the length field. */
static char *bad_st_dir(const char *header, size_t data_len, uint64_t hlen_override) {
    char *dir = new_dir();
    write_text(dir, "config.json", ORIGINAL_CONFIG);
    size_t hl = strlen(header);
    uint8_t *buf = calloc(1, 8 + hl + data_len);
    uint64_t n = hlen_override ? hlen_override : hl;
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(n >> (8 * i));
    memcpy(buf + 8, header, hl);
    char p[600];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    write_raw(p, buf, 8 + hl + data_len);
    free(buf);
    return dir;
}

static void check_bad_safetensors(void) {
    char *dir = new_dir();
    write_text(dir, "config.json", ORIGINAL_CONFIG);
    write_text(dir, "model.safetensors", "abc");
    expect_open_fails("file shorter than 8 bytes", dir, 0, GPTOSS_ERR_FORMAT, "model.safetensors", "truncated");

    dir = bad_st_dir("{}", 0, 1000);
    expect_open_fails("header length beyond the file", dir, 0, GPTOSS_ERR_FORMAT, "model.safetensors", "beyond the file");
    dir = bad_st_dir("this is not json", 0, 0);
    expect_open_fails("header not JSON", dir, 0, GPTOSS_ERR_FORMAT, "model.safetensors", "not a JSON object");
    dir = bad_st_dir("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]", 8, 0);
    expect_open_fails("header JSON cut short", dir, 0, GPTOSS_ERR_FORMAT, "model.safetensors", "not valid JSON");
    dir = bad_st_dir("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}} xx", 8, 0);
    expect_open_fails("header with trailing bytes", dir, 0, GPTOSS_ERR_FORMAT, "model.safetensors", "trailing");
    dir = bad_st_dir("{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 8, 0);
    expect_open_fails("offsets out of range", dir, 0, GPTOSS_ERR_FORMAT, "model.safetensors", "out of range");
    dir = bad_st_dir("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                     " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
                     12, 0);
    expect_open_fails("overlapping offsets", dir, 0, GPTOSS_ERR_FORMAT, "model.safetensors", "overlap");
    dir = bad_st_dir("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                     " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [12, 20]}}",
                     20, 0);
    expect_open_fails("gap between tensors", dir, 0, GPTOSS_ERR_FORMAT, "model.safetensors", "gap");
    dir = bad_st_dir("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 16, 0);
    expect_open_fails("data not covered by tensors", dir, 0, GPTOSS_ERR_FORMAT, "model.safetensors", "cover");
    dir = bad_st_dir("{\"a\": {\"dtype\": \"Q4\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8, 0);
    expect_open_fails("unknown dtype", dir, 0, GPTOSS_ERR_FORMAT, "model.safetensors", "unknown dtype 'Q4'");
    dir = bad_st_dir("{\"a\": {\"dtype\": \"BF16\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 8, 0);
    expect_open_fails("shape x dtype != byte length", dir, 0, GPTOSS_ERR_FORMAT, "model.safetensors", "6 bytes");
    dir = bad_st_dir("{\"a\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}", 8, 0);
    expect_open_fails("negative dimension", dir, 0, GPTOSS_ERR_FORMAT, "model.safetensors", "shape[0]");
    dir = bad_st_dir("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 0]}}", 8, 0);
    expect_open_fails("offsets reversed", dir, 0, GPTOSS_ERR_FORMAT, "model.safetensors", "out of range");
    dir = bad_st_dir("{\"a\": {\"dtype\": \"F32\", \"shape\": [2]}}", 8, 0);
    expect_open_fails("data_offsets missing", dir, 0, GPTOSS_ERR_FORMAT, "model.safetensors", "data_offsets");
    dir = bad_st_dir("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                     " \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
                     8, 0);
    expect_open_fails("tensor declared twice", dir, 0, GPTOSS_ERR_FORMAT, "model.safetensors", "twice");
    dir = bad_st_dir("{\"a\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4294967296],"
                     " \"data_offsets\": [0, 8]}}",
                     8, 0);
    expect_open_fails("shape overflowing 64 bits", dir, 0, GPTOSS_ERR_FORMAT, "model.safetensors", "too large");

    /* truncated: a valid file with its last bytes cut off */
    dir = make_ckpt(0, NULL);
    char p[600];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    struct stat sb;
    stat(p, &sb);
    if (truncate(p, sb.st_size - 100) != 0) abort();
    expect_open_fails("truncated file", dir, 0, GPTOSS_ERR_FORMAT, "model.safetensors", "truncated");
}

/* ---- tensors that disagree with the model ------------------------------------------------- */

static void rm_sinks(tlist *l) { tremove(l, "block.0.attn.sinks"); }
static void rm_unembedding(tlist *l) { tremove(l, "unembedding.weight"); }
static void rm_hf_k(tlist *l) { tremove(l, "model.layers.1.self_attn.k_proj.weight"); }
static void wide_vocab(tlist *l) { tfind(l, "embedding.weight")->shape[0] = V + 1; }
static void short_qkv(tlist *l) { tfind(l, "block.1.attn.qkv.weight")->shape[0] = QKV - D; }
static void scales_disagree(tlist *l) { tfind(l, "block.0.mlp.mlp1_weight.scales")->shape[1] = 2 * I - 1; }
static void blocks_not_16(tlist *l) {
    tdesc *d = tfind(l, "block.1.mlp.mlp2_weight.blocks");
    d->shape[2] *= 2;
    d->shape[3] = 8;
}
static void both_mxfp4_wrong(tlist *l) {
    tfind(l, "block.0.mlp.mlp2_weight.blocks")->shape[2] = 3;
    tfind(l, "block.0.mlp.mlp2_weight.scales")->shape[2] = 3;
}
static void u8_matrix(tlist *l) { tfind(l, "block.0.attn.out.weight")->dtype = "U8"; }
static void extra_block(tlist *l) {
    int64_t s[1] = {H};
    add(l, "BF16", 1, s, "block.2.attn.norm.scale");
}
static void hf_dequantized(tlist *l) {
    int64_t s[3] = {E, H, 2 * I};
    add(l, "BF16", 3, s, "model.layers.0.mlp.experts.gate_up_proj");
}

static void check_bad_tensors(void) {
    expect_open_fails("required tensor missing", make_ckpt(0, rm_sinks), 0, GPTOSS_ERR_MISSING,
                      "'block.0.attn.sinks' is missing", NULL);
    expect_open_fails("unembedding missing", make_ckpt(0, rm_unembedding), 0, GPTOSS_ERR_MISSING, "unembedding.weight",
                      NULL);
    expect_open_fails("hf k_proj missing", make_ckpt(1, rm_hf_k), 0, GPTOSS_ERR_MISSING,
                      "model.layers.1.self_attn.k_proj.weight", "hf layout");
    expect_open_fails("config vocab_size contradicts embedding", make_ckpt(0, wide_vocab), 0, GPTOSS_ERR_FORMAT,
                      "[101, 64]", "config.json implies [100, 64]");
    expect_open_fails("config heads contradict qkv", make_ckpt(0, short_qkv), 0, GPTOSS_ERR_FORMAT,
                      "block.1.attn.qkv.weight", "implies [128, 64]");
    expect_open_fails("blocks/scales shapes disagree", make_ckpt(0, scales_disagree), 0, GPTOSS_ERR_FORMAT,
                      "block.0.mlp.mlp1_weight.blocks", "disagree");
    expect_open_fails("blocks last dim not 16", make_ckpt(0, blocks_not_16), 0, GPTOSS_ERR_FORMAT,
                      "block.1.mlp.mlp2_weight.blocks", "disagree");
    expect_open_fails("blocks/scales agree but not with config", make_ckpt(0, both_mxfp4_wrong), 0, GPTOSS_ERR_FORMAT,
                      "block.0.mlp.mlp2_weight.blocks", "implies [4, 64, 2, 16]");
    expect_open_fails("matrix stored as U8", make_ckpt(0, u8_matrix), 0, GPTOSS_ERR_FORMAT, "block.0.attn.out.weight",
                      "dtype U8");
    expect_open_fails("tensor of a block beyond num_hidden_layers", make_ckpt(0, extra_block), 0, GPTOSS_ERR_FORMAT,
                      "block.2.attn.norm.scale", "num_hidden_layers = 2");
    expect_open_fails("hf dequantized experts", make_ckpt(1, hf_dequantized), 0, GPTOSS_ERR_UNSUPPORTED,
                      "gate_up_proj", "MXFP4");
}

/* ---- configs ----------------------------------------------------------------------------- */

/* ORIGINAL_CONFIG with one "key": value replaced (value NULL removes the key). */
static char *config_with(const char *base, const char *key, const char *value) {
    static char buf[4096];
    char pat[96];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *s = strstr(base, pat);
    if (!s) abort();
    const char *e = s + strlen(pat);
    int depth = 0;
    while (*e && (depth > 0 || (*e != ',' && *e != '}'))) {
        depth += *e == '{' || *e == '[';
        depth -= *e == '}' || *e == ']';
        e++;
    }
    size_t k = (size_t)(s - base);
    memcpy(buf, base, k);
    if (value) k += (size_t)sprintf(buf + k, "%s%s", pat, value);
    else if (*e == ',') e++; /* drop the comma too */
    else if (k >= 2 && buf[k - 2] == ',') k -= 2;
    strcpy(buf + k, e);
    return buf;
}

static void expect_config_fails(const char *what, const char *json, gptoss_status want, const char *frag) {
    gptoss_config c;
    int hf;
    gptoss_status st = gptoss_config_parse("dir/config.json", json, strlen(json), &c, &hf);
    const char *msg = gptoss_last_error();
    CHECK(st == want, "%s: status %s, expected %s (%s)", what, gptoss_status_name(st), gptoss_status_name(want), msg);
    CHECK(strstr(msg, "dir/config.json") && strstr(msg, frag), "%s: message lacks file or '%s': %s", what, frag, msg);
    printf("ok: %-40s %s\n", what, msg);
}

static void check_configs(void) {
    gptoss_config c;
    int hf = -1;
    CHECK(gptoss_config_parse("c", ORIGINAL_CONFIG, strlen(ORIGINAL_CONFIG), &c, &hf) == GPTOSS_OK && hf == 0,
          "original config: %s", gptoss_last_error());
    CHECK(gptoss_config_parse("c", HF_CONFIG, strlen(HF_CONFIG), &c, &hf) == GPTOSS_OK && hf == 1 &&
              c.num_experts == E && c.experts_per_token == K && c.rope_ntk_alpha == 1.0f && c.rope_ntk_beta == 32.0f &&
              c.initial_context_length == 4096 && c.rope_scaling_factor == 32.0f,
          "hf config: %s", gptoss_last_error());
    /* transformers >= 5 spelling: rope_parameters holding rope_theta */
    const char *rp = config_with(config_with(HF_CONFIG, "rope_theta", NULL), "rope_scaling", NULL);
    static char rp2[4096];
    snprintf(rp2, sizeof rp2,
             "{\"rope_parameters\": {\"rope_type\": \"yarn\", \"rope_theta\": 150000.0, \"factor\": 32.0,"
             " \"beta_fast\": 32.0, \"beta_slow\": 1.0, \"original_max_position_embeddings\": 4096}, %s",
             rp + 1);
    CHECK(gptoss_config_parse("c", rp2, strlen(rp2), &c, &hf) == GPTOSS_OK && hf == 1 && c.rope_theta == 150000.0f,
          "hf config with rope_parameters: %s", gptoss_last_error());

    expect_config_fails("config not JSON", "{\"num_hidden_layers\": 2,", GPTOSS_ERR_FORMAT, "not valid JSON");
    expect_config_fails("config not an object", "[1, 2]", GPTOSS_ERR_FORMAT, "not a JSON object");
    expect_config_fails("config key missing", config_with(ORIGINAL_CONFIG, "head_dim", NULL), GPTOSS_ERR_MISSING,
                        "'head_dim' is missing");
    expect_config_fails("config last key missing", config_with(ORIGINAL_CONFIG, "rope_ntk_beta", NULL),
                        GPTOSS_ERR_MISSING, "'rope_ntk_beta' is missing");
    expect_config_fails("config key wrong type", config_with(ORIGINAL_CONFIG, "hidden_size", "\"64\""),
                        GPTOSS_ERR_FORMAT, "'hidden_size' is not a number");
    expect_config_fails("config key not an integer", config_with(ORIGINAL_CONFIG, "num_experts", "4.5"),
                        GPTOSS_ERR_FORMAT, "'num_experts' is not an integer");
    expect_config_fails("config size zero", config_with(ORIGINAL_CONFIG, "vocab_size", "0"), GPTOSS_ERR_RANGE,
                        "'vocab_size'");
    expect_config_fails("config size huge", config_with(ORIGINAL_CONFIG, "hidden_size", "1e12"), GPTOSS_ERR_RANGE,
                        "'hidden_size'");
    expect_config_fails("config negative theta", config_with(ORIGINAL_CONFIG, "rope_theta", "-1"), GPTOSS_ERR_RANGE,
                        "'rope_theta'");
    expect_config_fails("config top-k > experts", config_with(ORIGINAL_CONFIG, "experts_per_token", "5"),
                        GPTOSS_ERR_RANGE, "experts_per_token");
    expect_config_fails("config heads % kv heads", config_with(ORIGINAL_CONFIG, "num_key_value_heads", "3"),
                        GPTOSS_ERR_RANGE, "num_key_value_heads");
    expect_config_fails("config hidden not multiple of 32", config_with(ORIGINAL_CONFIG, "hidden_size", "48"),
                        GPTOSS_ERR_RANGE, "hidden_size");
    expect_config_fails("config unknown key (original)", config_with(ORIGINAL_CONFIG, "rope_theta", "1, \"extra\": 1"),
                        GPTOSS_ERR_FORMAT, "unknown key 'extra'");
    expect_config_fails("hf num_local_experts missing", config_with(HF_CONFIG, "num_local_experts", NULL),
                        GPTOSS_ERR_MISSING, "'num_local_experts' is missing");
    expect_config_fails("hf rope_scaling.factor missing",
                        config_with(HF_CONFIG, "rope_scaling", "{\"beta_fast\": 32.0, \"beta_slow\": 1.0,"
                                                               " \"original_max_position_embeddings\": 4096}"),
                        GPTOSS_ERR_MISSING, "'rope_scaling.factor' is missing");
    expect_config_fails("hf rope_scaling wrong type", config_with(HF_CONFIG, "rope_scaling", "32"), GPTOSS_ERR_FORMAT,
                        "'rope_scaling' is not an object");
    expect_config_fails("hf rope type not yarn",
                        config_with(HF_CONFIG, "rope_scaling", "{\"rope_type\": \"linear\", \"factor\": 2.0}"),
                        GPTOSS_ERR_UNSUPPORTED, "yarn");
    expect_config_fails("hf duplicate key disagrees", config_with(HF_CONFIG, "experts_per_token", "3"),
                        GPTOSS_ERR_FORMAT, "'experts_per_token' = 3 contradicts 'num_experts_per_tok' = 2");
    expect_config_fails("hf initial_context_length disagrees", config_with(HF_CONFIG, "initial_context_length", "8192"),
                        GPTOSS_ERR_FORMAT, "contradicts 'rope_scaling.original_max_position_embeddings'");
    expect_config_fails("hf layer_types other pattern",
                        config_with(HF_CONFIG, "layer_types", "[\"full_attention\", \"full_attention\"]"),
                        GPTOSS_ERR_UNSUPPORTED, "layer_types[0]");

    /* through gptoss_model_open: the message names the file */
    char *dir = new_dir();
    write_text(dir, "config.json", config_with(ORIGINAL_CONFIG, "num_hidden_layers", NULL));
    static tlist l;
    tensors_for(&l, 0, L);
    char p[600];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    write_st(p, &l);
    expect_open_fails("config key missing (open)", dir, 0, GPTOSS_ERR_MISSING, "config.json",
                      "'num_hidden_layers' is missing");
}

/* ---- st_parse_header directly ------------------------------------------------------------- */

static void check_parse_header(void) {
    const char *h = "{\"b\": {\"dtype\": \"U8\", \"shape\": [2, 3], \"data_offsets\": [4, 10]},"
                    " \"a\": {\"dtype\": \"I32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                    " \"z\": {\"dtype\": \"F16\", \"shape\": [0], \"data_offsets\": [10, 10]},"
                    " \"__metadata__\": {\"format\": \"pt\"}}   ";
    gptoss_tensor *t;
    size_t n;
    gptoss_status st = st_parse_header("h", h, strlen(h), 10, &t, &n);
    CHECK(st == GPTOSS_OK && n == 3, "parse header: %s", gptoss_last_error());
    if (st) return;
    CHECK(!strcmp(t[0].name, "b") && t[0].dtype == GPTOSS_DT_U8 && t[0].ndim == 2 && t[0].shape[1] == 3 &&
              (uintptr_t)t[0].data == 4 && t[0].nbytes == 6,
          "tensor b");
    CHECK(t[2].ndim == 1 && t[2].shape[0] == 0 && t[2].nbytes == 0, "empty tensor");
    st_free_tensors(t, n);
    /* a scalar (shape []) */
    const char *s = "{\"x\": {\"dtype\": \"I64\", \"shape\": [], \"data_offsets\": [0, 8]}}";
    st = st_parse_header("h", s, strlen(s), 8, &t, &n);
    CHECK(st == GPTOSS_OK && n == 1 && t[0].ndim == 0 && t[0].nbytes == 8, "scalar: %s", gptoss_last_error());
    if (!st) st_free_tensors(t, n);
    /* an empty header is a valid (empty) file */
    st = st_parse_header("h", "{}", 2, 0, &t, &n);
    CHECK(st == GPTOSS_OK && n == 0, "empty header");
    if (!st) st_free_tensors(t, n);
    printf("ok: st_parse_header\n");
}

/* ---- the MXFP4 reference decoder ---------------------------------------------------------- */

static void check_mxfp4(void) {
    uint8_t blocks[32], scales[2] = {127, 130};
    for (int i = 0; i < 32; i++) blocks[i] = (uint8_t)(i * 17 + 3);
    float out[64];
    mxfp4_decode_row(out, blocks, scales, 64);
    for (int j = 0; j < 64; j++) {
        int g = j / 32, byte = blocks[g * 16 + (j % 32) / 2];
        int code = j % 2 ? byte >> 4 : byte & 15;
        float want = gptoss_fp4_values[code] * (g ? 8.0f : 1.0f);
        CHECK(out[j] == want && signbit(out[j]) == signbit(want), "mxfp4 element %d: %g != %g", j, out[j], want);
    }
    /* the extreme scales: 0 (2^-127, subnormal) and 255 (2^128: the loader's exact
     * FP4 x 2^128 rounded, so 0 stays 0 and 0.5 gives 2^127) */
    uint8_t ext[2] = {0, 255};
    mxfp4_decode_row(out, blocks, ext, 64);
    for (int j = 0; j < 64; j++) {
        int g = j / 32, byte = blocks[g * 16 + (j % 32) / 2];
        float want = ldexpf(gptoss_fp4_values[j % 2 ? byte >> 4 : byte & 15], g ? 128 : -127);
        CHECK(memcmp(&out[j], &want, 4) == 0, "mxfp4 extreme scale, element %d: %g != %g", j, out[j], want);
    }
    CHECK(ldexpf(0.5f, 128) == ldexpf(1.0f, 127) && ldexpf(0.0f, 128) == 0.0f, "libm ldexpf");
    CHECK(mxfp4_scale(0) == ldexpf(1.0f, -127) && mxfp4_scale(0) > 0, "scale 0 is 2^-127");
    CHECK(isinf(mxfp4_scale(255)), "scale 255 is inf");
    printf("ok: mxfp4 reference decoder\n");
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    chmod(p, 0755);
    return remove(p);
}

int main(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(g_root, sizeof g_root, "%s/gptoss-test-ckpt-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_root)) return 1;
    check_parse_header();
    check_mxfp4();
    check_configs();
    check_valid(0);
    check_valid(1);
    check_max_layers_touches_nothing_else();
    check_preload();
    check_original_multi_file();
    check_hf_sharded();
    check_bad_folders();
    check_bad_safetensors();
    check_bad_tensors();
    nftw(g_root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    if (check_failures) fprintf(stderr, "%d checks failed\n", check_failures);
    return check_failures ? 1 : 0;
}
