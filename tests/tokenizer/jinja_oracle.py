#!/usr/bin/env python3
"""Writes chat-template cases and Python jinja2's rendering of them, as Hugging Face renders
chat templates (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, tojson
as json.dumps(ensure_ascii=False), raise_exception, strftime_now at a fixed time).

  jinja_oracle.py TOKENIZER_CONFIG_JSON COUNT SEED OUT_JSONL

Each line: {"variables": {...}, "output": "..."}; or, where rendering fails,
{"variables": {...}, "error": "...", "raised": true|false} (raised: by raise_exception, whose
message must match; otherwise a Python error such as a str + list, where any error will do).
The conversations vary system prompts, turn counts, add_generation_prompt, tools and tool calls,
tool results, reasoning in assistant turns, enable_thinking, content given as parts, and
non-alternating roles (which some templates refuse with raise_exception)."""
import datetime
import json
import random
import sys

from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

FIXED_NOW = datetime.datetime(2026, 12, 7, 13, 5, 9)  # the tests' injected clock (UTC)


class TemplateError(Exception):
    pass


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def make_env():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: FIXED_NOW.strftime(fmt)
    return env


TEXTS = [
    "Hello!", "What is the capital of France?", "  padded with spaces  ", "Line one\nLine two\n",
    "Ünïcödé — 東京 — 👍🏽", "Use <tags> & \"quotes\" and 'apostrophes'", "", "\n\nleading newlines",
    "tabs\tand\ttabs", "{{ not a template }}", "{% also not %}", "<|im_end|> inside text",
    "x" * 50, "Numbers: 1, 2.5, -3e10", "Tell me a joke.", "Sure, here it is.",
]
SYSTEMS = ["You are a helpful assistant.", "Answer briefly.\nBe precise.", "  spaced system  ", ""]
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Get the weather",
     "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                    "unit": {"type": "string", "enum": ["c", "f"]}}, "required": ["city"]}}},
    {"type": "function", "function": {"name": "add", "description": "Add two numbers ü",
     "parameters": {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}}}},
]


def conversation(rng, case):
    messages = []
    if rng.random() < 0.5:
        messages.append({"role": "system", "content": rng.choice(SYSTEMS)})
    turns = rng.randint(1, 6)
    for turn in range(turns):
        user = rng.choice(TEXTS)
        if rng.random() < 0.15:
            messages.append({"role": "user", "content": [{"type": "text", "text": user}]})
        else:
            messages.append({"role": "user", "content": user})
        if turn == turns - 1 and rng.random() < 0.5:
            break
        reply = rng.choice(TEXTS)
        if rng.random() < 0.25:
            reply = "<think>\nLet me think. " + rng.choice(TEXTS) + "\n</think>\n\n" + reply
        message = {"role": "assistant", "content": reply}
        if rng.random() < 0.15:
            args = {"city": rng.choice(["Paris", "Köln"])}
            message["tool_calls"] = [{"type": "function", "function": {
                "name": "get_weather", "arguments": args if rng.random() < 0.5 else json.dumps(args)}}]
            messages.append(message)
            messages.append({"role": "tool", "content": '{"temp": 21}'})
            if rng.random() < 0.5:
                messages.append({"role": "tool", "content": "second result"})
            continue
        if rng.random() < 0.1:
            message["reasoning_content"] = "Reasoning given apart."
        messages.append(message)
    if case % 17 == 5 and len(messages) > 1:
        messages.insert(1, {"role": "user", "content": "two users in a row"})  # non-alternating
    variables = {"messages": messages, "add_generation_prompt": rng.random() < 0.7}
    if rng.random() < 0.3:
        variables["tools"] = TOOLS[: rng.randint(1, 2)]
    if rng.random() < 0.3:
        variables["enable_thinking"] = rng.random() < 0.5
    return variables


def main():
    config_path, count, seed, out_path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    template = config["chat_template"]
    if isinstance(template, list):
        template = next(t["template"] for t in template if t["name"] == "default")

    def token(name):
        value = config.get(name)
        return value.get("content") if isinstance(value, dict) else value

    compiled = make_env().from_string(template)
    rng = random.Random(seed)
    with open(out_path, "w", encoding="utf-8") as out:
        for case in range(count):
            variables = conversation(rng, case)
            variables["bos_token"] = token("bos_token") or ""
            variables["eos_token"] = token("eos_token") or ""
            record = {"variables": variables}
            try:
                record["output"] = compiled.render(**variables)
            except TemplateError as error:
                record["error"] = str(error)
                record["raised"] = True
            except Exception as error:  # pylint: disable=broad-except
                record["error"] = f"{type(error).__name__}: {error}"
                record["raised"] = False
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
