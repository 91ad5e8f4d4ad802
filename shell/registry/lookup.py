"""Lookups in the registry's tables.

Questions a completer can ask (all cheap, no disk, no model evaluation):

    statement_names()                  statements allowed at the start of a line (with aliases: all_heads)
    layer_names()                      layer names allowed inside a `model NAME ... end` block
    block_keywords()                   `end` and `abort` (inside a block)
    find_statement(word) / find_layer(word)      spec or None (case-insensitive, aliases accepted)
    options_for(spec)                  the Option objects of a statement form or a layer
    find_option(spec, key)             Option or None (aliases accepted)
    values_for(option)                 the words a choice-like option accepts ('' when free-form)
    option.takes_path                  whether to complete file names
    spec.subcommands                   the forms of `data`, `plot`, `gan`, `demo`, `save`, `load`, `set`
"""
from __future__ import annotations

from shell.registry.layer_table import LAYERS
from shell.registry.specs import Command, LayerSpec, Option
from shell.registry.statement_table import BLOCK_KEYWORDS, STATEMENTS
from shell.registry.value_sets import _WORD_SETS


def _index(specs):
    table = {}
    for spec in specs:
        for word in (spec.name, *spec.aliases):
            table[word.lower()] = spec
    return table


_STATEMENT_INDEX = _index(STATEMENTS)
_LAYER_INDEX = _index(LAYERS)


def statement_names() -> list[str]:
    """Canonical statement names, in registry order."""
    return [s.name for s in STATEMENTS]


def all_heads() -> list[str]:
    """Every word that may start a line outside a block (names and aliases)."""
    return list(_STATEMENT_INDEX)


def layer_names() -> list[str]:
    return [spec.name for spec in LAYERS]


def layer_heads() -> list[str]:
    """Every word that may start a layer line (names and aliases)."""
    return list(_LAYER_INDEX)


def block_keywords() -> list[str]:
    return list(BLOCK_KEYWORDS)


def find_statement(word: str) -> Command | None:
    return _STATEMENT_INDEX.get(word.lower())


def find_layer(word: str) -> LayerSpec | None:
    return _LAYER_INDEX.get(word.lower())


def options_for(spec) -> tuple[Option, ...]:
    return spec.options


def find_option(spec, key: str) -> Option | None:
    for opt in spec.options:
        if key == opt.name or key in opt.aliases:
            return opt
    lowered = key.lower()
    for opt in spec.options:
        if lowered == opt.name or lowered in opt.aliases:
            return opt
    return None


def option_keys(spec) -> list[str]:
    """Every key (names and aliases) the spec accepts."""
    return [key for opt in spec.options for key in (opt.name, *opt.aliases)]


def values_for(option: Option) -> tuple[str, ...]:
    return option.choices


def help_topics() -> list[str]:
    """Everything `help` knows about."""
    return [*all_heads(), *layer_heads(), *_WORD_SETS, "language", *BLOCK_KEYWORDS]


def iter_forms():
    """Every statement form that has options: (statement, form) pairs, form being the statement itself
    or one of its subcommands."""
    for stmt in STATEMENTS:
        if stmt.subcommands:
            for sub in stmt.subcommands:
                yield stmt, sub
        else:
            yield stmt, stmt
