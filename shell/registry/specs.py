"""The machinery of the registry: Option, Command (a statement or one of its forms) and LayerSpec.

Option kinds (`Option.kind`): int, float, str, bool, choice, path, shape, floats (a list of floats,
also `logspace(a,b,n)` / `linspace(a,b,n)`), size (an int or a pair), names (one or more words from
a value set, comma separated), columns (column names, indices or ranges like 0:64), padding
(valid/same or an int), name (an identifier), range (two numbers, low < high: `(0.5,1)`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from shell.registry.value_sets import value_set

# --------------------------------------------------------------------------------------------------
# Value checks (each returns an error message or None; `describe` is shown in help)
# --------------------------------------------------------------------------------------------------

def _check(describe: str, test: Callable[[Any], bool]):
    def check(value):
        return None if test(value) else f"must be {describe}"
    check.describe = describe
    return check


POSITIVE = _check("a positive integer", lambda v: v >= 1)
NON_NEGATIVE = _check("zero or more", lambda v: v >= 0)
OPEN_FRACTION = _check("between 0 and 1 (exclusive)", lambda v: 0 < v < 1)
FRACTION_OR_ONE = _check("greater than 0 and at most 1", lambda v: 0 < v <= 1)
RATE = _check("at least 0 and below 1", lambda v: 0 <= v < 1)
VALIDATION = _check("at least 0 and below 1", lambda v: 0 <= v < 1)
POSITIVE_FLOAT = _check("greater than 0", lambda v: v > 0)
UNIT_INTERVAL = _check("between 0 and 1", lambda v: 0 <= v <= 1)


class at_most:
    """A positive integer up to the engine's limit `name` in engine.resources (counts that multiply work:
    repeats, plotted images). The limit is read when first used, so the registry loads without the engine."""

    def __init__(self, name: str):
        self.name = name

    @property
    def describe(self) -> str:
        from engine import resources
        return f"between 1 and {getattr(resources, self.name):,}"

    def __call__(self, value):
        from engine import resources
        return None if 1 <= value <= getattr(resources, self.name) else f"must be {self.describe}"


# --------------------------------------------------------------------------------------------------
# Specs
# --------------------------------------------------------------------------------------------------

#: every kind of option value, with the placeholder usage lines show for it
_KIND_PLACEHOLDER = {
    "int": "N", "float": "X", "str": "TEXT", "bool": "true|false", "choice": "NAME", "path": "FILE",
    "shape": "(D,...)", "floats": "LIST", "size": "K|(KH,KW)", "names": "NAME[,NAME]",
    "columns": "COLS", "padding": "valid|same|P", "name": "NAME", "range": "(LO,HI)",
}
KINDS = tuple(_KIND_PLACEHOLDER)


@dataclass(frozen=True)
class Option:
    """One option of a statement or layer.

    positional: may also be written without `key=`, in declaration order (`dense 10` = `dense units=10`).
    values: the name of a value set in VALUE_SETS (for choice/names/padding kinds) or a tuple of words.
    keras: the engine constructor keyword this option sets (layers only); to_engine converts the value.
    """

    name: str
    kind: str
    help: str
    default: Any = None
    values: str | tuple[str, ...] | None = None
    aliases: tuple[str, ...] = ()
    positional: bool = False
    required: bool = False
    check: Callable[[Any], str | None] | None = None
    keras: str | None = None
    to_engine: Callable[[Any], Any] | None = None
    suffixes: tuple[str, ...] = ()      # file suffixes a path option expects (for completion and help)
    writes: str | None = None           # the path names a file nnlab writes, of this engine.files kind
    refers: str | None = None           # "model" or "layer": the value names something the session defined
    allow_negative_one: bool = False    # shape kind: -1 may stand for "the rest" (reshape)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"option {self.name}: unknown kind {self.kind!r}")

    @property
    def takes_path(self) -> bool:
        return self.kind == "path"

    @property
    def choices(self) -> tuple[str, ...]:
        """The words this option accepts ('' tuple when free-form)."""
        if self.values is None:
            return value_set("paddings") if self.kind == "padding" else ()
        return value_set(self.values) if isinstance(self.values, str) else tuple(self.values)

    @property
    def placeholder(self) -> str:
        if self.kind == "choice" and self.values is not None and len(self.choices) <= 4:
            return "|".join(self.choices)
        if self.kind == "path" and self.suffixes:
            return "FILE" + self.suffixes[0]
        return _KIND_PLACEHOLDER[self.kind]

    def describe_default(self) -> str:
        if self.required:
            return "required"
        if self.default is None:
            return "-"
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        if isinstance(self.default, tuple):
            return "(" + ",".join(str(v) for v in self.default) + ")"
        return str(self.default)


@dataclass(frozen=True)
class Command:
    """A statement (or one form of it, e.g. `data digits`, `plot history`)."""

    name: str
    help: str
    options: tuple[Option, ...] = ()
    example: str = ""
    aliases: tuple[str, ...] = ()
    subcommands: tuple["Command", ...] = ()
    opens_block: bool = False
    records: bool = True          # goes into the session transcript (`save session`)
    computes: bool = False        # reports its time
    pages: bool = False           # long output: through the pager at the prompt (never in scripts)
    details: str = ""
    parent: str = ""              # the statement a form belongs to ('' for statements)

    @property
    def full_name(self) -> str:
        return f"{self.parent} {self.name}" if self.parent else self.name

    def usage(self) -> str:
        if self.subcommands:
            forms = "|".join(s.name for s in self.subcommands)
            return f"{self.name} {forms} ..."
        return _usage(self.full_name, self.options)

    def find_subcommand(self, word: str) -> "Command | None":
        word = word.lower()
        for sub in self.subcommands:
            if word == sub.name or word in sub.aliases:
                return sub
        return None


@dataclass(frozen=True)
class LayerSpec:
    """A layer a `model` block accepts: typed name -> engine class, options -> constructor keywords."""

    name: str
    keras: str                    # class name in engine.layers ("InputLayer" for the `input` line)
    help: str
    options: tuple[Option, ...]
    example: str
    example_input: tuple[int, ...]
    aliases: tuple[str, ...] = ()
    shape_rule: str = ""

    def usage(self) -> str:
        return _usage(self.name, self.options)

    def engine_kwargs(self, values: dict[str, Any]) -> dict[str, Any]:
        """Constructor keywords for the options the user gave (the engine fills in Keras's defaults)."""
        kwargs = {}
        for opt in self.options:
            if opt.name in values and opt.keras:
                value = values[opt.name]
                kwargs[opt.keras] = opt.to_engine(value) if opt.to_engine else value
        return kwargs

    def build(self, values: dict[str, Any], name: str | None = None):
        """The engine layer for these option values."""
        from engine import layers
        kwargs = self.engine_kwargs(values)
        if name is not None and "name" not in kwargs:
            kwargs["name"] = name
        return getattr(layers, self.keras)(**kwargs)


def _usage(head: str, options) -> str:
    parts = [head]
    for opt in options:
        if opt.positional:
            token = opt.name.upper()
            parts.append(token if opt.required else f"[{token}]")
    for opt in options:
        if not opt.positional:
            token = f"{opt.name}={opt.placeholder}"
            parts.append(token if opt.required else f"[{token}]")
    return " ".join(parts)
