"""The README's Python snippets run, on both backends, and print what their
comments say (a comment that starts with a Python literal is checked)."""

from __future__ import annotations

import ast
import asyncio
import re
from pathlib import Path
from typing import Any

import gli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)
LITERAL = re.compile(r"""^(?:-> )?(\[.*?\]|\{.*?\}|'[^']*'|"[^"]*")""")


def run_checked(code: str, ns: dict[str, Any]) -> int:
    """Runs ``code`` statement by statement; returns how many commented
    results it checked."""
    checked = 0
    for node in ast.parse(code).body:
        src = ast.get_source_segment(code, node) or ""
        line = code.splitlines()[node.end_lineno - 1] if node.end_lineno else ""
        comment = line.split("#", 1)[1].strip() if "#" in line else ""
        literal = LITERAL.match(comment)
        if isinstance(node, ast.Expr) and literal:
            got = eval(compile(ast.Expression(node.value), "README", "eval"), ns)
            assert got == ast.literal_eval(literal.group(1)), (src, got)
            checked += 1
        else:
            exec(compile(ast.Module([node], []), "README", "exec"), ns)
    return checked


def test_the_first_look_prints_what_it_says(backend: str) -> None:
    first = BLOCKS[0].replace("gli.Graph(directed=True)", f"gli.Graph(directed=True, backend={backend!r})")
    ns: dict[str, Any] = {}
    assert run_checked(first, ns) >= 6
    g = ns["g"]
    assert not g.has_node("dave") and g.has_edge("carol", "alice")


def test_the_user_guide_snippets_run(backend: str) -> None:
    guide = "\n".join(BLOCKS[1:3]).replace("gli.Graph()", f"gli.Graph(backend={backend!r})")
    ns: dict[str, Any] = {}
    run_checked(guide, ns)
    assert len(ns["active"]) == 1_000 and ns["big"] == list(range(501, 1_000))
    assert ns["fast"] == ns["big"] and len(ns["heavy"]) == 999
    body = "async def main():\n" + "".join(f"    {line}\n" for line in BLOCKS[3].splitlines())
    body += "    return ranks, hits\n"
    exec(body, ns)
    ranks, hits = asyncio.run(ns["main"]())
    assert len(ranks) == 1_000 and hits == list(range(101, 1_000))
