"""The published tool environment's checks of one <interaction_prompt> body (NousToolEnv.batch_step
with the LLM tool's argument schema), run on Python's own json.loads, for the property test in
test/protocol/parse.test.ts. Standard library only. Reads a JSON list of bodies on stdin, prints a
JSON list: the prompt, or the error text ("Error: TypeError" where the published code raises it)."""
import json
import sys

TOOL_MAP = {"prompt": object()}


def validate_args(args):
    # the schema {"type": "object", "properties": {"prompt": {"type": "string"}}, "required": ["prompt"]}
    return isinstance(args, dict) and "prompt" in args and isinstance(args["prompt"], str)


def check(body):
    try:
        tool_call = json.loads(body)
    except json.JSONDecodeError:
        tool_call = None
    try:
        if tool_call is None:
            return "Error: JSONDecodeError"
        if "name" not in tool_call:
            return "Error: No tool name"
        if "arguments" not in tool_call:
            return "Error: No tool arguments"
        tool_name = tool_call["name"]
        if tool_name not in TOOL_MAP:
            return "Error: ToolNotFoundError"
        if not validate_args(tool_call["arguments"]):
            return "Error: Invalid tool arguments"
        return tool_call["arguments"]["prompt"]
    except TypeError:
        return "Error: TypeError"


print(json.dumps([check(body) for body in json.load(sys.stdin)]))
