/* test_chat.c: the harmony chat format without Python: a rendered conversation equals the
 * encoding of its text with special tokens recognised (each text part lies between two
 * special tokens, so the two must agree), parsing a rendered reply gives its messages back,
 * and bad input is an error, not a crash. tests/test_harmony.py compares with
 * openai-harmony itself. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gptoss.h"
#include "tokenizer/harmony_json.h"

#include "check.h"

static gptoss_tokenizer *tok;

static int same_as_text(const gptoss_harmony_message *m, size_t n, const char *next, const char *text) {
    int32_t *a, *b;
    size_t na, nb;
    if (gptoss_harmony_render(tok, m, n, next, &a, &na)) {
        fprintf(stderr, "render: %s\n", gptoss_last_error());
        return 0;
    }
    if (gptoss_tokenizer_encode(tok, text, strlen(text), 1, &b, &nb)) return 0;
    int ok = na == nb && !memcmp(a, b, na * sizeof *a);
    if (!ok) {
        char *s;
        size_t len;
        if (!gptoss_tokenizer_decode(tok, a, na, &s, &len)) {
            fprintf(stderr, "rendered: %s\nexpected: %s\n", s, text);
            free(s);
        }
    }
    free(a);
    free(b);
    return ok;
}

static void test_render(void) {
    gptoss_harmony_system sys;
    gptoss_harmony_system_defaults(&sys);
    sys.reasoning_effort = "high";
    sys.current_date = "2025-06-28";
    gptoss_harmony_message conv[] = {
        {.role = "system", .system = &sys},
        {.role = "developer", .instructions = "Answer briefly."},
        {.role = "user", .text = "What is the capital of France?"},
        {.role = "assistant", .channel = "analysis", .text = "Easy."}, /* dropped: a final follows */
        {.role = "assistant", .channel = "final", .text = "Paris."},
        {.role = "user", .text = "And <|start|> of Spain?"},
    };
    /* the literal "<|start|>" in a user's text is text, not the special token ... */
    int32_t *ids;
    size_t n;
    CHECK(!gptoss_harmony_render(tok, conv + 5, 1, NULL, &ids, &n));
    int starts = 0;
    for (size_t k = 0; k < n; k++) starts += ids[k] == GPTOSS_TOKEN_START;
    CHECK(starts == 1);
    free(ids);
    /* ... and the rendering is the text read with specials where the text has none */
    CHECK(same_as_text(conv, 5, "assistant",
                       "<|start|>system<|message|>You are ChatGPT, a large language model trained by "
                       "OpenAI.\nKnowledge cutoff: 2024-06\nCurrent date: 2025-06-28\n\nReasoning: high\n\n"
                       "# Valid channels: analysis, commentary, final. Channel must be included for every "
                       "message.<|end|><|start|>developer<|message|># Instructions\n\nAnswer briefly.<|end|>"
                       "<|start|>user<|message|>What is the capital of France?<|end|><|start|>assistant"
                       "<|channel|>final<|message|>Paris.<|end|><|start|>assistant"));
    /* the last assistant message is not final: nothing is dropped */
    CHECK(same_as_text(conv + 2, 2, NULL,
                       "<|start|>user<|message|>What is the capital of France?<|end|><|start|>assistant"
                       "<|channel|>analysis<|message|>Easy.<|end|>"));
    gptoss_harmony_message call = {.role = "assistant", .recipient = "functions.get", .channel = "commentary",
                                   .content_type = "<|constrain|>json", .text = "{\"x\": 1}"};
    CHECK(same_as_text(&call, 1, NULL,
                       "<|start|>assistant to=functions.get<|channel|>commentary <|constrain|>json"
                       "<|message|>{\"x\": 1}<|call|>"));
    /* errors */
    gptoss_harmony_message bad[] = {{.role = "tool", .text = "x"}, {.role = NULL}, {.role = "user", .text = "\xff"}};
    for (int k = 0; k < 3; k++) {
        CHECK(gptoss_harmony_render(tok, bad + k, 1, NULL, &ids, &n) != GPTOSS_OK);
        CHECK(ids == NULL && strstr(gptoss_last_error(), "message 0") != NULL);
    }
    sys.reasoning_effort = "extreme";
    CHECK(gptoss_harmony_render(tok, conv, 1, NULL, &ids, &n) == GPTOSS_ERR_ARG);
}

