/* harmony_json.c: see harmony_json.h. */
#include "harmony_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* key absent: *out unchanged; null: NULL; string: its value; else an error */
static int opt_string(const cJSON *obj, const char *key, const char **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return 0;
    if (cJSON_IsNull(v)) {
        *out = NULL;
        return 0;
    }
    if (!cJSON_IsString(v)) return -1;
    *out = v->valuestring;
    return 0;
}

static int read_system(const cJSON *c, gptoss_harmony_system *sys, const char ***chan_store,
                       char *err, size_t errlen, size_t k) {
    gptoss_harmony_system_defaults(sys);
    if (opt_string(c, "model_identity", &sys->model_identity) ||
        opt_string(c, "knowledge_cutoff", &sys->knowledge_cutoff) ||
        opt_string(c, "conversation_start_date", &sys->current_date) ||
        opt_string(c, "reasoning_effort", &sys->reasoning_effort)) {
        snprintf(err, errlen, "message %zu: system_content fields must be strings or null", k);
        return -1;
    }
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(c, "tools");
    if (tools && !cJSON_IsNull(tools) && cJSON_GetArraySize(tools) > 0) {
        snprintf(err, errlen, "message %zu: tool namespaces are not supported", k);
        return -1;
    }
    const cJSON *cc = cJSON_GetObjectItemCaseSensitive(c, "channel_config");
    if (cc && cJSON_IsNull(cc)) sys->channels = NULL;
    else if (cc) {
        const cJSON *vc = cJSON_GetObjectItemCaseSensitive(cc, "valid_channels");
        const cJSON *req = cJSON_GetObjectItemCaseSensitive(cc, "channel_required");
        int n = cJSON_GetArraySize(vc);
        const char **list = calloc((size_t)n + 1, sizeof *list);
        if (!cJSON_IsArray(vc) || !list) {
            free(list);
            snprintf(err, errlen, "message %zu: channel_config needs a valid_channels array", k);
            return -1;
        }
        for (int i = 0; i < n; i++) {
            const cJSON *s = cJSON_GetArrayItem(vc, i);
            if (!cJSON_IsString(s)) {
                free(list);
                snprintf(err, errlen, "message %zu: valid_channels must be strings", k);
                return -1;
            }
            list[i] = s->valuestring;
        }
        *chan_store = list;
        sys->channels = list;
        sys->channel_required = cJSON_IsTrue(req);
    }
    return 0;
}

/* harmony's Role values: any other role is refused, as Message.from_dict does. */
static int known_role(const char *role) {
    static const char *const roles[] = {"system", "developer", "user", "assistant", "tool"};
    for (size_t i = 0; i < sizeof roles / sizeof *roles; i++)
        if (!strcmp(role, roles[i])) return 1;
    return 0;
}

/* One content part (an object with a "type") onto message m. */
static int read_part(const cJSON *c, gptoss_harmony_message *m, gptoss_harmony_system *sys,
                     const char ***chan_store, char *err, size_t errlen, size_t k) {
    if (!cJSON_IsObject(c)) {
        snprintf(err, errlen, "message %zu: a content part must be an object with a \"type\"", k);
        return -1;
    }
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(c, "type");
    const char *t = cJSON_IsString(type) ? type->valuestring : "";
    if (!strcmp(t, "text")) {
        const cJSON *tx = cJSON_GetObjectItemCaseSensitive(c, "text");
        if (!cJSON_IsString(tx)) {
            snprintf(err, errlen, "message %zu: a text part needs a \"text\" string", k);
            return -1;
        }
        if (m->text) goto two_texts;
        m->text = tx->valuestring;
        return 0;
    }
    if (!strcmp(t, "system_content")) {
        if (read_system(c, sys, chan_store, err, errlen, k)) return -1;
        m->system = sys;
        return 0;
    }
    if (!strcmp(t, "developer_content")) {
        const cJSON *tools = cJSON_GetObjectItemCaseSensitive(c, "tools");
        if (tools && !cJSON_IsNull(tools) && cJSON_GetArraySize(tools) > 0) {
            snprintf(err, errlen, "message %zu: tool namespaces are not supported", k);
            return -1;
        }
        const char *instr = NULL;
        if (opt_string(c, "instructions", &instr)) {
            snprintf(err, errlen, "message %zu: instructions must be a string", k);
            return -1;
        }
        m->instructions = instr; /* none: harmony renders an empty developer content */
        return 0;
    }
    snprintf(err, errlen, "message %zu: unknown content type '%s'", k, t);
    return -1;
two_texts:
    snprintf(err, errlen, "message %zu: more than one text part is not supported", k);
    return -1;
}

int harmony_conv_from_json(const cJSON *root, harmony_conv *conv, char *err, size_t errlen) {
    memset(conv, 0, sizeof *conv);
    const cJSON *msgs = cJSON_IsArray(root) ? root : cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!cJSON_IsArray(msgs)) {
        snprintf(err, errlen, "expected a JSON array of messages or {\"messages\": [...]}");
        return -1;
    }
    size_t n = (size_t)cJSON_GetArraySize(msgs);
    conv->messages = calloc(n + 1, sizeof *conv->messages);
    conv->systems = calloc(n + 1, sizeof *conv->systems);
    conv->channel_lists = calloc(n + 1, sizeof *conv->channel_lists);
    if (!conv->messages || !conv->systems || !conv->channel_lists) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    conv->n = n;
    for (size_t k = 0; k < n; k++) {
        const cJSON *jm = cJSON_GetArrayItem(msgs, (int)k);
        gptoss_harmony_message *m = &conv->messages[k];
        const char *role = NULL;
        if (!cJSON_IsObject(jm) || opt_string(jm, "role", &role) || !role) {
            snprintf(err, errlen, "message %zu: needs a \"role\" string", k);
            return -1;
        }
        if (!known_role(role)) {
            snprintf(err, errlen,
                     "message %zu: unknown role '%.40s' (system, developer, user, assistant or tool)",
                     k, role);
            return -1;
        }
        m->role = role;
        if (opt_string(jm, "name", &m->name) || opt_string(jm, "recipient", &m->recipient) ||
            opt_string(jm, "channel", &m->channel) || opt_string(jm, "content_type", &m->content_type)) {
            snprintf(err, errlen, "message %zu: name, recipient, channel, content_type must be strings", k);
            return -1;
        }
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(jm, "content");
        const char ***store = &conv->channel_lists[k];
        if (!content || cJSON_IsNull(content)) {
            snprintf(err, errlen, "message %zu: needs a \"content\" (a string or a list of parts)", k);
            return -1;
        }
        if (cJSON_IsString(content)) {
            m->text = content->valuestring;
        } else if (cJSON_IsArray(content)) {
            const cJSON *part;
            cJSON_ArrayForEach(part, content) {
                if (read_part(part, m, &conv->systems[k], store, err, errlen, k)) return -1;
            }
        } else if (read_part(content, m, &conv->systems[k], store, err, errlen, k)) {
            return -1;
        }
    }
    return 0;
}

void harmony_conv_free(harmony_conv *conv) {
    if (conv->channel_lists)
        for (size_t k = 0; k < conv->n; k++) free((void *)conv->channel_lists[k]);
    free(conv->channel_lists);
    free(conv->messages);
    free(conv->systems);
    memset(conv, 0, sizeof *conv);
}
