"""One option value: the value grammar (numbers, words, strings, tuples, lists, logspace/linspace calls),
parsed by recursive descent over the value's tokens, and its conversion to the option's kind.

Nothing is ever evaluated. Errors are NNErrors positioned in the line.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shell.errors import NNError, did_you_mean
from shell.language.lexer import ERROR, NUMBER, SPACE, STRING, WORD, Token
from shell.registry.specs import Option

if TYPE_CHECKING:
    from shell.language.parser import Node


@dataclass(frozen=True)
class FloatList:
    """A list of floats and how it was written (logspace(-5,1,7) prints as such)."""
    values: tuple[float, ...]
    source: str

    def __iter__(self):
        return iter(self.values)

    def __len__(self):
        return len(self.values)


@dataclass
class _Call:
    name: str
    args: list
    token: Token


@dataclass
class _Seq:
    items: list
    bracket: str        # "(", "[" or "" for a bare comma list
    token: Token


@dataclass
class _Atom:
    token: Token

    @property
    def kind(self):
        return self.token.kind

    @property
    def text(self):
        return self.token.text


#: brackets may nest this deep in a value (deeper would only exhaust the recursion of the parser)
MAX_NESTING = 32
#: digits a number may have (Python refuses to convert integers of more than 4300)
MAX_DIGITS = 100


class _ValueParser:
    """Recursive descent over the sub-tokens of one argument's value."""

    def __init__(self, tokens: list[Token], fail):
        self.tokens = [t for t in tokens if t.kind != SPACE]
        self.pos = 0
        self.depth = 0
        self.fail = fail  # fail(message, token, hint=None) -> NNError

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self):
        tok = self.peek()
        self.pos += 1
        return tok

    def parse(self):
        first = self.peek()
        item = self.item()
        if self.peek() is not None and self.peek().text == ",":
            items = [item]
            while self.peek() is not None and self.peek().text == ",":
                self.take()
                if self.peek() is None:
                    break
                items.append(self.item())
            item = _Seq(items, "", first)
        if self.peek() is not None:
            tok = self.peek()
            raise self.fail(f"unexpected '{tok.text}' in this value", tok,
                            "separate options with spaces; lists are written a,b or (a,b)")
        return item

    def item(self):
        self.depth += 1
        try:
            return self._item()
        finally:
            self.depth -= 1

    def _item(self):
        tok = self.take()
        if tok is None:
            last = self.tokens[-1] if self.tokens else None
            raise self.fail("a value is missing here", last, None)
        if self.depth > MAX_NESTING:
            raise self.fail(f"brackets nest more than {MAX_NESTING} deep here", tok, None)
        if tok.kind == ERROR:
            raise self.fail("this string has no closing quote", tok, f"add {tok.text[0]} at its end")
        if tok.text in "([":
            closing = ")" if tok.text == "(" else "]"
            items = []
            while True:
                nxt = self.peek()
                if nxt is None:
                    raise self.fail(f"'{tok.text}' is never closed", tok, f"add '{closing}'")
                if nxt.text == closing:
                    self.take()
                    break
                items.append(self.item())
                nxt = self.peek()
                if nxt is not None and nxt.text == ",":
                    self.take()
                elif nxt is not None and nxt.text != closing:
                    raise self.fail(f"expected ',' or '{closing}', got '{nxt.text}'", nxt, None)
            return _Seq(items, tok.text, tok)
        if tok.text in ")],":
            raise self.fail(f"unexpected '{tok.text}'", tok, None)
        if tok.kind == WORD and self.peek() is not None and self.peek().text == "(":
            self.take()
            args = []
            while True:
                nxt = self.peek()
                if nxt is None:
                    raise self.fail(f"'{tok.text}(' is never closed", tok, "add ')'")
                if nxt.text == ")":
                    self.take()
                    break
                args.append(self.item())
                nxt = self.peek()
                if nxt is not None and nxt.text == ",":
                    self.take()
                elif nxt is not None and nxt.text != ")":
                    raise self.fail(f"expected ',' or ')', got '{nxt.text}'", nxt, None)
            return _Call(tok.text, args, tok)
        return _Atom(tok)


_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*\Z")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _number(text: str):
    """An int or a float; texts of more than MAX_DIGITS digits are refused by the callers first."""
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    return float(text)


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


def logspace(a: float, b: float, n: int) -> list[float]:
    """10**x for n points x evenly spaced from a to b (as numpy.logspace)."""
    def power(x):
        try:
            return 10.0 ** x
        except OverflowError:
            return math.inf
    return [power(x) for x in linspace(a, b, n)]


def linspace(a: float, b: float, n: int) -> list[float]:
    if n == 1:
        return [float(a)]
    step = (b - a) / (n - 1)
    return [float(a + i * step) if i < n - 1 else float(b) for i in range(n)]