static void test_parse(void) {
    const char *reply = "<|channel|>analysis<|message|>Think \xe6\x97\xa5.<|end|><|start|>assistant"
                        "<|channel|>commentary to=functions.get <|constrain|>json<|message|>{}<|call|>"
                        "<|start|>ignored";
    int32_t *ids;
    size_t n;
    CHECK(!gptoss_tokenizer_encode(tok, reply, strlen(reply), 1, &ids, &n));
    gptoss_harmony_parse_result r;
    CHECK(!gptoss_harmony_parse(tok, ids, n, "assistant", &r));
    CHECK(r.n_messages == 2 && r.stop_token == GPTOSS_TOKEN_CALL && r.n_used == n - 2);
    if (r.n_messages == 2) {
        CHECK(!strcmp(r.messages[0].role, "assistant") && !strcmp(r.messages[0].channel, "analysis"));
        CHECK(!strcmp(r.messages[0].content, "Think \xe6\x97\xa5."));
        CHECK(!r.messages[0].recipient && !r.messages[0].content_type);
        CHECK(!strcmp(r.messages[1].channel, "commentary") && !strcmp(r.messages[1].recipient, "functions.get"));
        CHECK(!strcmp(r.messages[1].content_type, "<|constrain|>json") && !strcmp(r.messages[1].content, "{}"));
    }
    gptoss_harmony_parse_free(&r);
    /* a reply cut off inside a content keeps it; a split character becomes U+FFFD */
    CHECK(!gptoss_harmony_parse(tok, ids, 7, "assistant", &r));
    CHECK(r.n_messages == 1 && r.stop_token == -1 && r.n_used == 7);
    if (r.n_messages == 1) CHECK(!strncmp(r.messages[0].content, "Think ", 6));
    gptoss_harmony_parse_free(&r);
    const int32_t split[] = {GPTOSS_TOKEN_MESSAGE, 2, 172, GPTOSS_TOKEN_RETURN}; /* "#", "\xf0" */
    CHECK(!gptoss_harmony_parse(tok, split, 4, "user", &r));
    CHECK(r.n_messages == 1 && r.stop_token == GPTOSS_TOKEN_RETURN && !strcmp(r.messages[0].content, "#\xef\xbf\xbd"));
    gptoss_harmony_parse_free(&r);
    /* errors: a header cut off, no <|start|>, an id out of range, an unknown role */
    CHECK(gptoss_harmony_parse(tok, ids, 2, "assistant", &r) == GPTOSS_ERR_FORMAT);
    CHECK(gptoss_harmony_parse(tok, ids, n, NULL, &r) == GPTOSS_ERR_FORMAT);
    const int32_t oor[] = {GPTOSS_TOKEN_START, 201088};
    CHECK(gptoss_harmony_parse(tok, oor, 2, NULL, &r) == GPTOSS_ERR_RANGE);
    CHECK(r.messages == NULL && r.n_messages == 0);
    const int32_t who[] = {GPTOSS_TOKEN_START, 87, GPTOSS_TOKEN_MESSAGE, 87, GPTOSS_TOKEN_END};
    CHECK(gptoss_harmony_parse(tok, who, 5, NULL, &r) == GPTOSS_ERR_FORMAT);
    free(ids);
}

/* The conversation JSON: what openai-harmony's Conversation.from_json refuses (an unknown
 * role, no content, a content part that is not an object) is refused with a message. */
static void test_conv_json(void) {
    static const char *const refused[] = {
        "[{\"role\": \"wizard\", \"content\": \"x\"}]",
        "[{\"role\": \"User\", \"content\": \"x\"}]",
        "[{\"role\": null, \"content\": \"x\"}]",
        "[{\"content\": \"x\"}]",
        "[{\"role\": \"user\"}]",
        "[{\"role\": \"user\", \"content\": null}]",
        "[{\"role\": \"user\", \"content\": [\"x\"]}]",
        "[{\"role\": \"user\", \"content\": [{\"type\": \"image\"}]}]",
        "[{\"role\": \"user\", \"content\": 5}]",
        "{\"messages\": 1}",
        "[\"x\"]",
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        cJSON *root = cJSON_Parse(refused[i]);
        harmony_conv conv;
        char err[256] = "";
        CHECK(root && harmony_conv_from_json(root, &conv, err, sizeof err) == -1 && err[0] &&
              !strchr(err, '\n'));
        harmony_conv_free(&conv);
        cJSON_Delete(root);
    }
    /* accepted: every role, a plain string content, an empty list, parts */
    cJSON *root = cJSON_Parse(
        "{\"messages\": [{\"role\": \"system\", \"content\": {\"type\": \"system_content\"}},"
        "{\"role\": \"developer\", \"content\": [{\"type\": \"developer_content\", \"instructions\": \"Be brief.\"}]},"
        "{\"role\": \"user\", \"content\": []},"
        "{\"role\": \"assistant\", \"channel\": \"final\", \"content\": [{\"type\": \"text\", \"text\": \"4\"}]},"
        "{\"role\": \"tool\", \"name\": \"functions.f\", \"content\": \"ok\"}]}");
    harmony_conv conv;
    char err[256] = "";
    CHECK(root && harmony_conv_from_json(root, &conv, err, sizeof err) == 0 && conv.n == 5);
    if (conv.n == 5) {
        CHECK(conv.messages[0].system != NULL && !strcmp(conv.messages[1].instructions, "Be brief."));
        CHECK(conv.messages[2].text == NULL && !strcmp(conv.messages[3].text, "4"));
        CHECK(!strcmp(conv.messages[4].text, "ok") && !strcmp(conv.messages[4].name, "functions.f"));
    }
    harmony_conv_free(&conv);
    cJSON_Delete(root);
}

int main(void) {
    if (gptoss_tokenizer_open(NULL, &tok)) {
        fprintf(stderr, "open: %s\n", gptoss_last_error());
        return 1;
    }
    test_render();
    test_parse();
    test_conv_json();
    gptoss_tokenizer_close(tok);
    if (check_failures) fprintf(stderr, "%d failures\n", check_failures);
    return check_failures ? 1 : 0;
}
