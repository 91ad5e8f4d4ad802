"""The `.nn` language: a tokenizer (for highlighting too), value parsing and the line/script parser.

The grammar is `GRAMMAR` below (what `help language` prints).

`tokenize_line` never raises and its tokens cover the line exactly (for a prompt-toolkit lexer);
`parse` / `parse_line` raise only :class:`shell.errors.NNError`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from shell import registry
from shell.errors import NNError, did_you_mean

GRAMMAR = """Grammar (one statement per line; `#` starts a comment at the start of a word; blank lines are fine):

    script     := { line NEWLINE }
    line       := [ statement | model_block_line ] [ comment ]
    statement  := HEAD [ SUBCOMMAND ] { argument }        HEAD from registry.STATEMENTS
    block      := "model" NAME { option } NEWLINE { layer NEWLINE } "end"
    layer      := LAYER { argument }                      LAYER from registry.LAYERS
    argument   := value | KEY "=" value                   positional values fill positional options in order
    value      := NUMBER | WORD | STRING | tuple | list | call | item { "," item }
    tuple      := "(" [ item { "," item } [","] ] ")"     list := "[" ... "]"
    call       := ("logspace" | "linspace") "(" NUMBER "," NUMBER "," NUMBER ")"

Words may contain spaces only inside brackets or quotes: `input=(8, 8, 1)` is one argument.
Nothing is ever evaluated: numbers, tuples, lists and logspace/linspace are parsed here.
"""

# --------------------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------------------

# token kinds
SPACE = "space"
COMMENT = "comment"
HEAD = "head"              # first word of a line (refined by `lex_lines` to STATEMENT/LAYER/BLOCK/UNKNOWN)
STATEMENT = "statement"
LAYER = "layer"
BLOCK = "block"            # end / abort
UNKNOWN = "unknown"        # a head word that is nothing known
SUBCOMMAND = "subcommand"  # second word of data/plot/save/load/set
KEY = "key"
EQUALS = "equals"
NUMBER = "number"
WORD = "word"
STRING = "string"
PUNCT = "punct"
ERROR = "error"            # unterminated string

_WHITESPACE = " \t\r\n\f\v"
_PUNCT = "()[],"
_QUOTES = "\"'"
_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?==)")
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*\Z")


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    start: int   # 0-based column in the line
    end: int     # exclusive


@dataclass
class Word:
    """A whitespace-separated word (brackets and quotes may hold spaces) and its sub-tokens."""
    text: str
    start: int
    end: int
    tokens: list[Token] = field(default_factory=list)


def _scan_quote(text: str, i: int) -> tuple[int, bool]:
    """End (exclusive) of the quoted string starting at i, and whether it was closed."""
    quote = text[i]
    j = i + 1
    while j < len(text):
        if text[j] == "\\" and j + 1 < len(text):
            j += 2
            continue
        if text[j] == quote:
            return j + 1, True
        j += 1
    return len(text), False


def _split(text: str) -> tuple[list[Word], int | None]:
    """Words of a line and where its comment starts (None if no comment)."""
    words: list[Word] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in _WHITESPACE:
            i += 1
            continue
        if c == "#":
            return words, i
        start, depth = i, 0
        while i < n:
            c = text[i]
            if c in _QUOTES:
                i, _ = _scan_quote(text, i)
                continue
            if c in "([":
                depth += 1
            elif c in ")]":
                depth = max(0, depth - 1)
            elif c in _WHITESPACE:
                if depth == 0:
                    break
                j = i
                while j < n and text[j] in _WHITESPACE:
                    j += 1
                if j < n and text[j] == "#":  # a comment inside an unclosed bracket ends the word
                    break
            i += 1
        end = i
        while end > start and text[end - 1] in _WHITESPACE:
            end -= 1
        words.append(Word(text[start:end], start, end))
    return words, None


def _value_tokens(text: str, offset: int) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in _WHITESPACE:
            j = i
            while j < n and text[j] in _WHITESPACE:
                j += 1
            tokens.append(Token(SPACE, text[i:j], offset + i, offset + j))
            i = j
        elif c in _QUOTES:
            j, closed = _scan_quote(text, i)
            tokens.append(Token(STRING if closed else ERROR, text[i:j], offset + i, offset + j))
            i = j
        elif c in _PUNCT:
            tokens.append(Token(PUNCT, c, offset + i, offset + i + 1))
            i += 1
        else:
            j = i
            while j < n and text[j] not in _WHITESPACE and text[j] not in _PUNCT and text[j] not in _QUOTES:
                j += 1
            atom = text[i:j]
            tokens.append(Token(NUMBER if _NUMBER_RE.match(atom) else WORD, atom, offset + i, offset + j))
            i = j
    return tokens


def _word_tokens(word: Word, first: bool) -> list[Token]:
    match = None if first else _KEY_RE.match(word.text)
    if match:
        k = match.end()
        return [Token(KEY, word.text[:k], word.start, word.start + k),
                Token(EQUALS, "=", word.start + k, word.start + k + 1),
                *_value_tokens(word.text[k + 1:], word.start + k + 1)]
    tokens = _value_tokens(word.text, word.start)
    if first and len(tokens) == 1 and tokens[0].kind == WORD:
        tokens = [Token(HEAD, tokens[0].text, tokens[0].start, tokens[0].end)]
    return tokens


def _words(text: str) -> tuple[list[Word], int | None]:
    words, comment = _split(text)
    for index, word in enumerate(words):
        word.tokens = _word_tokens(word, index == 0)
    return words, comment


def tokenize_line(text: str) -> list[Token]:
    """Tokens covering every character of `text` (kinds above). Never raises."""
    try:
        words, comment = _words(text)
    except Exception:  # pragma: no cover - defensive: a lexer must never fail
        return [Token(ERROR, text, 0, len(text))] if text else []
    tokens: list[Token] = []
    pos = 0
    stop = len(text) if comment is None else comment
    for word in words:
        for tok in word.tokens:
            if tok.start > pos:
                tokens.append(Token(SPACE, text[pos:tok.start], pos, tok.start))
            tokens.append(tok)
            pos = tok.end
    if stop > pos:
        tokens.append(Token(SPACE, text[pos:stop], pos, stop))
        pos = stop
    if comment is not None:
        tokens.append(Token(COMMENT, text[comment:], comment, len(text)))
    return tokens


def classify_head(word: str, in_block: bool) -> str:
    """STATEMENT, LAYER, BLOCK or UNKNOWN for the first word of a line."""
    if in_block:
        if word.lower() in registry.BLOCK_KEYWORDS:
            return BLOCK
        return LAYER if registry.find_layer(word) else UNKNOWN
    return STATEMENT if registry.find_statement(word) else UNKNOWN


def lex_lines(lines: list[str]) -> list[list[Token]]:
    """Tokens per line with the head word classified by block context (for highlighting a whole
    buffer or script). Never raises."""
    result = []
    in_block = False
    for text in lines:
        tokens = tokenize_line(text)
        refined = []
        head_seen = False
        head_word = None
        for tok in tokens:
            if tok.kind == HEAD and not head_seen:
                head_seen = True
                head_word = tok.text.lower()
                tok = Token(classify_head(tok.text, in_block), tok.text, tok.start, tok.end)
            elif tok.kind in (WORD, NUMBER) and head_word and not in_block and head_seen:
                stmt = registry.find_statement(head_word)
                if stmt is not None and stmt.subcommands and not any(t.kind == SUBCOMMAND for t in refined):
                    if stmt.find_subcommand(tok.text):
                        tok = Token(SUBCOMMAND, tok.text, tok.start, tok.end)
            elif tok.kind not in (SPACE, COMMENT):
                head_seen = True
            refined.append(tok)
        if head_word is not None:
            if not in_block and registry.find_statement(head_word) and registry.find_statement(head_word).opens_block:
                in_block = True
            elif in_block and head_word in registry.BLOCK_KEYWORDS:
                in_block = False
        result.append(refined)
    return result


# --------------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------------

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


class _ValueParser:
    """Recursive descent over the sub-tokens of one argument's value."""

    def __init__(self, tokens: list[Token], fail):
        self.tokens = [t for t in tokens if t.kind != SPACE]
        self.pos = 0
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
        tok = self.take()
        if tok is None:
            last = self.tokens[-1] if self.tokens else None
            raise self.fail("a value is missing here", last, None)
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


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _number(text: str):
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
# Parsed lines
# --------------------------------------------------------------------------------------------------

