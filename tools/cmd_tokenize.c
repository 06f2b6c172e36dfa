/* cmd_tokenize.c: gptoss tokenize, o200k_harmony encode / decode from the command line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "args.h"
#include "cli.h"
#include "parity/parity.h"
#include "tokenizer/harmony_json.h"

static const char *HELP =
    "usage: gptoss tokenize [--json] [--allow-special] [--vocab FILE] [TEXT | -]\n"
    "       gptoss tokenize --decode IDS [--json] [--vocab FILE]\n"
    "       gptoss tokenize --jsonl [--allow-special] [--vocab FILE] < LINES\n"
    "       gptoss tokenize --chat [--json] [--role ROLE|none] [--vocab FILE] [JSON | -]\n"
    "       gptoss tokenize --parse IDS [--role ROLE|none] [--vocab FILE]\n"
    "\n"
    "Encodes TEXT (or, with '-', standard input read byte for byte, nothing stripped) with\n"
    "the o200k_harmony tokenizer of GPT-OSS, exactly as tiktoken does, and prints one line\n"
    "per token: the id, a tab, and the token's bytes as a JSON string. Bytes that are not\n"
    "valid UTF-8 on their own (a character split across tokens) are shown as \\xNN.\n"
    "Put '--' before a TEXT that begins with '-'.\n"
    "\n"
    "  --json           print {\"ids\": [...], \"tokens\": [...]} instead\n"
    "  --allow-special  recognise special tokens spelled in the text (<|start|>, <|end|>,\n"
    "                   <|reserved_200123|>, ...) as their ids; by default they are text\n"
    "  --decode IDS     print the text of IDS (comma- or space-separated; '-' reads them\n"
    "                   from standard input) byte for byte, no newline added;\n"
    "                   with --json: {\"text\": ...}\n"
    "  --jsonl          batch mode for scripts: each line of standard input is one JSON\n"
    "                   string; prints one line per input line, the JSON array of its ids\n"
    "  --vocab FILE     the o200k_base.tiktoken ranks (default: the vendored data/ copy;\n"
    "                   its SHA-256 is checked either way)\n"
    "\n"
    "Harmony chat format (as PyPI openai-harmony renders and parses it):\n"
    "  --chat           the argument (or '-': standard input) is a conversation in JSON,\n"
    "                   openai-harmony's Conversation.to_json() or its messages array; a\n"
    "                   content may be a plain string. Example:\n"
    "                     [{\"role\": \"system\", \"content\": {\"type\": \"system_content\",\n"
    "                       \"reasoning_effort\": \"high\", \"conversation_start_date\": \"2025-06-28\"}},\n"
    "                      {\"role\": \"developer\", \"content\": {\"type\": \"developer_content\",\n"
    "                       \"instructions\": \"Answer briefly.\"}},\n"
    "                      {\"role\": \"user\", \"content\": \"What is 2+2?\"},\n"
    "                      {\"role\": \"assistant\", \"channel\": \"final\", \"content\": \"4\"}]\n"
    "                   system_content keys left out take harmony's defaults (identity,\n"
    "                   knowledge cutoff 2024-06, reasoning medium, channels analysis/\n"
    "                   commentary/final); keys set to null are left out. Prints the ids\n"
    "                   of the rendering, a completion prompt ending in <|start|>ROLE.\n"
    "  --role ROLE      --chat: the role of the turn to complete (default assistant; none:\n"
    "                   render the conversation only). --parse: the role whose header the\n"
    "                   ids continue (default assistant; none: they begin with <|start|>)\n"
    "  --parse IDS      parse generated ids ('-': from standard input) into messages, up to\n"
    "                   <|return|> or <|call|>; prints {\"messages\": [{\"role\", \"channel\",\n"
    "                   \"recipient\", \"content_type\", \"content\"}], \"stop\": id or null,\n"
    "                   \"used\": ids read}\n"
    "\n"
    "Text must be valid UTF-8; invalid input is an error naming the first bad byte.\n"
    "Ids range over 0..201087; any other id is an error.\n";

/* The token's bytes as text: valid UTF-8 sequences kept, other bytes as \xNN. */
static char *token_text(const char *p, size_t n) {
    char *out = malloc(4 * n + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)p[i];
        size_t k = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        int ok = k > 0 && i + k <= n;
        for (size_t j = 1; ok && j < k; j++) ok = ((unsigned char)p[i + j] & 0xc0) == 0x80;
        /* reject overlongs and surrogates exactly as a validator would */
        if (ok && k == 3) {
            unsigned char d = (unsigned char)p[i + 1];
            ok = !(c == 0xe0 && d < 0xa0) && !(c == 0xed && d > 0x9f);
        }
        if (ok && k == 4) {
            unsigned char d = (unsigned char)p[i + 1];
            ok = !(c == 0xf0 && d < 0x90) && !(c == 0xf4 && d > 0x8f);
        }
        if (ok) {
            memcpy(o, p + i, k);
            o += k;
            i += k;
        } else {
            o += sprintf(o, "\\x%02x", c);
            i++;
        }
    }
    *o = 0;
    return out;
}

