"""The lexer of the `.nn` language: a line's words and their tokens (kinds below).

`tokenize_line` never raises and its tokens cover the line exactly (for a prompt-toolkit lexer);
`lex_lines` tells statements, layers and block keywords apart by the model blocks of a buffer.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from shell.registry import lookup
from shell.registry.statement_table import BLOCK_KEYWORDS

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


# --------------------------------------------------------------------------------------------------
# Lines
# --------------------------------------------------------------------------------------------------

#: only these end a line (str.splitlines would also split at a form feed, a vertical tab, NEL, U+2028 ...,
#: so a comment holding one would hide a statement)
_LINE_END = re.compile(r"\r\n|\r|\n")
#: characters a line may not hold besides the C0/C1 controls (tab excepted): line and paragraph separators
#: and the bidirectional controls that make a line look different from what runs ("Trojan source")
_FORBIDDEN = set("\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_CONTROL_NAMES = {"\x00": "NUL", "\x0b": "vertical tab", "\x0c": "form feed", "\x1b": "escape",
                  "\x7f": "delete", "\x85": "next line, NEL", "\r": "carriage return", "\n": "line feed"}


def split_lines(text: str) -> list[str]:
    """The lines of a script: only \\n, \\r\\n and \\r end a line; a leading byte order mark is dropped."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = _LINE_END.split(text)
    if lines[-1] == "":                      # a final line end adds no empty line (as splitlines)
        lines.pop()
    return lines


def forbidden_character(line: str) -> tuple[int, str] | None:
    """(index, description) of the first character a line of a script may not hold, or None: control
    characters other than tab, line and paragraph separators, bidirectional controls."""
    for index, char in enumerate(line):
        if char == "\t":
            continue
        if char in _FORBIDDEN or unicodedata.category(char) == "Cc":
            name = _CONTROL_NAMES.get(char) or unicodedata.name(char, "control character").lower()
            return index, f"U+{ord(char):04X} ({name})"
    return None


# --------------------------------------------------------------------------------------------------
# Tokens and words
# --------------------------------------------------------------------------------------------------

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
        if word.lower() in BLOCK_KEYWORDS:
            return BLOCK
        return LAYER if lookup.find_layer(word) else UNKNOWN
    return STATEMENT if lookup.find_statement(word) else UNKNOWN


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
                stmt = lookup.find_statement(head_word)
                if stmt is not None and stmt.subcommands and not any(t.kind == SUBCOMMAND for t in refined):
                    if stmt.find_subcommand(tok.text):
                        tok = Token(SUBCOMMAND, tok.text, tok.start, tok.end)
            elif tok.kind not in (SPACE, COMMENT):
                head_seen = True
            refined.append(tok)
        if head_word is not None:
            if not in_block and lookup.find_statement(head_word) and lookup.find_statement(head_word).opens_block:
                in_block = True
            elif in_block and head_word in BLOCK_KEYWORDS:
                in_block = False
        result.append(refined)
    return result
