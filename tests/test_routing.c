/* test_routing.c: routing_compare on hand-made stage dumps: agreement, order-only and set
 * disagreements, near-tie flagging, gate-weight differences, the PASS/FAIL rule, errors,
 * and that the reports render the result. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "report/routing.h"

#include "check.h"

enum { S = 3, E = 6, K = 2 };

/* Router logits of token t (both sides start identical): distinct, well separated. */
static void base_logits(float g[S][E]) {
    for (int t = 0; t < S; t++)
        for (int e = 0; e < E; e++) g[t][e] = (float)((e * 7 + t * 3) % E) * 0.5f - 1.0f;
}

/* Fills block{layer} routing stages from logits: top-k by descending logit (ties to the
 * lower index), softmax over the selected. */
static void put_routing(stage_dump *d, int layer, float g[S][E]) {
    int64_t idx[S][K];
    float w[S][K];
    for (int t = 0; t < S; t++) {
        int used[E] = {0};
        for (int j = 0; j < K; j++) {
            int best = -1;
            for (int e = 0; e < E; e++)
                if (!used[e] && (best < 0 || g[t][e] > g[t][best])) best = e;
            used[best] = 1;
            idx[t][j] = best;
        }
        double z = 0;
        for (int j = 0; j < K; j++) z += exp(g[t][idx[t][j]] - g[t][idx[t][0]]);
        for (int j = 0; j < K; j++) w[t][j] = (float)(exp(g[t][idx[t][j]] - g[t][idx[t][0]]) / z);
    }
    char name[64];
    int64_t sk[2] = {S, K}, se[2] = {S, E};
    snprintf(name, sizeof name, "block%d.mlp_gate_logits", layer);
    dump_put(d, name, GPTOSS_DT_F32, 2, se, g);
    snprintf(name, sizeof name, "block%d.mlp_expert_indices", layer);
    dump_put(d, name, GPTOSS_DT_I64, 2, sk, idx);
    snprintf(name, sizeof name, "block%d.mlp_expert_weights", layer);
    dump_put(d, name, GPTOSS_DT_F32, 2, sk, w);
}

static void put_tokens(stage_dump *d) {
    int64_t ids[S] = {11, 22, 33}, nv = S, s1 = S, one = 1;
    dump_put(d, "tokens", GPTOSS_DT_I64, 1, &s1, ids);
    dump_put(d, "n_valid", GPTOSS_DT_I64, 1, &one, &nv);
}

/* Two layers; layer 1's logits altered by alter_a on the engine side, alter_b on the
 * reference side (NULL: unchanged). */
typedef void (*alter_fn)(float g[S][E]);
static void make_pair(stage_dump *a, stage_dump *b, alter_fn alter_a, alter_fn alter_b) {
    float g[S][E];
    dump_init(a);
    dump_init(b);
    put_tokens(a);
    put_tokens(b);
    for (int layer = 0; layer < 2; layer++) {
        base_logits(g);
        if (layer == 1 && alter_a) alter_a(g);
        put_routing(a, layer, g);
        base_logits(g);
        if (layer == 1 && alter_b) alter_b(g);
        put_routing(b, layer, g);
    }
}

/* Token 1: the 2nd and 3rd largest logits (the k-th and the (k+1)-th) become a near-tie,
 * resolved one way on the engine side and the other way on the reference side, 4e-7 apart
 * (a few float32 ulps at 1.0): a set disagreement within rounding. */
static int tie_e2, tie_e3;
static void tie_order(float g[S][E]) {
    int order[E];
    for (int e = 0; e < E; e++) order[e] = e;
    for (int i = 0; i < E; i++) /* sort indices by descending logit */
        for (int j = i + 1; j < E; j++)
            if (g[1][order[j]] > g[1][order[i]]) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    tie_e2 = order[1];
    tie_e3 = order[2];
}
static void tie_below(float g[S][E]) {
    tie_order(g);
    g[1][tie_e3] = g[1][tie_e2] - 2e-7f;
}
static void tie_above(float g[S][E]) {
    tie_order(g);
    g[1][tie_e3] = g[1][tie_e2] + 2e-7f;
}

/* Token 2: the reference's router lifts the weakest expert far above the rest: a set
 * disagreement that no rounding explains. */
static void clear_bug(float g[S][E]) { g[2][0] += 10.0f; }

/* Token 0: the two chosen experts swap places (order only), with a wide gap: a bug. */
static void order_swap(float g[S][E]) {
    int a = -1, b = -1;
    for (int e = 0; e < E; e++)
        if (a < 0 || g[0][e] > g[0][a]) a = e;
    for (int e = 0; e < E; e++)
        if (e != a && (b < 0 || g[0][e] > g[0][b])) b = e;
    float t = g[0][a];
    g[0][a] = g[0][b];
    g[0][b] = t;
}