@dataclass
class Arg:
    """One option value as written: `value` is converted to the option's kind."""
    name: str
    value: Any
    raw: str
    column: int          # 1-based column of the value
    length: int
    key_column: int | None = None   # 1-based column of `key=` when written with a key

    @property
    def start_column(self) -> int:
        return self.key_column or self.column


@dataclass
class Node:
    """A parsed line: a statement, a layer (inside a block), `end`/`abort`, or blank (kind 'blank')."""
    kind: str                      # "statement" | "layer" | "end" | "abort" | "blank"
    name: str = ""
    spec: Any = None               # registry.Command or registry.LayerSpec
    form: Any = None               # the registry.Command whose options apply (a subcommand or the statement)
    sub: str | None = None
    args: dict[str, Arg] = field(default_factory=dict)
    file: str = "<input>"
    line: int = 1
    column: int = 1                # 1-based column of the head word
    head_length: int = 1
    text: str = ""                 # the whole line as written
    words_end: int = 0             # 0-based end of the last word (before any comment)

    def has(self, name: str) -> bool:
        return name in self.args

    def value(self, name: str, default: Any = None) -> Any:
        if name in self.args:
            return self.args[name].value
        return default

    def get(self, name: str) -> Any:
        """The value given, else the option's default (parsed)."""
        if name in self.args:
            return self.args[name].value
        opt = registry.find_option(self.form, name) if self.form is not None else None
        return option_default(opt) if opt is not None else None

    def values(self) -> dict[str, Any]:
        return {name: arg.value for name, arg in self.args.items()}

    @property
    def source(self) -> str:
        """The line without its comment and surrounding spaces."""
        return self.text[:self.words_end].strip()

    def error(self, message: str, hint: str | None = None, at: str | None = None, key: bool = False) -> NNError:
        """An NNError at the value of option `at` (or its key), else at the head word."""
        arg = self.args.get(at) if at else None
        if arg is not None:
            column = arg.key_column if key and arg.key_column else arg.column
            length = (arg.column - arg.key_column + arg.length) if key and arg.key_column else arg.length
        else:
            column, length = self.column, self.head_length
        return NNError(message, file=self.file, line=self.line, column=column, source_line=self.text,
                       hint=hint, length=length)


