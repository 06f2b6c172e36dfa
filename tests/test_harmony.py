"""labels: release_only

gptoss tokenize --chat / --parse against PyPI openai-harmony (HARMONY_GPT_OSS), offline.

Conversations built here with openai-harmony's own classes (system content with every
reasoning effort, with and without dates, identity, cutoff, channel config; developer
instructions; user text with special tokens spelled in it; assistant messages on each
channel, tool calls with recipients and constrained content types; tool replies; analysis
messages that harmony drops) are rendered by both sides from the same Conversation JSON:
the ids must be identical. Completions rendered by harmony are parsed by both sides: the
messages (role, name, recipient, channel, content type, text) must be identical.
release_only: ~150 runs of the command; tests/test_chat.c covers the C side under the
sanitizers.
"""
import json
import os
import random
import subprocess
import sys

import testlib  # also puts python/ on sys.path
from testlib import BIN, fail
from o200k_reference import harmony_encoding
from openai_harmony import (Author, ChannelConfig, Conversation, DeveloperContent,
                            Message, ReasoningEffort, Role, SystemContent, TextContent)

enc = harmony_encoding()
rng = random.Random(7)


TEXTS = ["What is the capital of France?", "Paris.", "", " ", "x", "Line one\nline two\r\n\n",
         "日本語で答えてください。", "Use <|start|> and <|end|> literally", "emoji 👩‍👩‍👧 🇫🇷", "  leading and trailing  ",
         "It's 5 o'clock", '{"location": "Tokyo", "n": 3}', "Let me think... 17 * 23 = 391."]


def system_message():
    s = SystemContent.new()
    choice = rng.randrange(6)
    if choice >= 1:
        s = s.with_reasoning_effort(rng.choice([ReasoningEffort.LOW, ReasoningEffort.MEDIUM, ReasoningEffort.HIGH]))
    if choice >= 2:
        s = s.with_conversation_start_date(rng.choice(["2025-06-28", "2026-01-01"]))
    if choice == 3:
        s = s.with_model_identity("You are a terse assistant.")
    if choice == 4:
        s = s.with_knowledge_cutoff("2023-10")
    if choice == 5:
        s = s.with_channel_config(ChannelConfig(valid_channels=["analysis", "final"], channel_required=False))
    return Message.from_role_and_content(Role.SYSTEM, s)


def assistant_message():
    kind = rng.randrange(4)
    m = Message.from_role_and_content(Role.ASSISTANT, rng.choice(TEXTS))
    if kind == 0:
        return m.with_channel("analysis")
    if kind == 1:
        return m.with_channel("final")
    if kind == 2:
        return m.with_channel("commentary").with_recipient("functions.get_weather").with_content_type(
            rng.choice(["<|constrain|>json", "json", "<|constrain|>"]))
    return m.with_channel("commentary")


def conversation():
    msgs = []
    if rng.random() < 0.8:
        msgs.append(system_message())
    if rng.random() < 0.5:
        msgs.append(Message.from_role_and_content(
            Role.DEVELOPER, DeveloperContent.new().with_instructions(rng.choice(TEXTS[:8]))))
    for _ in range(rng.randint(1, 3)):
        u = Message.from_role_and_content(Role.USER, rng.choice(TEXTS))
        if rng.random() < 0.1:
            u = Message(author=Author(role=Role.USER, name="alice"), content=[TextContent(text="hi")])
        msgs.append(u)
        for _ in range(rng.randint(0, 3)):
            a = assistant_message()
            msgs.append(a)
            if a.recipient:
                msgs.append(Message(author=Author(role=Role.TOOL, name="functions.get_weather"),
                                    content=[TextContent(text='{"sunny": true}')]).with_channel("commentary"))
    return Conversation.from_messages(msgs)


def gptoss(*args, stdin=b""):
    r = subprocess.run([BIN, "tokenize", *args], input=stdin, capture_output=True)
    return r.returncode, r.stdout, r.stderr.decode()


def check_render(conv):
    js = conv.to_json().encode()
    for role, want in [("assistant", enc.render_conversation_for_completion(conv, Role.ASSISTANT)),
                       ("none", enc.render_conversation(conv))]:
        rc, out, err = gptoss("--chat", "--json", "--role", role, "-", stdin=js)
        got = json.loads(out)["ids"] if rc == 0 else err
        if got != list(want):
            fail(f"render (--role {role}) {js[:300]!r}:\n  gptoss  {got}\n  harmony {list(want)}")


def as_dicts(msgs):
    out = []
    for m in msgs:
        d = {"role": m.author.role.value, "content": "".join(c.text for c in m.content)}
        for k, v in [("name", m.author.name), ("recipient", m.recipient), ("channel", m.channel),
                     ("content_type", m.content_type)]:
            if v is not None:
                d[k] = v
        out.append(d)
    return out