static int print_encoding(const gptoss_tokenizer *tok, const int32_t *ids, size_t n, int json) {
    cJSON *root = json ? cJSON_CreateObject() : NULL;
    cJSON *jids = json ? cJSON_AddArrayToObject(root, "ids") : NULL;
    cJSON *jtoks = json ? cJSON_AddArrayToObject(root, "tokens") : NULL;
    int ok = !json || (jids && jtoks);
    for (size_t k = 0; k < n && ok; k++) {
        size_t len;
        const char *p = gptoss_tokenizer_token(tok, ids[k], &len);
        char *s = token_text(p, len);
        cJSON *js = s ? cJSON_CreateString(s) : NULL;
        free(s);
        if (json) {
            cJSON *jn = cJSON_CreateNumber(ids[k]);
            ok = js && jn;
            if (ok) {
                cJSON_AddItemToArray(jids, jn);
                cJSON_AddItemToArray(jtoks, js);
            } else {
                cJSON_Delete(jn);
                cJSON_Delete(js);
            }
        } else {
            char *q = js ? cJSON_PrintUnformatted(js) : NULL;
            ok = q != NULL;
            if (ok) printf("%d\t%s\n", (int)ids[k], q);
            free(q);
            cJSON_Delete(js);
        }
    }
    char *out = ok && json ? cJSON_PrintUnformatted(root) : NULL;
    if (out) printf("%s\n", out);
    free(out);
    cJSON_Delete(root);
    if (!ok || (json && !out)) {
        fprintf(stderr, "gptoss tokenize: out of memory printing %zu tokens\n", n);
        return 1;
    }
    return fflush(stdout) ? 1 : 0;
}

/* The ids of --decode / --parse: ARG itself, or standard input when ARG is "-".
 * Returns 0, 1 (stdin unreadable, message printed) or -1 (not a list of ids). */
static int read_ids_arg(const char *arg, int32_t **ids, size_t *n) {
    char *in = NULL;
    size_t inlen;
    *ids = NULL;
    *n = 0;
    if (!strcmp(arg, "-") && !(arg = in = cli_read_stdin(&inlen))) {
        fprintf(stderr, "gptoss tokenize: -: cannot read standard input\n");
        return 1;
    }
    gptoss_status st = tokens_parse_loose(arg, ids, n);
    free(in);
    if (st == GPTOSS_ERR_NOMEM) {
        fprintf(stderr, "gptoss tokenize: %s\n", gptoss_last_error());
        return 1;
    }
    return st ? -1 : 0;
}