@dataclass
class ModelBlock:
    header: Node
    layers: list[Node]
    end: Node | None

    @property
    def line(self) -> int:
        return self.header.line

    @property
    def source(self) -> str:
        lines = [self.header.source] + ["  " + n.source for n in self.layers]
        return "\n".join(lines + ["end"])


# --------------------------------------------------------------------------------------------------
# Converting values to option kinds
# --------------------------------------------------------------------------------------------------

class _Converter:
    def __init__(self, node: Node, opt: registry.Option, word_tokens: list[Token], raw: str, column: int):
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
        return tree

    def _int_of(self, tree, what="an integer"):
        atom = self._atom(tree, what)
        if atom.kind == NUMBER:
            value = _number(atom.text)
            if isinstance(value, int):
                return value
            if value.is_integer() and "e" in atom.text.lower():
                return int(value)
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


_DEFAULT_CACHE: dict[int, Any] = {}


def option_default(opt: registry.Option) -> Any:
    """The option's default as a value of its kind (string defaults such as 'logspace(-5,1,7)' parsed)."""
    if opt.kind == "floats" and isinstance(opt.default, str):
        key = id(opt)
        if key not in _DEFAULT_CACHE:
            _DEFAULT_CACHE[key] = parse_value(opt, opt.default)
        return _DEFAULT_CACHE[key]
    return opt.default


