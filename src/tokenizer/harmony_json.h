/* harmony_json.h: a harmony conversation written as JSON -> gptoss_harmony_message[].
 *
 * The JSON is openai-harmony's own Conversation JSON (Conversation.to_json()) or just its
 * "messages" array; a message's "content" may also be a plain string:
 *
 *   {"messages": [
 *     {"role": "system", "content": [{"type": "system_content", "reasoning_effort": "high",
 *                                     "conversation_start_date": "2025-06-28"}]},
 *     {"role": "developer", "content": [{"type": "developer_content",
 *                                        "instructions": "Answer in French."}]},
 *     {"role": "user", "content": "What is the capital of France?"},
 *     {"role": "assistant", "channel": "final", "content": "Paris."}]}
 *
 * system_content keys left out take harmony's defaults (SystemContent.new()); keys set to
 * null are left out of the rendering. Tool namespaces are not supported. What openai-harmony's
 * Conversation.from_json refuses is refused: a role other than its five, a message without
 * "content" (or with null), a content part that is not an object with a known "type". */
#ifndef GPTOSS_HARMONY_JSON_H
#define GPTOSS_HARMONY_JSON_H

#include <cjson/cJSON.h>

#include "gptoss.h"

typedef struct harmony_conv {
    gptoss_harmony_message *messages;
    gptoss_harmony_system *systems; /* one per message (used by system messages) */
    const char ***channel_lists;    /* storage for the systems' channel lists */
    size_t n;
} harmony_conv;

/* Reads root (which must outlive conv). Returns 0, or -1 with a message in err. */
int harmony_conv_from_json(const cJSON *root, harmony_conv *conv, char *err, size_t errlen);
void harmony_conv_free(harmony_conv *conv);

#endif