static void test_agreement(void) {
    stage_dump a, b;
    make_pair(&a, &b, NULL, NULL);
    routing_result r;
    CHECK(routing_compare(&a, &b, 0, 0.01, &r) == GPTOSS_OK);
    CHECK(r.n_layers == 2 && r.k == K && r.n_experts == E && r.n_tokens == S);
    CHECK(r.decisions == 2 * S && r.order_matches == 2 * S && r.set_matches == 2 * S);
    CHECK(r.gate_diff_max == 0 && r.n_dis == 0 && r.pass);
    int64_t load = 0;
    for (int e = 0; e < E; e++) load += r.layers[0].load_a[e];
    CHECK(load == S * K);
    routing_result_free(&r);
    /* --max-tokens */
    CHECK(routing_compare(&a, &b, 2, 0.01, &r) == GPTOSS_OK);
    CHECK(r.decisions == 4 && r.n_tokens == 2);
    routing_result_free(&r);
    dump_free(&a);
    dump_free(&b);
}

static void test_near_tie(void) {
    stage_dump a, b;
    make_pair(&a, &b, tie_below, tie_above);
    routing_result r;
    CHECK(routing_compare(&a, &b, 0, 0.01, &r) == GPTOSS_OK);
    CHECK(r.n_dis == 1 && !r.pass);
    if (r.n_dis == 1) {
        const routing_disagreement *d = &r.dis[0];
        CHECK(d->layer == 1 && d->token == 1 && !d->set_equal);
        CHECK(d->near_tie && r.near_ties == 1);
        CHECK(d->a_margin >= 0 && d->a_margin <= 2 * d->rounding);
        CHECK(d->b_margin >= 0 && d->b_margin <= 2 * d->rounding);
        CHECK(d->a_experts[1] == tie_e2 && d->b_experts[1] == tie_e3);
    }
    CHECK(r.layers[0].pass && !r.layers[1].pass);
    CHECK(r.layers[1].order_matches == S - 1 && r.layers[1].set_matches == S - 1);
    routing_result_free(&r);
    dump_free(&a);
    dump_free(&b);
}

static void test_clear_bug(void) {
    stage_dump a, b;
    make_pair(&a, &b, NULL, clear_bug);
    routing_result r;
    CHECK(routing_compare(&a, &b, 0, 0.01, &r) == GPTOSS_OK);
    CHECK(r.n_dis == 1 && !r.pass && r.near_ties == 0);
    if (r.n_dis == 1) CHECK(!r.dis[0].near_tie && r.dis[0].b_margin > 0.4);
    /* The expert the reference dropped has weight on one side only: a gate diff of its
     * whole weight. */
    CHECK(r.gate_diff_max > 0.1);
    routing_result_free(&r);
    dump_free(&a);
    dump_free(&b);
}

static void test_order_only(void) {
    stage_dump a, b;
    make_pair(&a, &b, NULL, order_swap);
    routing_result r;
    CHECK(routing_compare(&a, &b, 0, 0.01, &r) == GPTOSS_OK);
    CHECK(r.n_dis == 1 && !r.pass);
    CHECK(r.order_matches == 2 * S - 1 && r.set_matches == 2 * S);
    if (r.n_dis == 1) CHECK(r.dis[0].set_equal && !r.dis[0].near_tie);
    routing_result_free(&r);
    dump_free(&a);
    dump_free(&b);
}

/* Same experts, a gate weight off by 0.02: FAIL under the default 0.01, PASS at 0.05. */
static void test_gate_tolerance(void) {
    stage_dump a, b;
    make_pair(&a, &b, NULL, NULL);
    const dump_tensor *w = dump_get(&b, "block1.mlp_expert_weights");
    ((float *)w->data)[0] += 0.02f;
    ((float *)w->data)[1] -= 0.02f;
    routing_result r;
    CHECK(routing_compare(&a, &b, 0, 0.01, &r) == GPTOSS_OK);
    CHECK(r.order_matches == r.decisions && !r.pass);
    CHECK(fabs(r.gate_diff_max - 0.02) < 1e-6);
    routing_result_free(&r);
    CHECK(routing_compare(&a, &b, 0, 0.05, &r) == GPTOSS_OK);
    CHECK(r.pass);
    routing_result_free(&r);
    dump_free(&a);
    dump_free(&b);
}

