"""The one registry of the `.nn` language: statements, layers, their options and the value sets.

The parser (`shell.language`), the interpreter, `help`, `layers` and the prompt's highlighter,
completer and validator all read this package; nothing is listed twice.

    specs            Option, Command and LayerSpec (the machinery), the option kinds and value checks
    value_sets       the words a choice-like option accepts (engine-defined sets are read from the engine)
    layer_table      LAYERS: every layer a `model` block accepts, with its options
    statement_table  STATEMENTS (with DATA_FORMS and PLOT_FORMS) and BLOCK_KEYWORDS
    lookup           what a completer, the parser and `help` ask: find_statement, find_layer, find_option, ...
"""
