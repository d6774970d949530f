"""Fold an image's module-private constants into its code (`furrow firmware build`).

A module-level ``NAME = 16`` costs a board a global (a slot in the module's dict) and an interned
name, which MicroPython keeps for good in its name pools, even for a boot-only module it frees again.
Written ``_NAME = const(16)``, MicroPython's compiler puts the value into the code that uses it and
keeps neither (docs/firmware.md, "Constants folded into the code"). The contract and the firmware
keep their public names for the gateway, the cloud and the tests on CPython; only the image's copy is
rewritten, and only where it cannot change what the code does:

* the value is a literal int small enough for MicroPython's small ints, a str, a bytes, or a tuple
  of them;
* the name is assigned once, at the top level of its module, and no code above that line reads it;
* no other module of the image has the name in its code (so none imports it or reads it as an
  attribute), and the module never reads it as an attribute (``x.NAME``) nor passes it as a keyword;
* the private name (``_NAME``) is not taken anywhere in the image;
* no f-string of its module mentions the name (its ``{NAME}`` is not a token to rename).

Every mention of the name as a Python name in its module is renamed (tokens, not text: a string
that happens to hold the word is left alone).
"""

from __future__ import annotations

import ast
import io
import re
import tokenize

_SMALL_INT = 1 << 30  # MicroPython's small ints on a 32-bit board (the rest are heap objects)
_CONST_IMPORT = "from micropython import const  # furrow firmware build: private constants folded\n"


def _literal(node: ast.expr) -> bool:
    try:
        value = ast.literal_eval(node)
    except ValueError:
        return False
    return _plain(value)


def _plain(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -_SMALL_INT <= value < _SMALL_INT
    if isinstance(value, tuple):
        return all(_plain(item) for item in value)
    return isinstance(value, (str, bytes))


_ASSIGN = {"=", "+=", "-=", "*=", "/=", "//=", "%=", "**=", "|=", "&=", "^=", "<<=", ">>=", ":="}


def _names(text: str) -> list[tuple[str, int, str, str]]:
    """(name, row, token before, token after) of every Python name in `text`: not the words of its
    strings and comments."""
    toks = [t for t in tokenize.generate_tokens(io.StringIO(text).readline)
            if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT)]
    out = []
    for i, t in enumerate(toks):
        if t.type == tokenize.NAME:
            before = toks[i - 1].string if i else ""
            after = toks[i + 1].string if i + 1 < len(toks) else ""
            out.append((t.string, t.start[0], before, after))
    return out


def _in_fstrings(text: str) -> set[str]:
    """The words inside `text`'s f-strings: on this CPython an f-string is one STRING token, so a name it
    reads (``f"{NAME}"``) is not a NAME token and would not be renamed."""
    words: set[str] = set()
    for t in tokenize.generate_tokens(io.StringIO(text).readline):
        if t.type == tokenize.STRING and "f" in t.string[:3].lower().split("'")[0].split('"')[0]:
            words.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", t.string))
    return words


def _candidates(module: str, text: str, sources: dict[str, str]) -> list[tuple[str, int]]:
    """(name, line) of each constant of `module` that may be folded."""
    out = []
    names = _names(text)
    in_fstrings = _in_fstrings(text)
    elsewhere = {n for m, t in sources.items() if m != module for n, *_ in _names(t)}
    taken = elsewhere | {n for n, *_ in names}
    for node in ast.parse(text).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        name = node.targets[0].id
        if not _literal(node.value) or node.lineno != node.end_lineno or name in elsewhere or name in in_fstrings:
            continue
        private = "_" + name.lstrip("_")
        if private != name and private in taken:
            continue
        mentions = [(row, before, after) for n, row, before, after in names if n == name]
        if mentions[0][0] != node.lineno:
            continue  # read (in a function) above its definition: the compiler folds only what follows
        if any(before == "." for _, before, _ in mentions):
            continue  # an attribute of that name somewhere (x.NAME)
        if sum(after in _ASSIGN for _, _, after in mentions) != 1:
            continue  # assigned again, augmented, or a keyword argument
        out.append((name, node.lineno))
    return out


def fold_module(module: str, text: str, sources: dict[str, str]) -> str:
    """`text` with its foldable constants as ``_NAME = const(value)``."""
    found = _candidates(module, text, sources)
    if not found:
        return text
    names = {name: "_" + name.lstrip("_") for name, _ in found}
    lines = text.splitlines(keepends=True)
    edits = []  # (row, col, old, new), applied from the end
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.NAME and tok.string in names:
            edits.append((tok.start[0], tok.start[1], tok.string, names[tok.string]))
    for row, col, old, new in sorted(edits, reverse=True):
        line = lines[row - 1]
        lines[row - 1] = line[:col] + new + line[col + len(old):]
    for _name, row in found:
        line = lines[row - 1]
        head, _, rest = line.partition("=")
        value, hash_, comment = rest.partition("  #")
        lines[row - 1] = f"{head}= const({value.strip()}){'  #' + comment if hash_ else chr(10)}"
        if not lines[row - 1].endswith("\n"):
            lines[row - 1] += "\n"
    first = min(row for _, row in found)
    lines.insert(first - 1, _CONST_IMPORT)
    return "".join(lines)


def fold_constants(sources: dict[str, str]) -> dict[str, str]:
    """Every module of an image ({path: source}) with its private constants folded."""
    return {module: fold_module(module, text, sources) for module, text in sources.items()}
