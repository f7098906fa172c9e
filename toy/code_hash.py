"""The code of a module, class or function without docstrings or comments: what cache keys hash (the toy SDXL
base here, the stand-in models in devtools/standin_cache.py), so that rewording a docstring rebuilds nothing."""
from __future__ import annotations

import ast
import inspect
import textwrap


def code_of(obj) -> str:
    """The code of a module, class or function without docstrings or comments (what it computes, not what it says)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(obj)))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)
