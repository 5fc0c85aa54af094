"""Pass 1: find every directive and decide what each function is.

One visitor walks the module once. It records each workflow and step as a
`Target` (with its qualname, which is its id) and reports the structural
errors: near misses, misplaced or doubled directives, conflicts with the
module directive, sync workflows, generators, instance-method workflows,
methods the runtime cannot call (properties, special and private names), a
step nested twice under one name, and functions that have no stable address.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import libcst as cst

from wdk.compiler.context import CONTAINERS, SourceContext
from wdk.compiler.directives import DIRECTIVES, classify, exact_directive, string_text
from wdk.compiler.model import Kind
from wdk.compiler.naming import function_id, nested_qualname
from wdk.compiler.stubs import has_stub_slot
from wdk.errors import Diagnostic


@dataclass(eq=False)
class Target:
    """One workflow or step function found in the module."""

    node: cst.FunctionDef
    kind: Kind
    qualname: str
    id: str
    method: str | None  # None | "staticmethod" | "classmethod" | "instance"
    top: cst.CSTNode  # the module-level statement that holds it
    parent: Target | None = None  # the workflow a nested step is defined in
    captures: tuple[str, ...] = ()  # set by the scope pass


@dataclass
class _Frame:
    node: cst.FunctionDef | cst.ClassDef
    qualname: str
    kind: Kind | None = None  # the function's directive, valid or not
    target: Target | None = None

    @property
    def child_prefix(self) -> str:
        if isinstance(self.node, cst.ClassDef):
            return self.qualname + "."
        return nested_qualname(self.qualname, "")


class Collector(cst.CSTVisitor):
    """Walks a module once; fills `targets` and `diagnostics`."""

    def __init__(self, ctx: SourceContext, *, scan_lambdas: bool = True) -> None:
        super().__init__()
        self.ctx = ctx
        self.targets: list[Target] = []
        self.diagnostics: list[Diagnostic] = []
        self._stack: list[_Frame] = []
        self._module_directive: str | None = None
        # Directive strings already judged (docstrings); any other statement
        # that spells a directive is misplaced.
        self._seen: set[cst.Expr] = set()
        self._scan_lambdas = scan_lambdas
        self._top: cst.CSTNode | None = None
        # Every def in source order, to pair with Python's ast for positions.
        self.functions: list[cst.FunctionDef] = []
        # Steps nested in workflows, by qualname (each must be defined once).
        self._nested: dict[str, cst.FunctionDef] = {}

    # --- module, classes, lambdas ------------------------------------------

    def visit_Module(self, node: cst.Module) -> None:
        first, second = _head(node.body)
        if first is None:
            return
        self._seen.add(first)
        text = string_text(first.value)
        found = classify(text) if text is not None else None
        if found is not None and found[0] == "near":
            self._error(
                first,
                f'module docstring "{text}" is not a directive',
                f'did you mean "{found[1]}"?',
            )
        elif found is not None:
            self._module_directive = found[1]
            if second is not None and exact_directive(second.value) is not None:
                self._seen.add(second)
                self._error(second, "the module docstring has two directives", "keep one")

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        first, _ = _head(node.body.body)
        if first is not None and (directive := exact_directive(first.value)) is not None:
            self._seen.add(first)
            self._error(
                first,
                f"\"{directive}\" in class '{node.name.value}': directives mark functions, not classes",
                f'put "{directive}" first in each method instead',
            )
        self._stack.append(_Frame(node, self._prefix() + node.name.value))

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self._stack.pop()

    def on_visit(self, node: cst.CSTNode) -> bool:
        # Directives live in statements: walk the statement structure only
        # (and string statements). A lambda is the one expression that can
        # spell a directive; those are scanned apart when the text has one.
        if self._top is None and isinstance(node, cst.BaseStatement):
            self._top = node
        if isinstance(node, (*CONTAINERS, cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            return super().on_visit(node)
        if isinstance(node, cst.Expr):
            self.visit_Expr(node)
        if self._scan_lambdas:
            self._check_lambdas(node)
        return False

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if original_node is self._top:
            self._top = None
        super().on_leave(original_node)

    def _check_lambdas(self, root: cst.CSTNode) -> None:
        stack: list[cst.CSTNode] = [root]
        while stack:
            node = stack.pop()
            if isinstance(node, cst.Lambda) and (directive := exact_directive(node.body)):
                self._error(
                    node,
                    f"a lambda cannot be a {DIRECTIVES[directive]}: it has no name, so no stable id",
                    "use a named 'def' at module level",
                )
            stack.extend(node.children)

    def visit_Expr(self, node: cst.Expr) -> None:
        if node in self._seen or (directive := exact_directive(node.value)) is None:
            return
        if not self._stack:
            self._error(
                node,
                f'"{directive}" is not the first statement of the module',
                "a module directive must be the module docstring",
            )
            return
        name = self._stack[-1].node.name.value
        if isinstance(self._stack[-1].node, cst.ClassDef):
            self._error(
                node,
                f"\"{directive}\" in class '{name}': directives mark functions, not classes",
                f'put "{directive}" first in each method instead',
            )
            return
        self._error(
            node,
            f"\"{directive}\" is not the first statement of function '{name}'",
            f"move it to the first line of '{name}'",
        )

    # --- functions -------------------------------------------------------------

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.functions.append(node)
        frame = _Frame(node, self._prefix() + node.name.value)
        frame.kind = self._directive_of(node)
        if frame.kind is not None:
            frame.target = self._judge(node, frame)
            if frame.target is not None:
                self.targets.append(frame.target)
        self._stack.append(frame)

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._stack.pop()

    def _directive_of(self, node: cst.FunctionDef) -> Kind | None:
        """The function's directive (own docstring or module's), reporting
        near misses, doubled directives and conflicts on the way."""
        name = node.name.value
        first, second = _head(_body_statements(node.body))
        own: str | None = None
        if first is not None and (text := string_text(first.value)) is not None:
            found = classify(text)
            if found is not None:
                self._seen.add(first)
                if found[0] == "near":
                    self._error(
                        first,
                        f"function '{name}' has docstring \"{text}\", which is not a directive",
                        f'did you mean "{found[1]}"?',
                    )
                else:
                    own = found[1]
        if own is not None and second is not None and (again := exact_directive(second.value)):
            self._seen.add(second)
            if again != own:
                self._error(
                    second,
                    f'function \'{name}\' has both "{own}" and "{again}"',
                    "keep the one you mean",
                )
            else:
                self._error(
                    second, f"\"{own}\" is repeated in function '{name}'", "remove the second one"
                )
        module = self._module_directive if not self._stack and node.asynchronous else None
        if own is not None and module is not None and own != module:
            assert first is not None
            self._error(
                first,
                f'function \'{name}\' says "{own}" but the module docstring says "{module}"',
                "remove one: a module directive marks every top-level 'async def'",
            )
            return None
        directive = own or module
        if directive is not None and own is None and not has_stub_slot(node):
            self._error(
                node.body.body[0],
                f"'{name}' is marked \"{directive}\" by the module docstring but starts with a "
                "compound statement, where the compiler cannot place its stub",
                f"add a docstring (or a comment line) as the first line of '{name}'",
            )
            return None
        return DIRECTIVES[directive] if directive is not None else None

    def _judge(self, node: cst.FunctionDef, frame: _Frame) -> Target | None:
        """The target for a directive function, or None after reporting why not."""
        kind = frame.kind
        assert kind is not None
        name = node.name.value
        ok = True
        if kind == "workflow" and node.asynchronous is None:
            ok = self._error(
                node, f"workflow '{name}' must be 'async def'", "add 'async' before 'def'"
            )
        if (found := _first_yield(node)) is not None:
            ok = self._error(
                found,
                f"{kind} '{name}' is a generator: a {kind} cannot use 'yield'",
                "return a value instead (a step can stream with get_writable())",
            )
        functions = [f for f in self._stack if isinstance(f.node, cst.FunctionDef)]
        method: str | None = None
        parent: Target | None = None
        if not functions:
            if self._stack:
                method = _method_kind(node)
                ok = self._check_method(node, kind, frame.qualname) and ok
            if kind == "workflow" and method == "instance":
                ok = self._error(
                    node.name,
                    f"workflow '{frame.qualname}' is an instance method",
                    "make it a @staticmethod or @classmethod: the runtime has no instance to call it on",
                )
        elif kind == "step" and len(functions) == 1 and self._stack[-1].kind == "workflow":
            parent = self._stack[-1].target  # None if that workflow was refused
            ok = ok and parent is not None
            first = self._nested.setdefault(frame.qualname, node)
            if first is not node:
                # The step handler finds a nested step by its qualname in the
                # workflow's code: a second one would run the first one's body.
                ok = self._error(
                    node.name,
                    f"step '{name}' is defined twice in workflow '{self._stack[-1].qualname}'",
                    f"give each nested step its own name: both would be {frame.qualname!r}",
                )
        else:
            outer = functions[-1]
            what = "step" if outer.kind == "step" else "function"
            hint = (
                "workflows must be module-level functions or static/class methods"
                if kind == "workflow"
                else "move it to module level (or directly into a workflow)"
            )
            ok = self._error(
                node.name,
                f"{kind} '{name}' is defined inside {what} '{outer.qualname}': it has no stable id",
                hint,
            )
        if not ok:
            return None
        return Target(
            node=node,
            kind=kind,
            qualname=frame.qualname,
            id=function_id(kind, self.ctx.module, frame.qualname),
            method=method,
            top=self._top or node,
            parent=parent,
        )

    def _check_method(self, node: cst.FunctionDef, kind: Kind, qualname: str) -> bool:
        """Methods the runtime cannot call as a workflow or step; False after reporting."""
        name = node.name.value
        if (prop := _property_decorator(node)) is not None:
            return self._error(
                node.decorators[0],
                f"{kind} '{qualname}' is a property (@{prop}): reading it cannot be a durable call",
                f"make it a method (or a @staticmethod / @classmethod) and call it: '{name}()'",
            )
        if name.startswith("__") and name.endswith("__"):
            return self._error(
                node.name,
                f"{kind} '{qualname}' is a special method: Python calls '{name}' itself "
                "(for an operator, a constructor or a protocol), not as a durable call",
                f"give the {kind} its own name"
                + (f" and call it from '{name}' if you need to" if kind == "step" else ""),
            )
        if name.startswith("__"):
            owner = qualname.rsplit(".", 2)[-2].lstrip("_")
            return self._error(
                node.name,
                f"{kind} '{qualname}' has a private name, which Python stores as "
                f"'_{owner}{name}': its id '{qualname}' would not find it",
                f"use one leading underscore: '{name[1:]}'",
            )
        return True

    # --- helpers -----------------------------------------------------------------

    def _prefix(self) -> str:
        return self._stack[-1].child_prefix if self._stack else ""

    def _error(self, node: cst.CSTNode, message: str, hint: str) -> bool:
        self.diagnostics.append(self.ctx.diagnostic(node, message, hint))
        return False


def _body_statements(body: cst.BaseSuite) -> Sequence[cst.BaseStatement | cst.BaseSmallStatement]:
    if isinstance(body, cst.SimpleStatementSuite):
        return body.body
    assert isinstance(body, cst.IndentedBlock)
    return body.body


def _flat(statements: Sequence[cst.CSTNode]) -> Iterator[cst.CSTNode]:
    """Statements in order, with `a; b` lines split into their parts."""
    for statement in statements:
        if isinstance(statement, cst.SimpleStatementLine):
            yield from statement.body
        else:
            yield statement


def _head(statements: Sequence[cst.CSTNode]) -> tuple[cst.Expr | None, cst.Expr | None]:
    """The first two statements when they are string expressions (docstring and
    a possible second directive); None where they are not."""
    flat = _flat(statements)
    first = next(flat, None)
    if not isinstance(first, cst.Expr) or string_text(first.value) is None:
        return None, None
    second = next(flat, None)
    return first, second if isinstance(second, cst.Expr) else None


_PROPERTIES = frozenset({"property", "cached_property", "getter", "setter", "deleter"})


def _decorator_name(decorator: cst.Decorator) -> str:
    expr = decorator.decorator
    if isinstance(expr, cst.Call):
        expr = expr.func
    if isinstance(expr, cst.Name):
        return expr.value
    return expr.attr.value if isinstance(expr, cst.Attribute) else ""


def _property_decorator(node: cst.FunctionDef) -> str | None:
    for decorator in node.decorators:
        if (name := _decorator_name(decorator)) in _PROPERTIES:
            return name
    return None


def _method_kind(node: cst.FunctionDef) -> str:
    for decorator in node.decorators:
        expr = decorator.decorator
        name = (
            expr.value
            if isinstance(expr, cst.Name)
            else expr.attr.value
            if isinstance(expr, cst.Attribute)
            else ""
        )
        if name in ("staticmethod", "classmethod"):
            return name
    return "instance"


class _YieldFinder(cst.CSTVisitor):
    """Finds a `yield` that belongs to the function itself."""

    def __init__(self) -> None:
        super().__init__()
        self.found: cst.Yield | None = None

    def visit_Yield(self, node: cst.Yield) -> bool:
        if self.found is None:
            self.found = node
        return False

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False


def _first_yield(node: cst.FunctionDef) -> cst.Yield | None:
    finder = _YieldFinder()
    node.body.visit(finder)
    return finder.found
