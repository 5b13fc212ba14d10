"""The published inference scripts' rewrite of an agent turn before it enters the context
(process_tool_call after convert_text_to_json_format, in inference.py and batch_inference.py), for
the property test in test/protocol/parse.test.ts. Standard library only. Reads a JSON list of turn
texts on stdin, prints the JSON list of rewritten texts, without the "<|im_end|>" the scripts append."""
import json
import re
import sys

START, END = "<interaction_prompt>", "</interaction_prompt>"


def rewrite(text):
    for match in re.findall(r"<interaction_prompt>(.*?)</interaction_prompt>", text, re.DOTALL):
        content = match.strip()
        try:
            json.loads(content)
            continue
        except json.JSONDecodeError:
            call = json.dumps({"name": "prompt", "arguments": {"prompt": content}})
            text = text.replace(f"{START}{match}{END}", f"{START}\n{call}\n{END}")
    if START not in text:
        return text
    if END in text:
        text = text.split(END)[0] + END
    return text


print(json.dumps([rewrite(text) for text in json.load(sys.stdin)]))
