#!/usr/bin/env python3
"""Drives `claude-mem mcp` with the official Python MCP SDK's stdio client, the way Claude Code would.

Run by tests/mcp_e2e.rs against a real worker; prints one JSON report on stdout that the Rust test asserts
on (this script asserts nothing itself, so a failure shows the whole conversation).

    python3 tests/mcp_client.py --bin target/debug/claude-mem --query "store db" \
        [--scenario full|down] [--note-word UNIQUEWORD]

The server inherits this process's environment (CLAUDE_MEM_DATA_DIR, CLAUDE_MEM_PORT, HOME), so the test
decides which worker it talks to. Exit codes: 0 report printed, 3 the `mcp` package is missing.
"""

import argparse
import asyncio
import json
import os
import re
import sys

try:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client
except ImportError as e:  # the Rust test turns this into a failure that names scripts/setup.sh
    print(
        json.dumps({"missing_package": f"python package 'mcp' is not installed ({e}); "
                    "run scripts/setup.sh or: python3 -m pip install 'mcp>=1.2'"}),
    )
    sys.exit(3)

try:  # mcp 2.x
    from mcp import MCPError as ProtocolError
except ImportError:  # mcp 1.x
    from mcp.shared.exceptions import McpError as ProtocolError


def field(obj, *names, default=None):
    """The SDK renamed its fields (camelCase in 1.x, snake_case in 2.x); accept both."""
    for name in names:
        if hasattr(obj, name):
            return getattr(obj, name)
    return default


def text_of(result):
    parts = []
    for block in field(result, "content", default=[]) or []:
        text = field(block, "text")
        if text is not None:
            parts.append(text)
    return "\n".join(parts)


async def call(session, name, arguments):
    """One tools/call, whatever comes back: a result (maybe isError) or a JSON-RPC error."""
    try:
        result = await asyncio.wait_for(session.call_tool(name, arguments), timeout=60)
    except ProtocolError as e:
        error = field(e, "error")
        return {
            "kind": "jsonrpc_error",
            "code": field(error, "code", default=None),
            "message": field(error, "message", default=str(e)),
        }
    except Exception as e:  # noqa: BLE001 - the report must say what happened, not crash
        return {"kind": "exception", "message": f"{type(e).__name__}: {e}"}
    return {
        "kind": "result",
        "is_error": bool(field(result, "is_error", "isError", default=False)),
        "text": text_of(result),
    }


def first_id(text):
    match = re.search(r"#(\d+)", text or "")
    return int(match.group(1)) if match else None