def parse_value(opt: registry.Option, text: str, file: str = "<value>") -> Any:
    """Convert `text` to option `opt`'s kind (raises NNError positioned in `text`)."""
    node = Node("statement", file=file, text=text)
    return _Converter(node, opt, _value_tokens(text, 0), text, 1).convert()


# --------------------------------------------------------------------------------------------------
# Parsing lines
# --------------------------------------------------------------------------------------------------

def _err(node: Node, message: str, start: int, end: int, hint: str | None = None) -> NNError:
    return NNError(message, file=node.file, line=node.line, column=start + 1, source_line=node.text, hint=hint,
                   length=max(1, end - start))


def _bind(node: Node, form, words: list[Word]) -> None:
    """Bind the argument words to the form's options (positional in order, then key=value)."""
    positional = [opt for opt in form.options if opt.positional]
    next_positional = 0
    label = form.full_name if isinstance(form, registry.Command) else form.name
    for word in words:
        tokens = word.tokens
        if tokens and tokens[0].kind == KEY:
            key_tok = tokens[0]
            opt = registry.find_option(form, key_tok.text)
            if opt is None:
                keys = [o.name for o in form.options]
                hint = did_you_mean(key_tok.text, keys, f"options of {label}") if keys else \
                    f"{label} takes no options"
                raise _err(node, f"{label} has no option '{key_tok.text}'", key_tok.start, key_tok.end, hint)
            value_tokens = tokens[2:]
            raw = word.text[len(key_tok.text) + 1:]
            column = (value_tokens[0].start + 1) if value_tokens else key_tok.end + 2
            key_column = key_tok.start + 1
        else:
            while next_positional < len(positional) and positional[next_positional].name in node.args:
                next_positional += 1
            if next_positional >= len(positional):
                names = [o.name for o in positional]
                if names:
                    hint = f"usage: {form.usage()}"
                    message = f"{label} takes {len(names)} positional value{'s' if len(names) > 1 else ''} " \
                              f"({', '.join(names)}); '{word.text}' is one too many"
                else:
                    hint = f"usage: {form.usage()}"
                    message = f"{label} takes no positional values; got '{word.text}'"
                if _NUMBER_RE.match(word.text) is None and "=" not in word.text and form.options:
                    close = did_you_mean(word.text, [o.name for o in form.options])
                    if close.startswith("did you mean"):
                        hint = f"options are written key=value; {close} usage: {form.usage()}"
                raise _err(node, message, word.start, word.end, hint)
            opt = positional[next_positional]
            next_positional += 1
            value_tokens = tokens
            raw = word.text
            column = word.start + 1
            key_column = None
        if opt.name in node.args:
            start = (key_column or column) - 1
            raise _err(node, f"{opt.name} is given twice", start, word.end, "give each option once")
        value = _Converter(node, opt, value_tokens, raw, column).convert()
        node.args[opt.name] = Arg(opt.name, value, raw, column, max(1, word.end - column + 1), key_column)
    for opt in form.options:
        if opt.required and opt.name not in node.args:
            end = node.words_end
            raise _err(node, f"{label} needs {opt.name} ({opt.help})", end, end + 1, f"usage: {form.usage()}")


