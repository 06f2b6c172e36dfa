/* harmony_parse.c: generated ids back into harmony messages, as openai-harmony's
 * parse_messages_from_completion_tokens (strict) reads them:
 *
 *   [<|start|>] header <|message|> content (<|end|> | <|return|> | <|call|>)
 *
 * The header is decoded to text: "<|channel|>X" gives the channel; the remaining words
 * are the role (unless the caller gave it), then [recipient] [content type], a recipient
 * being "to=X" (or a lone word) and a content type possibly "<|constrain|>json". */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_internal.h"
#include "util.h"

static char *dup_n(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

/* The length of the invalid sequence at s[0..n) to replace by one U+FFFD: the longest
 * prefix of a well-formed sequence (Unicode's "maximal subpart"), at least 1. */
static size_t bad_len(const uint8_t *s, size_t n) {
    uint8_t c = s[0], lo = 0x80, hi = 0xbf;
    size_t need;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) need = 2, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    else if (c >= 0xf0 && c <= 0xf4) need = 3, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    else return 1;
    size_t k = 1;
    if (k < n && s[k] >= lo && s[k] <= hi) k++;
    else return 1;
    while (k <= need && k < n && (s[k] & 0xc0) == 0x80) k++;
    return k;
}

char *utf8_lossy(const uint8_t *s, size_t n) {
    char *out = malloc(3 * n + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n;) {
        size_t ok = utf8_check(s + i, n - i);
        memcpy(o, s + i, ok);
        o += ok;
        i += ok;
        if (i < n) {
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3;
            i += bad_len(s + i, n - i);
        }
    }
    *o = 0;
    return out;
}

static int is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

static const char *const ROLES[] = {"system", "developer", "user", "assistant", "tool"};

static int known_role(const char *s, size_t n) {
    for (size_t k = 0; k < 5; k++)
        if (strlen(ROLES[k]) == n && !memcmp(ROLES[k], s, n)) return 1;
    return 0;
}

#define MAX_PARTS 8

/* Fills m's header fields from the header text h (modified in place). */
static gptoss_status parse_header(char *h, const char *role, size_t at, gptoss_harmony_parsed *m) {
    char *ch = strstr(h, "<|channel|>");
    if (ch) {
        char *v = ch + 11, *e = v;
        while (*e && !is_space(*e) && *e != '<') e++;
        if (e == v) return gptoss_error(GPTOSS_ERR_FORMAT, "id %zu: a <|channel|> without a channel", at);
        if (!(m->channel = dup_n(v, (size_t)(e - v)))) return GPTOSS_ERR_NOMEM;
        memmove(ch, e, strlen(e) + 1);
    }
    /* "x<|constrain|>json" -> "x <|constrain|>json": split into words */
    size_t n = strlen(h), extra = 0;
    for (char *p = strstr(h, "<|constrain|>"); p; p = strstr(p + 1, "<|constrain|>")) extra++;
    char *w = malloc(n + extra + 1), *o = w;
    if (!w) return GPTOSS_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!strncmp(h + i, "<|constrain|>", 13)) *o++ = ' ';
        *o++ = h[i];
    }
    *o = 0;
    char *part[MAX_PARTS];
    size_t np = 0;
    for (char *p = w; *p;) {
        while (*p && is_space(*p)) *p++ = 0;
        if (!*p) break;
        if (np == MAX_PARTS) {
            free(w);
            return gptoss_error(GPTOSS_ERR_FORMAT, "id %zu: too many words in a message header", at);
        }
        part[np++] = p;
        while (*p && !is_space(*p)) p++;
    }
    size_t first = 0;
    gptoss_status st = GPTOSS_OK;
    if (!role) {
        if (!np) st = gptoss_error(GPTOSS_ERR_FORMAT, "id %zu: a message header without a role", at);
        else if (known_role(part[0], strlen(part[0]))) role = part[0];
        else if (np > 1 || !strncmp(part[0], "to=", 3)) {
            role = "tool";
            m->name = dup_n(part[0], strlen(part[0])); /* a tool speaks under its name */
            first = 1;
        } else st = gptoss_error(GPTOSS_ERR_FORMAT, "id %zu: unknown role '%s'", at, part[0]);
        if (!st && !strcmp(role, "tool") && !m->name) m->name = dup_n(part[0], strlen(part[0]));
    }
    if (!st) {
        m->role = dup_n(role, strlen(role));
        if (first < np && !strcmp(part[first], role)) first++;
    }
    if (!st && first < np) {
        size_t last = np - 1, count = np - first;
        if (!strncmp(part[last], "to=", 3)) m->recipient = dup_n(part[last] + 3, strlen(part[last]) - 3);
        else if (count == 1 && strncmp(part[last], "<|constrain|>", 13))
            m->recipient = dup_n(part[last], strlen(part[last]));
        else {
            m->content_type = dup_n(part[last], strlen(part[last]));
            if (last > first) {
                const char *rc = part[--last];
                if (!strncmp(rc, "to=", 3)) rc += 3;
                m->recipient = dup_n(rc, strlen(rc));
            }
        }
        if (last > first)
            st = gptoss_error(GPTOSS_ERR_FORMAT, "id %zu: unexpected words in a message header: '%s'", at,
                              part[first]);
    }
    free(w);
    return st;
}

