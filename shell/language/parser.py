"""The `.nn` parser: a line into a Node, a script into statements and model blocks.

The grammar is `GRAMMAR` below (what `help language` prints).

`parse` / `parse_line` raise only :class:`shell.errors.NNError`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shell.errors import NNError, did_you_mean
from shell.language.lexer import (_NUMBER_RE, HEAD, KEY, WORD, Word, _value_tokens, _words, forbidden_character,
                                  split_lines)
from shell.language.values import _Converter
from shell.registry import lookup
from shell.registry.layer_table import LAYERS
from shell.registry.specs import Command, Option
from shell.registry.statement_table import BLOCK_KEYWORDS, IN_BLOCK_STATEMENTS

#: shows control characters in an error's copy of the line as one visible character each (columns stay right)
_VISIBLE = {code: "\ufffd" for code in [*range(32), 127, *range(128, 160), 0x2028, 0x2029, *range(0x202a, 0x202f),
                                       *range(0x2066, 0x206a)] if code != 9}

GRAMMAR = """Grammar (one statement per line; `#` starts a comment at the start of a word; blank lines are fine):

    script     := { line NEWLINE }                        NEWLINE: \\n, \\r\\n or \\r; no other control characters
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
        opt = lookup.find_option(self.form, name) if self.form is not None else None
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
# Single values (option defaults, `parse_value`)
# --------------------------------------------------------------------------------------------------

_DEFAULT_CACHE: dict[int, Any] = {}


def option_default(opt: Option) -> Any:
    """The option's default as a value of its kind (string defaults such as 'logspace(-5,1,7)' parsed)."""
    if opt.kind == "floats" and isinstance(opt.default, str):
        key = id(opt)
        if key not in _DEFAULT_CACHE:
            _DEFAULT_CACHE[key] = parse_value(opt, opt.default)
        return _DEFAULT_CACHE[key]
    return opt.default


def parse_value(opt: Option, text: str, file: str = "<value>") -> Any:
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
    label = form.full_name if isinstance(form, Command) else form.name
    for word in words:
        tokens = word.tokens
        if tokens and tokens[0].kind == KEY:
            key_tok = tokens[0]
            opt = lookup.find_option(form, key_tok.text)
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
    """Parse one line. Inside a block a line is a layer, `end`, `abort` or one of the IN_BLOCK_STATEMENTS
    (help, layers, summary, undo); outside it is a statement."""
    node = Node("blank", file=file, line=line, text=text)
    forbidden = forbidden_character(text)
    if forbidden is not None:
        index, what = forbidden
        raise NNError(f"control character {what} in this line: only \\n, \\r\\n and \\r end a line, and only "
                      f"spaces and tabs separate words", file=file, line=line,
                      column=index + 1, source_line=text.translate(_VISIBLE),
                      hint="remove it: such characters can hide a statement inside a comment")
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
            specs = LAYERS if in_block else [form for _, form in lookup.iter_forms()]
            owners = [getattr(s, "full_name", s.name) for s in specs if lookup.find_option(s, key) is not None]
            if owners:
                hint = f"{key}= is an option of: {', '.join(dict.fromkeys(owners))} (e.g. {owners[0]} {head.text})"
        raise _err(node, f"expected {what} at the start of the line, got '{head.text}'", head.start, head.end, hint)
    word = head.text
    rest = words[1:]
    if in_block:
        lowered = word.lower()
        if lowered in BLOCK_KEYWORDS:
            node.kind, node.name = lowered, lowered
            if rest:
                raise _err(node, f"'{lowered}' takes nothing after it", rest[0].start, rest[-1].end, None)
            return node
        spec = lookup.find_layer(word)
        if spec is None:
            stmt = lookup.find_statement(word)
            if stmt is not None and stmt.name in IN_BLOCK_STATEMENTS:
                in_block = False                     # parsed as the statement it is, below
            elif stmt is not None:
                raise _err(node, f"'{word}' is a statement, not a layer; the model block is still open",
                           head.start, head.end, "close the model with a line `end` first")
            else:
                raise _err(node, f"unknown layer '{word}'", head.start, head.end,
                           did_you_mean(word, lookup.layer_heads(), "layers")
                           or "`layers` lists every layer")
        else:
            node.kind, node.name, node.spec, node.form = "layer", spec.name, spec, spec
            _bind(node, spec, rest)
            return node
    spec = lookup.find_statement(word)
    if spec is None:
        lowered = word.lower()
        if lookup.find_layer(word) is not None:
            raise _err(node, f"'{word}' is a layer; layers go inside a model block", head.start, head.end,
                       "start one with `model NAME` and close it with `end`")
        if lowered in BLOCK_KEYWORDS:
            raise _err(node, f"'{lowered}' without a model block", head.start, head.end,
                       f"'{lowered}' only closes a block opened by `model NAME`")
        raise _err(node, f"unknown statement '{word}'", head.start, head.end,
                   did_you_mean(word, lookup.all_heads()) or "`help` lists the statements")
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
    for number, line in enumerate(split_lines(text), start=1):
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
