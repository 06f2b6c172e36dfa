/* harmony.c: the harmony chat format of GPT-OSS, rendered to ids and parsed back, as PyPI
 * openai-harmony (HARMONY_GPT_OSS) does it. Tools are not rendered (no tool namespaces in
 * system or developer content); messages may still carry recipients and content types. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_internal.h"
#include "util.h"

/* ---- a growable byte string ---- */

typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

/* ---- rendering ---- */

static const char *const DEFAULT_CHANNELS[] = {"analysis", "commentary", "final", NULL};

void gptoss_harmony_system_defaults(gptoss_harmony_system *sys) {
    sys->model_identity = "You are ChatGPT, a large language model trained by OpenAI.";
    sys->knowledge_cutoff = "2024-06";
    sys->current_date = NULL;
    sys->reasoning_effort = "medium";
    sys->channels = DEFAULT_CHANNELS;
    sys->channel_required = 1;
}

typedef struct {
    const struct gptoss_tokenizer *tok;
    pretok_ctx ctx;
    idvec ids;
    size_t msg; /* the message being rendered, for errors */
} renderer;

static gptoss_status put_id(renderer *r, int32_t id) {
    return idvec_push(&r->ids, id) ? gptoss_error(GPTOSS_ERR_NOMEM, "harmony: out of memory")
                                   : GPTOSS_OK;
}

/* One text part, encoded on its own (harmony's render_text_into = encode_ordinary). */
static gptoss_status put_text(renderer *r, const char *s, size_t n) {
    size_t bad = utf8_check((const uint8_t *)s, n);
    if (bad < n)
        return gptoss_error(GPTOSS_ERR_FORMAT, "message %zu: invalid UTF-8 at byte %zu", r->msg, bad);
    return tok_encode_ordinary(r->tok, &r->ctx, (const uint8_t *)s, n, &r->ids);
}

static gptoss_status put_str(renderer *r, const char *s) { return put_text(r, s, strlen(s)); }

/* prefix and s as one text part */
static gptoss_status put_concat(renderer *r, const char *prefix, const char *s) {
    sbuf b = {0};
    sb_str(&b, prefix);
    sb_str(&b, s);
    gptoss_status st = b.oom ? gptoss_error(GPTOSS_ERR_NOMEM, "harmony: out of memory")
                             : put_text(r, b.p, b.n);
    free(b.p);
    return st;
}

/* Sections of the system message, joined by blank lines. */
static gptoss_status system_text(const gptoss_harmony_system *sys, size_t msg, sbuf *out) {
    sbuf top = {0};
    const char *lines[3][2] = {{"", sys->model_identity},
                               {"Knowledge cutoff: ", sys->knowledge_cutoff},
                               {"Current date: ", sys->current_date}};
    for (int k = 0; k < 3; k++) {
        if (!lines[k][1]) continue;
        if (top.p) sb_str(&top, "\n");
        sb_str(&top, lines[k][0]);
        sb_str(&top, lines[k][1]);
    }
    int nsec = 0;
    if (top.p) {
        sb_add(out, top.p, top.n);
        nsec++;
    }
    free(top.p);
    if (sys->reasoning_effort) {
        const char *e = sys->reasoning_effort;
        const char *lc = !strcasecmp(e, "low") ? "low" : !strcasecmp(e, "medium") ? "medium"
                       : !strcasecmp(e, "high") ? "high" : NULL;
        if (!lc)
            return gptoss_error(GPTOSS_ERR_ARG,
                                "message %zu: reasoning effort '%s' is not low, medium or high",
                                msg, e);
        sb_str(out, nsec++ ? "\n\nReasoning: " : "Reasoning: ");
        sb_str(out, lc);
    }
    if (sys->channels && sys->channels[0]) {
        sb_str(out, nsec++ ? "\n\n# Valid channels: " : "# Valid channels: ");
        for (int k = 0; sys->channels[k]; k++) {
            if (k) sb_str(out, ", ");
            sb_str(out, sys->channels[k]);
        }
        sb_str(out, ".");
        if (sys->channel_required) sb_str(out, " Channel must be included for every message.");
    }
    if (!out->p) sb_add(out, "", 0);
    return out->oom ? gptoss_error(GPTOSS_ERR_NOMEM, "harmony: out of memory") : GPTOSS_OK;
}

