"""The nnlab shell and the `.nn` language.

    shell.registry     statements, layers, options and value sets (one source for parser, help, completion)
    shell.language     tokenizer, value parsing, line and script parser (only NNError escapes)
    shell.interpreter  Session: data, models, backend, seed; execute_source / feed_line / validate_text
    shell.state        Data and ModelEntry (what a session holds)
    shell.statements   one handler per statement, in modules by concern (data, models, training, ...)
    shell.output       Rich console wrapper (plain text when not a terminal)
    shell.errors       NNError: file:line:col, the line, a caret and a hint
    shell.repl         the interactive prompt (prompt-toolkit); completion and highlight serve it
    shell.__main__     the `nnlab` command

Importing `shell` is cheap: submodules load when used.
"""
from shell.errors import NNError

__all__ = ["NNError"]
