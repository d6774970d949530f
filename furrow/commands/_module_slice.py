"""The node's slice of shared modules: the part a node image runs, and nothing else.

edge/ is one file per concept, shared by firmware, gateway and cloud: payload.py
encodes reports (the node's job) and decodes them (the gateway's), modbus_map.py
writes the input registers (the node) and reads them (the gateway), and so on.
Likewise firmware/board.py and the drivers hold the parts of every role and both
links. A board loads every function of every module it imports into its heap, so
a node image holds only what its own modules reach:

* the roots are the names the image's whole modules use from a sliced module
  (``payload.make_uplink``, ``from furrow.edge.crc import crc16_modbus``,
  ``board.Rs485``);
* a module-level statement (a function, a class, a constant, an import) is kept
  when it binds a name that is needed, and then every module-level name it reads
  is needed too, in its own module or, through an import, in another;
* statements that run for their effect (``_build_table()``) are always kept.

The kept statements keep their source text and order; docstrings and the rest
are left out. A sliced module nothing reaches is not in the image at all.

The contract's tables cover every role (measurements.MEASUREMENTS, ROLES,
modbus_map.ROLE_VALUES), and a node only ever reports as its own:
``own_entries`` leaves the other roles' entries out of an image's copy, so an
irrigation node's heap holds neither the soil probes' register layout nor the
weather station's measurement bounds; so too the config validator's checks of
the other roles and of the other link.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

EDGE = "furrow.edge"
FIRMWARE = "furrow.firmware"
INIT = "__init__"  # the package's own __init__.py, in the names below


@dataclass
class _Statement:
    node: ast.stmt
    binds: set[str] = field(default_factory=set)  # module-level names it binds or changes
    reads: set[str] = field(default_factory=set)  # names it reads
    imports: dict[str, tuple[str, str]] = field(default_factory=dict)  # bound name -> (module, name)
    always: bool = False  # runs for its effect


def _names_read(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _target_bases(target: ast.AST) -> set[str]:
    """The module-level names an assignment to `target` binds or changes (x, x[k], x.a, (x, y))."""
    while isinstance(target, (ast.Subscript, ast.Attribute)):
        target = target.value
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, (ast.Tuple, ast.List)):
        return set().union(*(_target_bases(t) for t in target.elts))
    return set()


def _module_of(node: ast.ImportFrom, package: str) -> str | None:
    """The module of `package` an import names, dotted below the package (INIT for the package
    itself); relative imports are read as inside `package`."""
    if node.level == 1:
        return node.module or INIT
    if node.module == package:
        return INIT
    if node.module and node.module.startswith(package + "."):
        return node.module[len(package) + 1:]
    return None


def _analyse(tree: ast.Module, package: str) -> list[_Statement]:
    out = []
    for node in tree.body:
        s = _Statement(node)
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            s.binds = {node.name}
            s.reads = _names_read(node)
        elif isinstance(node, ast.ImportFrom):
            module = _module_of(node, package)
            for alias in node.names:
                bound = alias.asname or alias.name
                s.binds.add(bound)
                if module is not None:
                    s.imports[bound] = (module, alias.name)
        elif isinstance(node, ast.Import):
            s.binds = {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Expr):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                continue  # a docstring: not needed on the board
            s.always = True
            s.reads = _names_read(node)
        else:  # assignments, and compound statements at module level (for, if, try)
            for sub in ast.walk(node):
                if isinstance(sub, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.For)):
                    targets = sub.targets if isinstance(sub, ast.Assign) else [sub.target]
                    for t in targets:
                        s.binds |= _target_bases(t)
                elif isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute):
                    s.binds |= _target_bases(sub.func.value)  # TABLE.append(...) changes TABLE
            s.reads = _names_read(node)
        out.append(s)
    return out


def uses(source: str, package: str) -> set[tuple[str, str]]:
    """(module, name) pairs a module uses from `package` (absolute imports); name "*" when it uses
    a module as a whole, "" when it only imports it."""
    tree = ast.parse(source)
    roots: set[tuple[str, str]] = set()
    modules: dict[str, str] = {}  # local name -> module of the package
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            module = _module_of(node, package)
            if module is None:
                continue
            for alias in node.names:
                if module == INIT and not alias.name.isupper():
                    modules[alias.asname or alias.name] = alias.name  # from furrow.edge import payload
                else:
                    roots.add((module, alias.name))
    attribute_bases = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
            roots.add((modules[node.value.id], node.attr))
            attribute_bases.add(id(node.value))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Name) and node.id in modules and id(node) not in attribute_bases
                and isinstance(node.ctx, ast.Load)):
            roots.add((modules[node.id], "*"))
    roots |= {(module, "") for module in modules.values()}
    return roots


def slice_modules(sources: dict[str, str], roots: set[tuple[str, str]], package: str) -> dict[str, str]:
    """{module: sliced source} of the modules of `package` in `sources` that the roots reach.
    Roots into modules not in `sources` are left alone (those modules go whole)."""
    analysed = {name: _analyse(ast.parse(src), package) for name, src in sources.items()}
    needed: dict[str, set[str]] = {name: set() for name in sources}
    present: set[str] = set()
    work = sorted(roots)
    if INIT in sources:
        work.append((INIT, ""))  # importing any module of a package runs its __init__
    while work:
        module, name = work.pop()
        if module not in sources:
            continue
        if module not in present:  # a module that is imported runs its effect statements
            present.add(module)
            work += [(module, n) for s in analysed[module] if s.always for n in s.reads]
        if name in needed[module] or name == "":
            continue
        needed[module].add(name)
        for s in analysed[module]:
            if name == "*" or name in s.binds:
                work += [(module, n) for n in s.reads]
                work += [s.imports[b] for b in s.binds if b in s.imports and (name == "*" or b == name)]
    return {name: _render(sources[name], analysed[name], needed[name]) for name in sorted(present)}


def _render(source: str, statements: list[_Statement], needed: set[str]) -> str:
    lines = source.splitlines()
    out = []
    for s in statements:
        node = s.node
        if not (s.always or "*" in needed or s.binds & needed):
            continue
        if isinstance(node, ast.ImportFrom) and s.imports and "*" not in needed:
            names = [a for a in node.names if (a.asname or a.name) in needed]
            out.append(ast.unparse(ast.ImportFrom(module=node.module, names=names, level=node.level)))
            continue
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        out.append("\n".join(lines[first - 1:node.end_lineno]))
    return "\n".join(out) + "\n"



def _read(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _names(key: ast.AST) -> set[str]:
    """The variants a dict entry's key names: a string constant ("mqtt", "soil") and every name it
    reads (ROLE_SOIL)."""
    return _read(key) | ({key.value} if isinstance(key, ast.Constant) and isinstance(key.value, str) else set())


def own_entries(source: str, own: set[str], others: set[str]) -> str:
    """`source` without the other variants' entries of its module-level dict literals.

    A variant is a role or a link, named by its string ("irrigation", "mqtt") or its contract constant
    (ROLE_IRRIGATION); `own` are the node's, `others` the rest. In a dict that has an entry of the node's
    own (its key or value names one of `own`), an entry whose key is one of `others`, or whose key or
    value reads one, is left out: measurements.MEASUREMENTS and ROLES, modbus_map.ROLE_VALUES,
    config.ROLE_CHECKS and LINK_CHECKS. A dict with no entry of the node's own is left whole (a camera
    has no measurements). Other statements keep their text."""
    tree = ast.parse(source)
    lines = source.splitlines()
    changed = False
    for node in reversed(tree.body):  # bottom up: the line numbers above stay right
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)):
            continue
        pairs = [(k, v, (_names(k) if k is not None else set()) | _read(v))
                 for k, v in zip(node.value.keys, node.value.values, strict=True)]
        if not any(names & own for _, _, names in pairs):
            continue
        kept = [(k, v) for k, v, names in pairs if not names & others]
        if len(kept) == len(pairs):
            continue
        node.value = ast.Dict(keys=[k for k, _ in kept], values=[v for _, v in kept])
        lines[node.lineno - 1:node.end_lineno] = [ast.unparse(node)]
        changed = True
    return "\n".join(lines) + "\n" if changed else source


def variants(role: str, link: str, roles: tuple[str, ...], links: tuple[str, ...]) -> tuple[set[str], set[str]]:
    """(own, others) for own_entries: a node's role and link, by name and as contract constants
    (measurements.ROLE_SOIL = "soil"), and every other role's and link's."""
    def named(names: set[str]) -> set[str]:
        return names | {"ROLE_" + n.upper() for n in names}

    own = {role, link}
    return named(own), named((set(roles) | set(links)) - own)