_FUNCTIONS = {"logspace": logspace, "linspace": linspace}


# --------------------------------------------------------------------------------------------------
# Converting values to option kinds
# --------------------------------------------------------------------------------------------------

class _Converter:
    def __init__(self, node: Node, opt: Option, word_tokens: list[Token], raw: str, column: int):
        self.node, self.opt, self.tokens, self.raw, self.column = node, opt, word_tokens, raw, column

    def fail(self, message, token=None, hint=None) -> NNError:
        if token is not None:
            col, length = token.start + 1, max(1, token.end - token.start)
        else:
            col, length = self.column, max(1, len(self.raw))
        return NNError(message, file=self.node.file, line=self.node.line, column=col, source_line=self.node.text,
                       hint=hint, length=length)

    def what(self) -> str:
        return f"{self.opt.name}"

    def convert(self):
        opt = self.opt
        if not [t for t in self.tokens if t.kind != SPACE]:
            raise self.fail(f"{opt.name}= needs a value", None, f"write {opt.name}={opt.placeholder}")
        if opt.kind == "path":
            value = self.path()
        else:
            tree = _ValueParser(self.tokens, self.fail).parse()
            value = getattr(self, "kind_" + opt.kind)(tree)
        if opt.check is not None:
            items = value if isinstance(value, (tuple, list, FloatList)) and opt.kind in ("floats", "size") \
                else [value]
            for item in items:
                problem = opt.check(item)
                if problem:
                    raise self.fail(f"{opt.name} {problem}, got {self.raw}", None, self.hint())
        return value

    def hint(self) -> str:
        if opt_choices := self.opt.choices:
            return f"one of {', '.join(opt_choices)}"
        return f"write {self.opt.name}={self.opt.placeholder}"

    # --- kinds -------------------------------------------------------------------------------------
    def path(self) -> str:
        meaningful = [t for t in self.tokens if t.kind != SPACE]
        if len(meaningful) == 1 and meaningful[0].kind == STRING:
            return _unquote(meaningful[0].text)
        if len(meaningful) == 1 and meaningful[0].kind == ERROR:
            raise self.fail("this string has no closing quote", meaningful[0], f"add {meaningful[0].text[0]} at its end")
        if any(t.kind in (STRING, ERROR) for t in meaningful):
            raise self.fail("put the whole path in quotes", meaningful[0], None)
        return self.raw.strip()

    def _atom(self, tree, what):
        if not isinstance(tree, _Atom):
            token = tree.token
            raise self.fail(f"{self.opt.name} must be {what}, got {self.raw}", token, self.hint())
        if tree.kind == NUMBER and sum(c.isdigit() for c in tree.text) > MAX_DIGITS:
            raise self.fail(f"this number has more than {MAX_DIGITS} digits", tree.token, None)
        return tree

    def _int_of(self, tree, what="an integer"):
        atom = self._atom(tree, what)
        if atom.kind == NUMBER:
            value = _number(atom.text)
            if isinstance(value, int):
                return value
            if value.is_integer() and "e" in atom.text.lower():
                return int(value)
            if math.isfinite(value):         # 10.5 or 2.0: say why, and which whole number it could be
                nearest = (f"write it without a decimal point: {int(value)}" if value.is_integer() else
                           f"{math.floor(value)} or {math.ceil(value)}?")
                raise self.fail(f"{self.opt.name} must be {what}, got {atom.text}", atom.token,
                                f"{self.opt.name} counts something, so it is a whole number; {nearest}")
        raise self.fail(f"{self.opt.name} must be {what}, got {atom.text}", atom.token, self.hint())

    def _float_of(self, tree):
        atom = self._atom(tree, "a number")
        if atom.kind == NUMBER:
            value = float(_number(atom.text))
            if not math.isfinite(value):
                raise self.fail(f"{self.opt.name} must be a finite number, got {atom.text}", atom.token, None)
            return value
        raise self.fail(f"{self.opt.name} must be a number, got {atom.text}", atom.token, self.hint())

    def kind_int(self, tree):
        return self._int_of(tree)

    def kind_float(self, tree):
        return self._float_of(tree)

    def kind_str(self, tree):
        atom = self._atom(tree, "a word")
        return _unquote(atom.text) if atom.kind == STRING else atom.text

    def kind_name(self, tree):
        atom = self._atom(tree, "a name")
        text = _unquote(atom.text) if atom.kind == STRING else atom.text
        if not _IDENT_RE.match(text):
            raise self.fail(f"{self.opt.name} must be a name (letters, digits, _ and -, not starting with a digit), "
                            f"got {atom.text}", atom.token, None)
        return text

    def kind_bool(self, tree):
        atom = self._atom(tree, "true or false")
        word = atom.text.lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise self.fail(f"{self.opt.name} must be true or false, got {atom.text}", atom.token,
                        did_you_mean(word, ["true", "false"]) or "write true or false")

    def _choice(self, atom: _Atom):
        choices = self.opt.choices
        word = _unquote(atom.text) if atom.kind == STRING else atom.text
        for choice in choices:
            if word.lower() == choice.lower():
                return choice
        label = self.opt.values if isinstance(self.opt.values, str) else f"{self.opt.name} values"
        raise self.fail(f"unknown {self.opt.name} '{word}'", atom.token, did_you_mean(word, choices, label))

    def kind_choice(self, tree):
        return self._choice(self._atom(tree, "one word"))

    def kind_padding(self, tree):
        atom = self._atom(tree, "valid, same or a number")
        if atom.kind == NUMBER:
            value = self._int_of(atom, "valid, same or a non-negative integer")
            if value < 0:
                raise self.fail("padding must not be negative", atom.token, None)
            return value
        return self._choice(atom)

    def kind_names(self, tree):
        items = tree.items if isinstance(tree, _Seq) and tree.bracket in ("", "[", "(") else [tree]
        return tuple(self._choice(self._atom(item, "names")) for item in items)

    def kind_columns(self, tree):
        items = tree.items if isinstance(tree, _Seq) else [tree]
        out = []
        for item in items:
            atom = self._atom(item, "column names or numbers")
            text = _unquote(atom.text) if atom.kind == STRING else atom.text
            if atom.kind == NUMBER:
                out.append(self._int_of(atom, "a column number"))
            elif re.fullmatch(r"\d*:\d*", text):
                a, b = text.split(":")
                out.append(slice(int(a) if a else None, int(b) if b else None))
            else:
                out.append(text)
        return tuple(out)

    def kind_shape(self, tree):
        if isinstance(tree, _Seq):
            if not tree.items:
                raise self.fail(f"{self.opt.name} needs at least one size", tree.token, "write e.g. (8,8,1)")
            dims = [self._int_of(item, "a tuple of integers") for item in tree.items]
        else:
            dims = [self._int_of(tree, "a tuple of integers such as (8,8,1)")]
        for d in dims:
            if d < 1 and not (self.opt.allow_negative_one and d == -1):
                raise self.fail(f"{self.opt.name} sizes must be positive, got {self.raw}", None,
                                "write e.g. (8,8,1)")
        if self.opt.allow_negative_one and dims.count(-1) > 1:
            raise self.fail(f"{self.opt.name} may contain -1 only once", None, None)
        return tuple(dims)

    def kind_size(self, tree):
        if isinstance(tree, _Seq):
            if len(tree.items) != 2:
                raise self.fail(f"{self.opt.name} must be an integer or a pair (a,b), got {self.raw}", tree.token,
                                self.hint())
            return tuple(self._int_of(item, "a pair of integers") for item in tree.items)
        return self._int_of(tree, "an integer or a pair (a,b)")

    def kind_range(self, tree):
        items = tree.items if isinstance(tree, _Seq) else [tree]
        if len(items) != 2:
            raise self.fail(f"{self.opt.name} must be two numbers (low,high), got {self.raw}", None, self.hint())
        low, high = (self._float_of(item) for item in items)
        if not low < high:
            raise self.fail(f"{self.opt.name} must go from low to high, got {self.raw}", None,
                            f"write {self.opt.name}=({min(low, high):g},{max(low, high):g})" if low != high else None)
        return low, high

    def kind_floats(self, tree):
        if isinstance(tree, _Call):
            func = _FUNCTIONS.get(tree.name.lower())
            if func is None:
                raise self.fail(f"unknown function '{tree.name}'", tree.token, did_you_mean(tree.name, _FUNCTIONS))
            if len(tree.args) != 3:
                raise self.fail(f"{tree.name} takes three numbers: {tree.name}(start, stop, count)", tree.token,
                                None)
            a, b = self._float_of(tree.args[0]), self._float_of(tree.args[1])
            n = self._int_of(tree.args[2], "a positive count")
            if not 1 <= n <= 10_000:
                raise self.fail(f"{tree.name} count must be between 1 and 10000, got {n}", tree.args[2].token, None)
            values = func(a, b, n)
            if not all(math.isfinite(v) for v in values):
                raise self.fail(f"{tree.name}({a:g}, {b:g}, {n}) does not give finite numbers", tree.token, None)
            return FloatList(tuple(values), self.raw.strip())
        items = tree.items if isinstance(tree, _Seq) else [tree]
        if not items:
            raise self.fail(f"{self.opt.name} needs at least one number", tree.token, None)
        return FloatList(tuple(self._float_of(item) for item in items), self.raw.strip())
