"""Rewrite a checked expression so that every risky operation and every loop goes through the meter."""

from __future__ import annotations

import ast
from typing import Any


def _guard(name: str, *args: ast.expr, keywords: list[ast.keyword] | None = None) -> ast.Call:
    return ast.Call(ast.Name(name, ast.Load()), list(args), keywords or [])


def _is_constant(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return True
    return isinstance(node, ast.Tuple) and all(_is_constant(e) for e in node.elts)


def _weighed(node: ast.expr) -> ast.expr:
    return node if _is_constant(node) else _guard("_q_w", node)


class _Instrument(ast.NodeTransformer):
    """Route every operation that can grow or walk a value through the meter."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        return _guard("_q_op", ast.Constant(type(node.op).__name__), node.left, node.right)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        # The target is read and written again, so an index in it is evaluated twice.
        target = node.target
        load = _as_load(target)
        call = _guard("_q_iop", ast.Constant(type(node.op).__name__), load, node.value)
        return ast.Assign([target], call)

    def visit_For(self, node: ast.For) -> ast.AST:
        self.generic_visit(node)
        node.iter = _guard("_q_loop", node.iter)
        return node

    def visit_comprehension(self, node: ast.comprehension) -> ast.AST:
        self.generic_visit(node)
        node.iter = _guard("_q_loop", node.iter)
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        return _guard("_q_call", node.func, *node.args, keywords=node.keywords)

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        node.left = _weighed(node.left)
        node.comparators = [_weighed(c) for c in node.comparators]
        return node

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        # The format spec is constant text (the checker sees to that) and must stay a JoinedStr.
        node.value = _guard("_q_text", self.visit(node.value))
        return node

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.slice, ast.Slice):
            return _guard("_q_acc", node) if isinstance(node.ctx, ast.Load) else node
        node.slice = _weighed(node.slice)
        return node

    def _display(self, node: Any) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node, ast.Set):
            node.elts = [_weighed(e) for e in node.elts]
        if isinstance(node, ast.Dict):
            node.keys = [k if k is None else _weighed(k) for k in node.keys]
        if getattr(node, "ctx", None) is not None and not isinstance(node.ctx, ast.Load):
            return node
        if _is_constant(node):
            return node
        return _guard("_q_acc", node)

    visit_List = visit_Tuple = visit_Set = visit_Dict = _display
    visit_ListComp = visit_SetComp = visit_DictComp = visit_JoinedStr = _display


def _as_load(target: ast.expr) -> ast.expr:
    copy = ast.parse(ast.unparse(target), mode="eval").body
    return ast.copy_location(copy, target)


def instrument(tree: ast.AST) -> ast.AST:
    """Return the checked tree rewritten to run every risky operation through the meter."""
    return ast.fix_missing_locations(_Instrument().visit(tree))