async def full(session, args, report):
    listed = await session.list_tools()
    tools = {}
    for tool in field(listed, "tools", default=[]):
        schema = field(tool, "input_schema", "inputSchema", default={}) or {}
        tools[tool.name] = {
            "description": field(tool, "description", default="") or "",
            "type": schema.get("type"),
            "required": schema.get("required", []),
            "properties": sorted((schema.get("properties") or {}).keys()),
        }
    report["tools"] = tools
    calls = report["calls"]

    calls["search"] = await call(session, "search", {"query": args.query, "limit": 5})
    seeded = first_id(calls["search"].get("text"))
    report["seeded_id"] = seeded
    if seeded is not None:
        calls["get_observations"] = await call(session, "get_observations", {"ids": [seeded, 999999]})
        calls["timeline"] = await call(session, "timeline", {"anchor": seeded, "before": 2, "after": 2})
        calls["timeline_unknown_anchor"] = await call(session, "timeline", {"anchor": 999999})
    calls["timeline_by_date"] = await call(session, "timeline", {"date": "2020-01-01", "after": 3})

    # Which memories (kind), which file, which order: before save_memory adds a note to the store.
    calls["search_prompts"] = await call(
        session, "search", {"query": "enable WAL", "kind": "prompt", "mode": "text"})
    calls["search_all"] = await call(
        session, "search", {"query": "WAL store", "kind": "all", "mode": "text"})
    calls["search_file"] = await call(
        session, "search", {"query": "src", "file": "store/db.rs", "mode": "text"})
    calls["search_newest"] = await call(
        session, "search", {"query": "src", "order": "newest", "mode": "text"})

    note = (f"Decision: the {args.note_word} cache keeps entries for 15 minutes because the upstream "
            "rate limit resets every quarter hour.")
    calls["save_memory"] = await call(
        session, "save_memory", {"text": note, "title": f"{args.note_word} cache TTL is 15 minutes"})
    report["saved_id"] = first_id(calls["save_memory"].get("text"))
    # The note is indexed asynchronously by the worker: poll briefly, as a model would retry.
    for _ in range(50 if report["saved_id"] is not None else 1):
        found = await call(session, "search", {"query": args.note_word, "mode": "text"})
        calls["search_saved"] = found
        if report["saved_id"] is not None and f"#{report['saved_id']} " in found.get("text", ""):
            break
        await asyncio.sleep(0.2)

    # A second note, forgotten again as a user asking Claude to would: gone from search at once.
    regret = f"{args.note_word}regret"
    calls["save_regret"] = await call(
        session, "save_memory", {"text": f"The {regret} password is hunter2.", "title": f"{regret} secret"})
    report["regret_id"] = first_id(calls["save_regret"].get("text"))
    if report["regret_id"] is not None:
        calls["forget"] = await call(
            session, "forget", {"ids": [report["regret_id"]], "reason": "the user said it is private"})
        calls["search_forgotten"] = await call(session, "search", {"query": regret, "mode": "text"})

    bad = {
        "forget_no_reason": ("forget", {"ids": [1], "reason": " "}),
        "forget_nothing": ("forget", {"reason": "x"}),
        "forget_too_many": ("forget", {"ids": list(range(1, 60)), "reason": "x"}),
        "search_missing_query": ("search", {}),
        "search_limit_500": ("search", {"query": "x", "limit": 500}),
        "search_wrong_type": ("search", {"query": 42}),
        "search_bad_kind": ("search", {"query": "x", "type": "poem"}),
        "search_bad_since": ("search", {"query": "x", "since": "whenever"}),
        "search_bad_memory_kind": ("search", {"query": "x", "kind": "poem"}),
        "search_bad_order": ("search", {"query": "x", "order": "oldest"}),
        "search_summary_with_type": ("search", {"query": "x", "kind": "summary", "type": "bugfix"}),
        "get_observations_empty": ("get_observations", {"ids": []}),
        "get_observations_too_many": ("get_observations", {"ids": list(range(1, 30))}),
        "timeline_no_anchor": ("timeline", {}),
        "save_memory_empty": ("save_memory", {"text": "   "}),
        "save_memory_too_long": ("save_memory", {"text": "x" * 10001}),
        "unknown_tool": ("no_such_tool", {}),
    }
    report["bad"] = {label: await call(session, name, a) for label, (name, a) in bad.items()}
    # The session must still work after all of that.
    calls["search_after_errors"] = await call(session, "search", {"query": args.query})


async def down(session, args, report):
    report["calls"]["search"] = await call(session, "search", {"query": args.query})
    report["calls"]["get_observations"] = await call(session, "get_observations", {"ids": [1]})


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--query", default="store")
    parser.add_argument("--scenario", choices=["full", "down"], default="full")
    parser.add_argument("--note-word", default="quokkacache")
    parser.add_argument("--cwd", default=None)
    args = parser.parse_args()

    report = {"calls": {}}
    params = StdioServerParameters(command=args.bin, args=["mcp"], env=dict(os.environ), cwd=args.cwd)
    try:
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                init = await asyncio.wait_for(session.initialize(), timeout=30)
                info = field(init, "server_info", "serverInfo")
                report["initialize"] = {
                    "protocol_version": str(field(init, "protocol_version", "protocolVersion")),
                    "server_name": field(info, "name"),
                    "has_tools": field(field(init, "capabilities"), "tools") is not None,
                    "instructions": field(init, "instructions", default="") or "",
                }
                if args.scenario == "full":
                    await full(session, args, report)
                else:
                    await down(session, args, report)
    except BaseException as e:  # noqa: BLE001 - report a crashed session instead of a traceback
        if isinstance(e, KeyboardInterrupt):
            raise
        report["session_error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