def parse_line(text: str, line: int = 1, file: str = "<input>", in_block: bool = False) -> Node:
    """Parse one line. Inside a block a line is a layer, `end` or `abort`; outside it is a statement."""
    node = Node("blank", file=file, line=line, text=text)
    try:
        words, _comment = _words(text)
    except Exception as exc:  # pragma: no cover - the scanner is total; keep the promise anyway
        raise NNError(f"cannot read this line ({exc})", file=file, line=line, source_line=text) from None
    if not words:
        return node
    node.words_end = words[-1].end
    head = words[0]
    node.column, node.head_length = head.start + 1, max(1, head.end - head.start)
    head_tokens = head.tokens
    if len(head_tokens) != 1 or head_tokens[0].kind != HEAD or "=" in head.text:
        what = "a layer name" if in_block else "a statement"
        hint = "options are written after a layer name: dense 10 activation=relu" if in_block else \
            "a line starts with a statement such as data, model, train; `help` lists them"
        key = head.text.split("=", 1)[0] if "=" in head.text else ""
        if key:
            specs = registry.LAYERS if in_block else [form for _, form in registry.iter_forms()]
            owners = [getattr(s, "full_name", s.name) for s in specs if registry.find_option(s, key) is not None]
            if owners:
                hint = f"{key}= is an option of: {', '.join(dict.fromkeys(owners))} (e.g. {owners[0]} {head.text})"
        raise _err(node, f"expected {what} at the start of the line, got '{head.text}'", head.start, head.end, hint)
    word = head.text
    rest = words[1:]
    if in_block:
        lowered = word.lower()
        if lowered in registry.BLOCK_KEYWORDS:
            node.kind, node.name = lowered, lowered
            if rest:
                raise _err(node, f"'{lowered}' takes nothing after it", rest[0].start, rest[-1].end, None)
            return node
        spec = registry.find_layer(word)
        if spec is None:
            stmt = registry.find_statement(word)
            if stmt is not None:
                raise _err(node, f"'{word}' is a statement, not a layer; the model block is still open",
                           head.start, head.end, "close the model with a line `end` first")
            raise _err(node, f"unknown layer '{word}'", head.start, head.end,
                       did_you_mean(word, registry.layer_heads(), "layers")
                       or "`layers` lists every layer")
        node.kind, node.name, node.spec, node.form = "layer", spec.name, spec, spec
        _bind(node, spec, rest)
        return node
    spec = registry.find_statement(word)
    if spec is None:
        lowered = word.lower()
        if registry.find_layer(word) is not None:
            raise _err(node, f"'{word}' is a layer; layers go inside a model block", head.start, head.end,
                       "start one with `model NAME` and close it with `end`")
        if lowered in registry.BLOCK_KEYWORDS:
            raise _err(node, f"'{lowered}' without a model block", head.start, head.end,
                       f"'{lowered}' only closes a block opened by `model NAME`")
        raise _err(node, f"unknown statement '{word}'", head.start, head.end,
                   did_you_mean(word, registry.all_heads()) or "`help` lists the statements")
    node.kind, node.name, node.spec, node.form = "statement", spec.name, spec, spec
    if spec.subcommands:
        forms = [s.name for s in spec.subcommands]
        if not rest:
            raise _err(node, f"{spec.name} needs one of: {', '.join(forms)}", head.end, head.end + 1,
                       f"e.g. {spec.subcommands[0].example}")
        sub_word = rest[0]
        sub = spec.find_subcommand(sub_word.text) if sub_word.tokens and sub_word.tokens[0].kind in (WORD, HEAD) \
            and len(sub_word.tokens) == 1 else None
        if sub is None:
            raise _err(node, f"unknown {spec.name} form '{sub_word.text}'", sub_word.start, sub_word.end,
                       did_you_mean(sub_word.text, forms, f"{spec.name} forms"))
        node.sub, node.form = sub.name, sub
        rest = rest[1:]
    _bind(node, node.form, rest)
    return node


# --------------------------------------------------------------------------------------------------
# Parsing scripts
# --------------------------------------------------------------------------------------------------

def parse(text: str, file: str = "<input>") -> list:
    """Parse a whole script into statements (Node) and model blocks (ModelBlock); the first error raises."""
    program: list = []
    block: ModelBlock | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        node = parse_line(line, number, file, in_block=block is not None)
        if node.kind == "blank":
            continue
        if block is not None:
            if node.kind == "end":
                block.end = node
                program.append(block)
                block = None
            elif node.kind == "abort":
                block = None
            else:
                block.layers.append(node)
        elif node.spec is not None and node.spec.opens_block:
            block = ModelBlock(node, [], None)
        else:
            program.append(node)
    if block is not None:
        header = block.header
        raise NNError(f"model '{header.value('name')}' is never closed", file=file, line=header.line,
                      column=header.column, source_line=header.text, length=header.head_length,
                      hint="add a line `end` after its last layer")
    return program