static void test_errors(void) {
    stage_dump a, b;
    make_pair(&a, &b, NULL, NULL);
    routing_result r;
    /* The reference lacks the weights of layer 1: an error naming the stage. */
    stage_dump c;
    dump_init(&c);
    for (size_t i = 0; i < b.n; i++)
        if (strcmp(b.tensors[i].name, "block1.mlp_expert_weights"))
            dump_put(&c, b.tensors[i].name, b.tensors[i].dtype, b.tensors[i].ndim,
                     b.tensors[i].shape, b.tensors[i].data);
    CHECK(routing_compare(&a, &c, 0, 0.01, &r) == GPTOSS_ERR_MISSING);
    CHECK(strstr(gptoss_last_error(), "block1.mlp_expert_weights") != NULL);
    /* An expert id out of range. */
    const dump_tensor *idx = dump_get(&b, "block0.mlp_expert_indices");
    ((int64_t *)idx->data)[0] = E;
    CHECK(routing_compare(&a, &b, 0, 0.01, &r) == GPTOSS_ERR_FORMAT);
    /* Different tokens. */
    ((int64_t *)idx->data)[0] = 0;
    const dump_tensor *tok = dump_get(&b, "tokens");
    ((int64_t *)tok->data)[1] = 99;
    CHECK(routing_compare(&a, &b, 0, 0.01, &r) == GPTOSS_ERR_FORMAT);
    /* Ids that are not token ids (a float dump: no int conversion of 1e30), a fractional
     * expert, an n_valid that is not a count (ignored: all tokens compared). */
    int64_t s1 = S, one = 1, sk[2] = {S, K};
    float bad_ids[S] = {11, 1e30f, 33}, bad_nv = NAN, frac[S][K] = {{0.5f, 1}, {0, 1}, {0, 1}};
    dump_put(&b, "tokens", GPTOSS_DT_F32, 1, &s1, bad_ids);
    CHECK(routing_compare(&a, &b, 0, 0.01, &r) == GPTOSS_ERR_FORMAT);
    CHECK(strstr(gptoss_last_error(), "not a token id") != NULL);
    put_tokens(&b);
    dump_put(&b, "block0.mlp_expert_indices", GPTOSS_DT_F32, 2, sk, frac);
    CHECK(routing_compare(&a, &b, 0, 0.01, &r) == GPTOSS_ERR_FORMAT);
    CHECK(strstr(gptoss_last_error(), "not an expert") != NULL);
    dump_put(&b, "block0.mlp_expert_indices", GPTOSS_DT_F32, 2, sk, (float[S][K]){{0, 1}, {0, 1}, {0, 1}});
    dump_put(&b, "n_valid", GPTOSS_DT_F32, 1, &one, &bad_nv);
    CHECK(routing_compare(&a, &b, 0, 0.01, &r) == GPTOSS_OK && r.n_tokens == S);
    routing_result_free(&r);
    dump_free(&a);
    dump_free(&b);
    dump_free(&c);
}

/* The reports carry the table, the verdict and the near-tie. */
static void test_reports(void) {
    stage_dump a, b;
    make_pair(&a, &b, tie_below, tie_above);
    routing_result r;
    CHECK(routing_compare(&a, &b, 0, 0.01, &r) == GPTOSS_OK);
    routing_run run = {.against = "torch", .prompt = "p", .timestamp = "20250101-000000",
                       .svg_name = "x.svg", .engine_s = -1, .reference_s = -1, .result = &r};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    routing_markdown(f, &run);
    fclose(f);
    CHECK(strstr(buf, "| Layer | Expert Match | Mean Gate Diff | Max Gate Diff | Status |") != NULL);
    CHECK(strstr(buf, "**Result: FAIL**") != NULL);
    CHECK(strstr(buf, "| 1 | 2/3 (66.67%) |") != NULL);
    CHECK(strstr(buf, "| yes |") != NULL);
    CHECK(strstr(buf, "![expert load](x.svg)") != NULL);
    free(buf);
    cJSON *j = routing_json(&run);
    CHECK(j && !strcmp(cJSON_GetObjectItem(j, "result")->valuestring, "FAIL"));
    CHECK(cJSON_GetObjectItem(j, "near_ties")->valueint == 1);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "per_layer")) == 2);
    cJSON_Delete(j);
    f = open_memstream(&buf, &len);
    routing_svg(f, &run);
    fclose(f);
    CHECK(strncmp(buf, "<svg", 4) == 0 && strstr(buf, "</svg>") != NULL);
    CHECK(strstr(buf, "#d62728") != NULL); /* the differing loads are outlined */
    free(buf);
    routing_result_free(&r);
    dump_free(&a);
    dump_free(&b);
}

int main(void) {
    test_agreement();
    test_near_tie();
    test_clear_bug();
    test_order_only();
    test_gate_tolerance();
    test_errors();
    test_reports();
    if (check_failures) fprintf(stderr, "%d checks failed\n", check_failures);
    else printf("ok\n");
    return check_failures ? 1 : 0;
}
