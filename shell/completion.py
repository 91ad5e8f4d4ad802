"""Tab completion at the prompt, fed only by the registry and `shell.language.completion_context`.

What is offered where (each with one line of meta help):

    line start                    statements (`help` and `quit` too); inside `model ... end`: layers, end, abort
    after data/plot/save/load/set its forms (digits, history, weights, ...)
    after a statement or layer    its options not given yet, as `key=`; the next positional value when
                                  it has a fixed set of words (`backend <Tab>`, `help <Tab>`, `use <Tab>`)
    after key=                    the option's words (activations, optimizers, losses, paddings, backends,
                                  true/false, the session's models and layers)
    file options, run/load/save   file names (the only completion that touches the disk)

Nothing here evaluates a model or a value; the session is asked only for names it already holds.
"""
from __future__ import annotations

import os
from typing import Callable, Iterable

from prompt_toolkit.completion import CompleteEvent, Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

from shell.highlight import block_states
from shell.language.completion_context import completion_context
from shell.registry import lookup
from shell.registry.layer_table import LAYERS
from shell.registry.specs import Option
from shell.registry.statement_table import BLOCK_KEYWORDS, STATEMENTS

_BOOL_WORDS = ("true", "false")


def _first_line(text: str) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def _matches(word: str, prefix: str) -> bool:
    return word.lower().startswith(prefix.lower())


def _filled_positionals(ctx) -> list[str]:
    """Positional options already given without their key (those before the next free one)."""
    free = [opt for opt in lookup.options_for(ctx.form) if opt.positional and opt.name not in ctx.used]
    if ctx.positional is None:
        return [opt.name for opt in free]
    return [opt.name for opt in free[:free.index(ctx.positional)]] if ctx.positional in free else []


class NNCompleter(Completer):
    """Completes `.nn` lines. `session` (optional) supplies the block state and the names of defined models
    and layers; without it the completer works from the registry alone (outside a block)."""

    def __init__(self, session=None, in_block: Callable[[], bool] | None = None):
        self.session = session
        self._in_block = in_block
        self._paths: dict[tuple[str, ...], PathCompleter] = {}

    # --- context ------------------------------------------------------------------------------------
    def in_block(self) -> bool:
        if self._in_block is not None:
            return bool(self._in_block())
        return bool(getattr(self.session, "in_block", False))

    def _line_in_block(self, document: Document) -> bool:
        """Block state of the cursor's line, following `model`/`end` lines typed earlier in the buffer."""
        row = document.cursor_position_row
        lines = document.lines[:row + 1]
        return block_states(lines, self.in_block())[row] if lines else self.in_block()

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        try:
            yield from self._completions(document, complete_event)
        except Exception:  # pragma: no cover - completion must never break typing
            return

    def _completions(self, document: Document, complete_event: CompleteEvent):
        text = document.current_line_before_cursor
        ctx = completion_context(text, self._line_in_block(document))
        if ctx.kind == "statement":
            yield from self._statements(ctx.prefix)
        elif ctx.kind == "layer":
            yield from self._layers(ctx.prefix)
        elif ctx.kind == "subcommand":
            for form in ctx.spec.subcommands:
                if _matches(form.name, ctx.prefix):
                    yield Completion(form.name, -len(ctx.prefix), display_meta=_first_line(form.help))
        elif ctx.kind == "option":
            skip = [*ctx.used, *_filled_positionals(ctx)]
            if ctx.positional is not None:
                yield from self._values(ctx.positional, ctx.prefix, complete_event)
                if ctx.positional.takes_path or self._words_for(ctx.positional)[0]:
                    skip.append(ctx.positional.name)        # its values are offered: no `key=` as well
            if not ctx.prefix or not ctx.prefix[0].isdigit():
                yield from self._options(ctx.form, skip, ctx.prefix)
        elif ctx.kind == "value" and ctx.option is not None:
            yield from self._values(ctx.option, ctx.prefix, complete_event)

    # --- kinds ----------------------------------------------------------------------------------------
    def _statements(self, prefix: str):
        for spec in STATEMENTS:
            if _matches(spec.name, prefix):
                yield Completion(spec.name, -len(prefix), display_meta=_first_line(spec.help))
            elif prefix:
                for alias in spec.aliases:
                    if _matches(alias, prefix):
                        yield Completion(alias, -len(prefix), display_meta=f"= {spec.name}: {_first_line(spec.help)}")

    def _layers(self, prefix: str):
        for spec in LAYERS:
            if _matches(spec.name, prefix):
                yield Completion(spec.name, -len(prefix), display_meta=_first_line(spec.help))
            elif prefix:
                alias = next((a for a in spec.aliases if _matches(a, prefix)), None)
                if alias is not None:
                    yield Completion(alias, -len(prefix), display_meta=f"= {spec.name}: {_first_line(spec.help)}")
        for word in lookup.block_keywords():
            if _matches(word, prefix):
                yield Completion(word, -len(prefix), display_meta=BLOCK_KEYWORDS[word])

    def _options(self, form, used, prefix: str):
        if form is None:
            return
        for opt in lookup.options_for(form):
            if opt.name in used:
                continue
            keys = [opt.name] + ([a for a in opt.aliases if _matches(a, prefix)] if prefix else [])
            key = next((k for k in keys if _matches(k, prefix)), None)
            if key is None:
                continue
            meta = f"{opt.placeholder}  {_first_line(opt.help)}"
            if key != opt.name:
                meta = f"= {opt.name}; {meta}"
            yield Completion(f"{key}=", -len(prefix), display=f"{key}=", display_meta=meta)

    def _values(self, option: Option, prefix: str, complete_event: CompleteEvent):
        if option.takes_path:
            yield from self._path_completions(option, prefix, complete_event)
            return
        words, meta = self._words_for(option)
        for word in words:
            if _matches(word, prefix):
                yield Completion(word, -len(prefix), display_meta=meta)

    def _words_for(self, option: Option) -> tuple[tuple[str, ...], str]:
        if option.refers == "model":
            models = getattr(self.session, "models", None) or {}
            return tuple(models), "a model of this session"
        if option.refers == "layer":
            return self._layer_names(), "a layer of the current model"
        if option.kind == "bool":
            return _BOOL_WORDS, option.name
        words = lookup.values_for(option)
        if option.values == "topics":
            return words, "help topic"
        return words, option.name

    def _layer_names(self) -> tuple[str, ...]:
        session = self.session
        models = getattr(session, "models", None) or {}
        entry = models.get(getattr(session, "current", None))
        if entry is None:
            return ()
        return tuple(getattr(layer, "name", "") for layer in entry.model.layers)

    def _path_completions(self, option: Option, prefix: str, complete_event: CompleteEvent):
        if prefix[:1] in ("'", '"'):
            return
        completer = self._paths.get(option.suffixes)
        if completer is None:
            suffixes = tuple(s.lower() for s in option.suffixes)

            def wanted(path: str) -> bool:
                return not suffixes or os.path.isdir(path) or path.lower().endswith(suffixes)
            completer = PathCompleter(expanduser=True, file_filter=wanted)
            self._paths[option.suffixes] = completer
        inner = Document(prefix, len(prefix))
        meta = f"{option.name}: " + (" or ".join(option.suffixes) + " file" if option.suffixes else "a file")
        hidden_ok = os.path.basename(prefix).startswith(".")
        for completion in completer.get_completions(inner, complete_event):
            if not hidden_ok and completion.display_text.startswith("."):
                continue                               # dot files only when a dot is typed
            yield Completion(completion.text, completion.start_position, display=completion.display,
                             display_meta=meta)