def check_line(text: str, in_block: bool = False) -> NNError | None:
    """The error a line would raise, or None (for a prompt validator)."""
    try:
        parse_line(text, 1, "<prompt>", in_block)
    except NNError as exc:
        return exc
    return None


# --------------------------------------------------------------------------------------------------
# Completion context (what a completer should offer at the cursor)
# --------------------------------------------------------------------------------------------------

@dataclass
class CompletionContext:
    """kind: 'statement' (line start), 'layer' (line start in a block; also end/abort), 'subcommand',
    'option' (a new key, or a value for `positional`), 'value' (after key=, `option` set; option.takes_path
    tells whether to complete file names), or 'none' (inside a comment or past an error)."""
    kind: str
    prefix: str
    start: int                       # 0-based column where `prefix` starts
    spec: Any = None                 # Command or LayerSpec of the line
    form: Any = None                 # the Command/LayerSpec whose options apply
    option: registry.Option | None = None
    positional: registry.Option | None = None   # the next positional option, if any
    used: tuple[str, ...] = ()       # options already given


def completion_context(text: str, in_block: bool = False) -> CompletionContext:
    """Describe what is being typed at the end of `text` (the line up to the cursor). Never raises."""
    try:
        return _completion_context(text, in_block)
    except Exception:  # pragma: no cover - completion must never break typing
        return CompletionContext("none", "", len(text))


def _completion_context(text: str, in_block: bool) -> CompletionContext:
    words, comment = _words(text)
    if comment is not None:
        return CompletionContext("none", "", len(text))
    at_new_word = not words or words[-1].end < len(text) or (text and text[-1] in _WHITESPACE)
    current = None if at_new_word else words[-1]
    done = words if at_new_word else words[:-1]
    prefix = "" if current is None else current.text
    start = len(text) if current is None else current.start
    if not done:
        return CompletionContext("layer" if in_block else "statement", prefix, start)
    head = done[0].text
    spec = registry.find_layer(head) if in_block else registry.find_statement(head)
    if spec is None:
        return CompletionContext("none", prefix, start)
    form = spec
    args = done[1:]
    if isinstance(spec, registry.Command) and spec.subcommands:
        if not args:
            return CompletionContext("subcommand", prefix, start, spec=spec)
        form = spec.find_subcommand(args[0].text)
        if form is None:
            return CompletionContext("none", prefix, start, spec=spec)
        args = args[1:]
    used, positional_used = [], 0
    for word in args:
        if word.tokens and word.tokens[0].kind == KEY:
            opt = registry.find_option(form, word.tokens[0].text)
            if opt is not None:
                used.append(opt.name)
        else:
            positional_used += 1
    free_positional = [o for o in form.options if o.positional and o.name not in used]
    positional = free_positional[positional_used] if positional_used < len(free_positional) else None
    if current is not None and "=" in current.text and _KEY_RE.match(current.text):
        key = current.text.split("=", 1)[0]
        opt = registry.find_option(form, key)
        value_prefix = current.text[len(key) + 1:]
        if opt is None:
            return CompletionContext("none", value_prefix, current.start + len(key) + 1, spec, form)
        if opt.kind in ("names", "columns", "floats") and "," in value_prefix:
            cut = value_prefix.rfind(",") + 1
            return CompletionContext("value", value_prefix[cut:], current.start + len(key) + 1 + cut, spec, form,
                                     opt, used=tuple(used))
        return CompletionContext("value", value_prefix, current.start + len(key) + 1, spec, form, opt,
                                 used=tuple(used))
    return CompletionContext("option", prefix, start, spec, form, positional=positional, used=tuple(used))
