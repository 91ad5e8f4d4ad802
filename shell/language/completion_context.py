"""What a completer should offer at the cursor: the kind of word being typed and its option."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shell.language.lexer import _KEY_RE, _WHITESPACE, KEY, _words
from shell.registry import lookup
from shell.registry.specs import Command, Option


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
    option: Option | None = None
    positional: Option | None = None   # the next positional option, if any
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
    spec = lookup.find_layer(head) if in_block else lookup.find_statement(head)
    if spec is None:
        return CompletionContext("none", prefix, start)
    form = spec
    args = done[1:]
    if isinstance(spec, Command) and spec.subcommands:
        if not args:
            return CompletionContext("subcommand", prefix, start, spec=spec)
        form = spec.find_subcommand(args[0].text)
        if form is None:
            return CompletionContext("none", prefix, start, spec=spec)
        args = args[1:]
    used, positional_used = [], 0
    for word in args:
        if word.tokens and word.tokens[0].kind == KEY:
            opt = lookup.find_option(form, word.tokens[0].text)
            if opt is not None:
                used.append(opt.name)
        else:
            positional_used += 1
    free_positional = [o for o in form.options if o.positional and o.name not in used]
    positional = free_positional[positional_used] if positional_used < len(free_positional) else None
    if current is not None and "=" in current.text and _KEY_RE.match(current.text):
        key = current.text.split("=", 1)[0]
        opt = lookup.find_option(form, key)
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