static gptoss_status render_message(renderer *r, const gptoss_harmony_message *m) {
    gptoss_status st;
    if (!m->role || !*m->role)
        return gptoss_error(GPTOSS_ERR_ARG, "message %zu: no role", r->msg);
    int is_tool = !strcmp(m->role, "tool");
    if (is_tool && !m->name)
        return gptoss_error(GPTOSS_ERR_ARG, "message %zu: a tool message needs a name", r->msg);
    if (m->system && strcmp(m->role, "system"))
        return gptoss_error(GPTOSS_ERR_ARG, "message %zu: system content outside a system message", r->msg);
    if (m->instructions && strcmp(m->role, "developer"))
        return gptoss_error(GPTOSS_ERR_ARG, "message %zu: instructions outside a developer message", r->msg);
    if ((st = put_id(r, GPTOSS_TOKEN_START))) return st;
    if (is_tool) {
        if ((st = put_str(r, m->name))) return st;
    } else {
        if ((st = put_str(r, m->role))) return st;
        if (m->name && (st = put_concat(r, ":", m->name))) return st;
    }
    if (m->recipient && strcmp(m->recipient, "all") && (st = put_concat(r, " to=", m->recipient)))
        return st;
    if (m->channel) {
        if ((st = put_id(r, GPTOSS_TOKEN_CHANNEL)) || (st = put_str(r, m->channel))) return st;
    }
    if (m->content_type) {
        const char *ct = m->content_type;
        if (!strncmp(ct, "<|constrain|>", 13)) {
            if ((st = put_str(r, " ")) || (st = put_id(r, GPTOSS_TOKEN_CONSTRAIN)) ||
                (st = put_str(r, ct + 13)))
                return st;
        } else if ((st = put_concat(r, " ", ct))) {
            return st;
        }
    }
    if ((st = put_id(r, GPTOSS_TOKEN_MESSAGE))) return st;
    if (m->system) {
        sbuf b = {0};
        st = system_text(m->system, r->msg, &b);
        if (!st) st = put_text(r, b.p, b.n);
        free(b.p);
        if (st) return st;
    }
    if (m->instructions && (st = put_concat(r, "# Instructions\n\n", m->instructions))) return st;
    if (m->text && (st = put_str(r, m->text))) return st;
    /* an assistant message addressed to someone is a tool call */
    int call = !strcmp(m->role, "assistant") && m->recipient;
    return put_id(r, call ? GPTOSS_TOKEN_CALL : GPTOSS_TOKEN_END);
}

static int has_channel(const gptoss_harmony_message *m, const char *ch) {
    return m->channel && !strcmp(m->channel, ch);
}

gptoss_status gptoss_harmony_render(const gptoss_tokenizer *tok,
                                    const gptoss_harmony_message *messages, size_t n_messages,
                                    const char *next_role, int32_t **ids, size_t *n_ids) {
    *ids = NULL;
    *n_ids = 0;
    /* auto_drop_analysis: if the last assistant message is final, analysis messages before
     * the first final message are dropped */
    int last_assistant_final = 0;
    for (size_t k = n_messages; k-- > 0;)
        if (messages[k].role && !strcmp(messages[k].role, "assistant")) {
            last_assistant_final = has_channel(&messages[k], "final");
            break;
        }
    size_t first_final = n_messages;
    for (size_t k = 0; k < n_messages && first_final == n_messages; k++)
        if (has_channel(&messages[k], "final")) first_final = k;

    renderer r = {.tok = tok};
    gptoss_status st = GPTOSS_OK;
    for (size_t k = 0; k < n_messages && !st; k++) {
        if (last_assistant_final && k < first_final && has_channel(&messages[k], "analysis"))
            continue;
        r.msg = k;
        st = render_message(&r, &messages[k]);
    }
    if (!st && next_role) {
        r.msg = n_messages;
        if (!(st = put_id(&r, GPTOSS_TOKEN_START))) st = put_str(&r, next_role);
    }
    pretok_ctx_free(&r.ctx);
    if (!st && !r.ids.v && !(r.ids.v = malloc(sizeof(int32_t))))
        st = gptoss_error(GPTOSS_ERR_NOMEM, "harmony: out of memory");
    if (st) {
        free(r.ids.v);
        return st;
    }
    *ids = r.ids.v;
    *n_ids = r.ids.n;
    return GPTOSS_OK;
}
