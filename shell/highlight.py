"""Syntax highlighting of `.nn` lines at the prompt (a prompt-toolkit Lexer over `language.lex_lines`).

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

from shell import language, registry

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
})

_KIND_STYLE = {
    language.STATEMENT: "class:nn.statement",
    language.LAYER: "class:nn.layer",
    language.BLOCK: "class:nn.block",
    language.SUBCOMMAND: "class:nn.subcommand",
    language.UNKNOWN: "class:nn.error",
    language.HEAD: "class:nn.error",
    language.KEY: "class:nn.key",
    language.EQUALS: "class:nn.equals",
    language.NUMBER: "class:nn.number",
    language.WORD: "class:nn.word",
    language.STRING: "class:nn.string",
    language.PUNCT: "class:nn.punct",
    language.COMMENT: "class:nn.comment",
    language.ERROR: "class:nn.error",
    language.SPACE: "",
}

# A line that opens a block, used to lex a buffer typed inside an open `model ... end` block.
_BLOCK_OPENER = "model _"


def block_states(lines: list[str], in_block: bool) -> list[bool]:
    """For each line: whether it is read inside a model block (given the state before the first line)."""
    states = []
    for text in lines:
        states.append(in_block)
        head = next((t.text.lower() for t in language.tokenize_line(text) if t.kind == language.HEAD), None)
        if head is None:
            continue
        if not in_block:
            spec = registry.find_statement(head)
            if spec is not None and spec.opens_block:
                in_block = True
        elif head in registry.BLOCK_KEYWORDS:
            in_block = False
    return states


def _form_of(tokens: list[language.Token], in_block: bool):
    """The statement form or layer spec whose options apply to a lexed line (None when unknown)."""
    words = [t for t in tokens if t.kind in (language.STATEMENT, language.LAYER, language.SUBCOMMAND)]
    if not words:
        return None
    head = words[0]
    if head.kind == language.LAYER:
        return registry.find_layer(head.text)
    if head.kind != language.STATEMENT or in_block:
        return None
    spec = registry.find_statement(head.text)
    if spec is not None and spec.subcommands:
        sub = next((t for t in words[1:] if t.kind == language.SUBCOMMAND), None)
        return spec.find_subcommand(sub.text) if sub is not None else None
    return spec


def style_line(tokens: list[language.Token], in_block: bool = False) -> list[tuple[str, str]]:
    """(style, text) fragments for one lexed line; value words after `key=` are checked against the
    option's words (an unknown activation is shown as an error while typing)."""
    form = _form_of(tokens, in_block)
    fragments: list[tuple[str, str]] = []
    option = None          # the option whose value is being read (until the next word)
    depth = 0              # bracket depth: spaces inside brackets belong to the value
    for tok in tokens:
        style = _KIND_STYLE.get(tok.kind, "")
        if tok.kind == language.KEY:
            option = registry.find_option(form, tok.text) if form is not None else None
        elif tok.kind == language.PUNCT:
            depth += 1 if tok.text in "([" else -1 if tok.text in ")]" else 0
            depth = max(depth, 0)
        elif tok.kind == language.SPACE and depth == 0:
            option = None
        elif tok.kind == language.WORD and option is not None and option.refers is None \
                and option.kind in ("choice", "names", "padding"):
            choices = {c.lower() for c in registry.values_for(option)}
            if choices:
                style = "class:nn.value" if tok.text.lower() in choices else "class:nn.error"
        fragments.append((style, tok.text))
    return fragments


def lex_buffer(lines: list[str], in_block: bool = False) -> list[list[tuple[str, str]]]:
    """Styled fragments for every line of a buffer. Never raises: on any surprise a line is unstyled."""
    try:
        prefix = [_BLOCK_OPENER] if in_block else []
        lexed = language.lex_lines(prefix + list(lines))[len(prefix):]
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