static void free_msg(gptoss_harmony_parsed *m) {
    free(m->role);
    free(m->name);
    free(m->recipient);
    free(m->channel);
    free(m->content_type);
    free(m->content);
}

void gptoss_harmony_parse_free(gptoss_harmony_parse_result *r) {
    if (!r) return;
    for (size_t k = 0; k < r->n_messages; k++) free_msg(&r->messages[k]);
    free(r->messages);
    memset(r, 0, sizeof *r);
}

/* decoded bytes of ids[a..b) (all in range) */
static char *bytes_of(const struct gptoss_tokenizer *t, const int32_t *ids, size_t a, size_t b,
                      size_t *len) {
    char *s = NULL;
    if (gptoss_tokenizer_decode(t, ids + a, b - a, &s, len)) return NULL;
    return s;
}

enum { EXPECT_START, HEADER, CONTENT };

gptoss_status gptoss_harmony_parse(const gptoss_tokenizer *tok, const int32_t *ids, size_t n_ids,
                                   const char *role, gptoss_harmony_parse_result *out) {
    memset(out, 0, sizeof *out);
    out->stop_token = -1;
    int state = role ? HEADER : EXPECT_START;
    size_t mark = 0, cap = 0;
    gptoss_harmony_parsed cur = {0};
    gptoss_status st = GPTOSS_OK;
    size_t k = 0;
    for (; k <= n_ids && !st; k++) {
        int32_t id = k < n_ids ? ids[k] : -1; /* -1: the end of ids */
        if (k < n_ids && (id < 0 || id >= O200K_N_VOCAB)) {
            st = gptoss_error(GPTOSS_ERR_RANGE, "id %zu: %d is out of range 0..%d", k, (int)id, O200K_N_VOCAB - 1);
            break;
        }
        int stop = id == GPTOSS_TOKEN_END || id == GPTOSS_TOKEN_RETURN || id == GPTOSS_TOKEN_CALL;
        if (state == EXPECT_START) {
            if (id == -1) break;
            if (id != GPTOSS_TOKEN_START) {
                st = gptoss_error(GPTOSS_ERR_FORMAT, "id %zu: expected <|start|> (200006), got %d", k, (int)id);
                break;
            }
            state = HEADER;
            mark = k + 1;
        } else if (state == HEADER) {
            if (id == -1 || stop) {
                st = gptoss_error(GPTOSS_ERR_FORMAT, "id %zu: a message header without <|message|>", k);
                break;
            }
            if (id != GPTOSS_TOKEN_MESSAGE) continue;
            size_t hl;
            char *h = bytes_of(tok, ids, mark, k, &hl);
            if (!h) return gptoss_error(GPTOSS_ERR_NOMEM, "harmony: out of memory");
            if (utf8_check((uint8_t *)h, hl) < hl || strlen(h) != hl)
                st = gptoss_error(GPTOSS_ERR_FORMAT, "id %zu: a message header that is not text", k);
            else
                st = parse_header(h, role, k, &cur);
            free(h);
            role = NULL;
            state = CONTENT;
            mark = k + 1;
        } else if (id == -1 || stop) { /* CONTENT ends */
            size_t cl;
            char *c = bytes_of(tok, ids, mark, k, &cl);
            cur.content = c ? utf8_lossy((uint8_t *)c, cl) : NULL;
            free(c);
            if (!cur.content) st = gptoss_error(GPTOSS_ERR_NOMEM, "harmony: out of memory");
            if (!st && out->n_messages == cap) {
                cap = cap ? 2 * cap : 4;
                gptoss_harmony_parsed *nm = realloc(out->messages, cap * sizeof *nm);
                if (!nm) st = gptoss_error(GPTOSS_ERR_NOMEM, "harmony: out of memory");
                else out->messages = nm;
            }
            if (st) break;
            out->messages[out->n_messages++] = cur;
            memset(&cur, 0, sizeof cur);
            state = EXPECT_START;
            if (id == GPTOSS_TOKEN_RETURN || id == GPTOSS_TOKEN_CALL) {
                out->stop_token = id;
                k++;
                break;
            }
        }
    }
    free_msg(&cur);
    if (st) {
        gptoss_harmony_parse_free(out);
        out->stop_token = -1;
        return st;
    }
    out->n_used = k < n_ids ? k : n_ids;
    return GPTOSS_OK;
}