static int do_decode(const gptoss_tokenizer *tok, const char *arg, int json) {
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = read_ids_arg(arg, &ids, &n);
    if (rc > 0) return rc;
    if (rc) return cli_usage_error("tokenize", "--decode: '%.40s' is not a list of integer ids", arg);
    char *text;
    size_t len;
    gptoss_status st = gptoss_tokenizer_decode(tok, ids, n, &text, &len);
    free(ids);
    if (st) return cli_fail("tokenize", st);
    if (json) {
        cJSON *root = cJSON_CreateObject();
        char *safe = token_text(text, len);
        cJSON_AddStringToObject(root, "text", safe ? safe : "");
        free(safe);
        char *out = cJSON_PrintUnformatted(root);
        if (out) printf("%s\n", out);
        free(out);
        cJSON_Delete(root);
    } else {
        fwrite(text, 1, len, stdout);
    }
    free(text);
    return fflush(stdout) ? 1 : 0;
}

/* --jsonl: one JSON string per input line -> one JSON array of ids per output line. */
static int do_jsonl(const gptoss_tokenizer *tok, int allow_special) {
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    ssize_t got;
    int rc = 0;
    while (!rc && (got = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        cJSON *js = cJSON_ParseWithLength(line, (size_t)got);
        if (!cJSON_IsString(js)) {
            fprintf(stderr, "gptoss tokenize: -: line %ld: not a JSON string\n", lineno);
            rc = 1;
        } else {
            /* cJSON strings end at their first NUL: \u0000 cuts the text there */
            const char *s = cJSON_GetStringValue(js);
            int32_t *ids;
            size_t n;
            gptoss_status st = gptoss_tokenizer_encode(tok, s, strlen(s), allow_special, &ids, &n);
            if (st) {
                fprintf(stderr, "gptoss tokenize: -: line %ld: %s\n", lineno, gptoss_last_error());
                rc = 1;
            } else {
                putchar('[');
                for (size_t k = 0; k < n; k++) printf(k ? ",%d" : "%d", (int)ids[k]);
                puts("]");
                free(ids);
            }
        }
        cJSON_Delete(js);
    }
    free(line);
    return rc ? rc : (fflush(stdout) ? 1 : 0);
}

static int do_chat(const gptoss_tokenizer *tok, const char *text, size_t len, const char *role,
                   int json) {
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root) {
        fprintf(stderr, "gptoss tokenize: --chat: not valid JSON near '%.30s'\n",
                cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "");
        return 1;
    }
    harmony_conv conv;
    char err[256];
    int rc = 0;
    if (harmony_conv_from_json(root, &conv, err, sizeof err)) {
        fprintf(stderr, "gptoss tokenize: --chat: %s\n", err);
        rc = 1;
    } else {
        int32_t *ids;
        size_t n;
        gptoss_status st = gptoss_harmony_render(tok, conv.messages, conv.n, role, &ids, &n);
        rc = st ? cli_fail("tokenize", st) : print_encoding(tok, ids, n, json);
        if (!st) free(ids);
    }
    harmony_conv_free(&conv);
    cJSON_Delete(root);
    return rc;
}

static void add_opt(cJSON *o, const char *key, const char *v) {
    if (v) cJSON_AddStringToObject(o, key, v);
}

static int do_parse(const gptoss_tokenizer *tok, const char *arg, const char *role) {
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = read_ids_arg(arg, &ids, &n);
    if (rc > 0) return rc;
    if (rc) return cli_usage_error("tokenize", "--parse: not a list of integer ids");
    gptoss_harmony_parse_result r;
    gptoss_status st = gptoss_harmony_parse(tok, ids, n, role, &r);
    free(ids);
    if (st) return cli_fail("tokenize", st);
    cJSON *root = cJSON_CreateObject(), *msgs = cJSON_AddArrayToObject(root, "messages");
    for (size_t k = 0; k < r.n_messages; k++) {
        const gptoss_harmony_parsed *m = &r.messages[k];
        cJSON *o = cJSON_CreateObject();
        add_opt(o, "role", m->role);
        add_opt(o, "name", m->name);
        add_opt(o, "recipient", m->recipient);
        add_opt(o, "channel", m->channel);
        add_opt(o, "content_type", m->content_type);
        add_opt(o, "content", m->content);
        cJSON_AddItemToArray(msgs, o);
    }
    if (r.stop_token >= 0) cJSON_AddNumberToObject(root, "stop", r.stop_token);
    else cJSON_AddNullToObject(root, "stop");
    cJSON_AddNumberToObject(root, "used", (double)r.n_used);
    char *out = cJSON_PrintUnformatted(root);
    if (out) printf("%s\n", out);
    free(out);
    cJSON_Delete(root);
    gptoss_harmony_parse_free(&r);
    return fflush(stdout) ? 1 : 0;
}