def check_parse(msgs, role_given):
    ids = []
    for m in msgs:
        ids += enc.render(m)
    stop = rng.choice([200002, 200012, None])
    if stop and ids[-1] == 200007:
        ids[-1] = stop
    if role_given:  # the prompt ended in <|start|>assistant
        ids = ids[2:]
    # the reply ends at the first <|return|> or <|call|>: harmony gets the ids up to it,
    # gptoss gets a few more, which it must not read
    cut = next((i + 1 for i, t in enumerate(ids) if t in (200002, 200012)), len(ids))
    ids, tail = ids[:cut], (ids[cut:] + [200006, 1428] if cut < len(ids) or ids[-1] != 200007 else [])
    try:
        want = as_dicts(enc.parse_messages_from_completion_tokens(ids, Role.ASSISTANT if role_given else None))
    except Exception as e:  # harmony refuses: so must gptoss
        want = f"error: {e}"
    rc, out, err = gptoss("--parse", ",".join(map(str, ids + tail)), "--role", "assistant" if role_given else "none")
    if isinstance(want, str):
        if rc == 0 or rc >= 128 or err.count("\n") != 1:
            fail(f"parse {ids}: harmony says {want}, gptoss exit {rc} {out[:200]!r} {err!r}")
        return
    if rc != 0:
        fail(f"parse {ids}: {err}")
        return
    got = json.loads(out)
    if got["messages"] != want:
        fail(f"parse {ids}:\n  gptoss  {got['messages']}\n  harmony {want}")
    stopped = ids[-1] if ids and ids[-1] in (200002, 200012) else None
    if got["stop"] != stopped or got["used"] != len(ids):
        fail(f"parse {ids}: stop {got['stop']} used {got['used']}")


def main():
    n = 0
    for _ in range(24):
        check_render(conversation())
        n += 1
    # the format's fixed points: the numerics doc's prompt shape
    conv = Conversation.from_messages([
        Message.from_role_and_content(Role.SYSTEM, SystemContent.new().with_reasoning_effort(ReasoningEffort.HIGH)
                                      .with_conversation_start_date("2025-06-28")),
        Message.from_role_and_content(Role.USER, "What is the capital of France?")])
    check_render(conv)
    for _ in range(16):
        msgs = [assistant_message() for _ in range(rng.randint(1, 3))]
        check_parse(msgs, role_given=True)
        check_parse(msgs, role_given=False)
    tool_reply = Message(author=Author(role=Role.TOOL, name="functions.get_weather"), content=[TextContent(text="ok")])
    check_parse([tool_reply.with_channel("commentary")], role_given=False)
    check_parse([tool_reply.with_recipient("assistant").with_channel("commentary")], role_given=False)
    # bad input: one-line errors, no crash
    for args, stdin in [(["--chat", "-"], b"{not json"), (["--chat", "-"], b'[{"content": "x"}]'),
                        (["--chat", "-"], b'[{"role": "tool", "content": "x"}]'),
                        (["--chat", "-"], b'[{"role": "system", "content": {"type": "system_content", '
                                          b'"reasoning_effort": "extreme"}}]'),
                        (["--parse", "200006,1428"], b""), (["--parse", "1,2,3", "--role", "none"], b""),
                        (["--parse", "999999"], b"")]:
        rc, out, err = gptoss(*args, stdin=stdin)
        if rc == 0 or rc >= 128 or err.count("\n") != 1:
            fail(f"{args} {stdin!r}: exit {rc}, stderr {err!r}")
    # conversations openai-harmony refuses (Conversation.from_json): refused by gptoss too
    refused = [[{"role": "wizard", "content": "x"}], [{"role": "User", "content": "x"}],
               [{"role": None, "content": "x"}], [{"role": "user"}],
               [{"role": "user", "content": None}], [{"role": "user", "content": ["x"]}],
               [{"role": "user", "content": [{"type": "image"}]}]]
    for msgs in refused:
        js = json.dumps({"messages": msgs})
        try:
            Conversation.from_json(js)
            fail(f"harmony accepts {js}: the refusal below is not harmony's")
        except Exception:
            pass
        rc, out, err = gptoss("--chat", "-", stdin=js.encode())
        if rc == 0 or rc >= 128 or err.count("\n") != 1:
            fail(f"--chat {js}: harmony refuses it; gptoss exit {rc}, stderr {err!r}")
    # and what it accepts that looks odd: an empty content list
    check_render(Conversation.from_json(json.dumps({"messages": [{"role": "user", "content": []}]})))
    print(f"{n + 1} conversations rendered, 34 completions parsed, {len(refused)} refusals, "
          f"{testlib.failures} failures")
    return 1 if testlib.failures else 0


if __name__ == "__main__":
    sys.exit(main())
