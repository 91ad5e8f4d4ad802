"""The `.nn` language: text in, parsed lines out; nothing here runs a statement or evaluates anything.

    lexer               tokens of a line (for the highlighter too) and the words of a line
    values              one option value: its grammar (tuples, lists, logspace/linspace) and its kinds
    parser              lines and scripts into Node and ModelBlock; GRAMMAR, what `help language` prints
    completion_context  what is being typed at the cursor (for the completer)
"""