int cmd_tokenize(int argc, char **argv) {
    int json = 0, allow_special = 0, jsonl = 0, chat = 0;
    const char *decode = NULL, *vocab = NULL, *text = NULL, *parse = NULL, *role = "assistant";
    const arg_spec specs[] = {
        {"", "TEXT", ARG_STR, &text, 0, 0},
        {"--json", NULL, ARG_FLAG, &json, 0, 0},
        {"--jsonl", NULL, ARG_FLAG, &jsonl, 0, 0},
        {"--chat", NULL, ARG_FLAG, &chat, 0, 0},
        {"--allow-special", NULL, ARG_FLAG, &allow_special, 0, 0},
        {"--decode", NULL, ARG_STR, &decode, 0, 0},
        {"--parse", NULL, ARG_STR, &parse, 0, 0},
        {"--role", NULL, ARG_STR, &role, 0, 0},
        {"--vocab", NULL, ARG_STR, &vocab, 0, 0},
    };
    int prc = args_parse("tokenize", HELP, argc, argv, specs, ARGS_N(specs), NULL);
    if (prc >= 0) return prc;
    if (!!decode + !!parse + jsonl + chat > 1)
        return cli_usage_error("tokenize", "--decode, --parse, --jsonl and --chat exclude each other");
    if (decode && text) return cli_usage_error("tokenize", "--decode takes no TEXT");
    if (parse && (text || json || allow_special))
        return cli_usage_error("tokenize", "--parse takes no TEXT, --json or --allow-special");
    if (chat && allow_special) return cli_usage_error("tokenize", "--allow-special is not for --chat");
    if (!*role) return cli_usage_error("tokenize", "--role needs a role name or 'none'");
    if (!strcmp(role, "none")) role = NULL;
    if (jsonl && (text || decode || json))
        return cli_usage_error("tokenize", "--jsonl reads standard input and takes no TEXT, --decode or --json");
    if (!decode && !text && !jsonl && !parse) return cli_usage_error("tokenize", "no TEXT given (use '-' for standard input)");
    if (decode && allow_special) return cli_usage_error("tokenize", "--allow-special is for encoding");

    gptoss_tokenizer *tok;
    gptoss_status st = gptoss_tokenizer_open(vocab, &tok);
    if (st) return cli_fail("tokenize", st);
    int rc;
    if (jsonl) {
        rc = do_jsonl(tok, allow_special);
    } else if (parse) {
        rc = do_parse(tok, parse, role);
    } else if (decode) {
        rc = do_decode(tok, decode, json);
    } else {
        char *in = NULL;
        size_t len = strlen(text);
        if (!strcmp(text, "-") && !(text = in = cli_read_stdin(&len))) {
            gptoss_tokenizer_close(tok);
            fprintf(stderr, "gptoss tokenize: -: cannot read standard input\n");
            return 1;
        }
        if (chat) {
            rc = do_chat(tok, text, len, role, json);
        } else {
            int32_t *ids;
            size_t n;
            st = gptoss_tokenizer_encode(tok, text, len, allow_special, &ids, &n);
            rc = st ? cli_fail("tokenize", st) : print_encoding(tok, ids, n, json);
            if (!st) free(ids);
        }
        free(in);
    }
    gptoss_tokenizer_close(tok);
    return rc;
}
