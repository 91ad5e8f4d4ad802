"""Syntax highlighting of `.nn` lines at the prompt (a prompt-toolkit Lexer over `lexer.lex_lines`).

Every character gets a style class `nn.<kind>` (statement, layer, block, subcommand, key, equals, number,
word, string, punct, comment, space) or `nn.error` (an unknown head word, an unterminated string, a value
that an option with a fixed set of words does not accept). The token kinds and the words come from
`shell.language` and `shell.registry` only; nothing is evaluated and the lexer never raises.
"""
from __future__ import annotations

from typing import Callable

from prompt_toolkit.document import Document
from prompt_toolkit.lexers import Lexer
from prompt_toolkit.styles import Style

from shell.language import lexer
from shell.registry import lookup
from shell.registry.statement_table import BLOCK_KEYWORDS

#: prompt-toolkit styles of the prompt: token classes, the toolbar and the prompt itself.
STYLE = Style.from_dict({
    "nn.statement": "bold ansiblue",
    "nn.layer": "bold ansimagenta",
    "nn.block": "bold ansicyan",
    "nn.subcommand": "ansiblue",
    "nn.key": "ansicyan",
    "nn.equals": "ansibrightblack",
    "nn.number": "ansiyellow",
    "nn.word": "ansigreen",
    "nn.value": "ansigreen",
    "nn.string": "ansigreen",
    "nn.punct": "ansibrightblack",
    "nn.comment": "italic ansibrightblack",
    "nn.error": "ansired underline",
    "prompt": "bold",
    "prompt.block": "bold ansimagenta",
    "continuation": "ansibrightblack",
    "bottom-toolbar": "noreverse bg:#303030 #d0d0d0",
    "bottom-toolbar.key": "bold",
    "bottom-toolbar.block": "bold #ffaf5f",
    "bottom-toolbar.dim": "#8a8a8a",
    "validation-toolbar": "bg:#5f0000 #ffffff",
    # a refused line: the same style as an error printed at the prompt (shell.output.Output.error)
    "refusal.error": "bold ansired",
    "refusal.hint": "ansicyan",
})

_KIND_STYLE = {
    lexer.STATEMENT: "class:nn.statement",
    lexer.LAYER: "class:nn.layer",
    lexer.BLOCK: "class:nn.block",
    lexer.SUBCOMMAND: "class:nn.subcommand",
    lexer.UNKNOWN: "class:nn.error",
    lexer.HEAD: "class:nn.error",
    lexer.KEY: "class:nn.key",
    lexer.EQUALS: "class:nn.equals",
    lexer.NUMBER: "class:nn.number",
    lexer.WORD: "class:nn.word",
    lexer.STRING: "class:nn.string",
    lexer.PUNCT: "class:nn.punct",
    lexer.COMMENT: "class:nn.comment",
    lexer.ERROR: "class:nn.error",
    lexer.SPACE: "",
}

# A line that opens a block, used to lex a buffer typed inside an open `model ... end` block.
_BLOCK_OPENER = "model _"


def block_states(lines: list[str], in_block: bool) -> list[bool]:
    """For each line: whether it is read inside a model block (given the state before the first line)."""
    states = []
    for text in lines:
        states.append(in_block)
        head = next((t.text.lower() for t in lexer.tokenize_line(text) if t.kind == lexer.HEAD), None)
        if head is None:
            continue
        if not in_block:
            spec = lookup.find_statement(head)
            if spec is not None and spec.opens_block:
                in_block = True
        elif head in BLOCK_KEYWORDS:
            in_block = False
    return states


def _form_of(tokens: list[lexer.Token], in_block: bool):
    """The statement form or layer spec whose options apply to a lexed line (None when unknown)."""
    words = [t for t in tokens if t.kind in (lexer.STATEMENT, lexer.LAYER, lexer.SUBCOMMAND)]
    if not words:
        return None
    head = words[0]
    if head.kind == lexer.LAYER:
        return lookup.find_layer(head.text)
    if head.kind != lexer.STATEMENT or in_block:
        return None
    spec = lookup.find_statement(head.text)
    if spec is not None and spec.subcommands:
        sub = next((t for t in words[1:] if t.kind == lexer.SUBCOMMAND), None)
        return spec.find_subcommand(sub.text) if sub is not None else None
    return spec


def style_line(tokens: list[lexer.Token], in_block: bool = False) -> list[tuple[str, str]]:
    """(style, text) fragments for one lexed line; value words after `key=` are checked against the
    option's words (an unknown activation is shown as an error while typing)."""
    form = _form_of(tokens, in_block)
    fragments: list[tuple[str, str]] = []
    option = None          # the option whose value is being read (until the next word)
    depth = 0              # bracket depth: spaces inside brackets belong to the value
    for tok in tokens:
        style = _KIND_STYLE.get(tok.kind, "")
        if tok.kind == lexer.KEY:
            option = lookup.find_option(form, tok.text) if form is not None else None
        elif tok.kind == lexer.PUNCT:
            depth += 1 if tok.text in "([" else -1 if tok.text in ")]" else 0
            depth = max(depth, 0)
        elif tok.kind == lexer.SPACE and depth == 0:
            option = None
        elif tok.kind == lexer.WORD and option is not None and option.refers is None \
                and option.kind in ("choice", "names", "padding"):
            choices = {c.lower() for c in lookup.values_for(option)}
            if choices:
                style = "class:nn.value" if tok.text.lower() in choices else "class:nn.error"
        fragments.append((style, tok.text))
    return fragments


def lex_buffer(lines: list[str], in_block: bool = False) -> list[list[tuple[str, str]]]:
    """Styled fragments for every line of a buffer. Never raises: on any surprise a line is unstyled."""
    try:
        prefix = [_BLOCK_OPENER] if in_block else []
        lexed = lexer.lex_lines(prefix + list(lines))[len(prefix):]
        states = block_states(lines, in_block)
        return [style_line(tokens, state) for tokens, state in zip(lexed, states)]
    except Exception:  # pragma: no cover - a lexer must never break typing
        return [[("", line)] for line in lines]


class NNLexer(Lexer):
    """prompt-toolkit lexer for `.nn`; `in_block()` says whether the prompt is inside a model block."""

    def __init__(self, in_block: Callable[[], bool] | None = None):
        self.in_block = in_block or (lambda: False)

    def lex_document(self, document: Document):
        lines = document.lines
        try:
            block = bool(self.in_block())
        except Exception:  # pragma: no cover
            block = False
        styled = lex_buffer(lines, block)

        def get_line(number: int):
            if 0 <= number < len(styled):
                return styled[number]
            return []
        return get_line
