"""The statement handlers, by concern: one function `st_NAME(session, node)` for each statement of the
registry (`shell.registry.statement_table.STATEMENTS`). The session finds a statement's handler by its name, so the
registry stays the only list of statements; a statement with forms (`data digits`, `plot history`, ...)
finds the form's function the same way (`data_digits`, `plot_history`, ...).

    data         data FORM, window
    models       model (the line), use, compile, summary, undo (outside a block)
    blocks       model ... end blocks: building, blocks at the prompt, the prompt's shape check
    training     train, evaluate, predict; Ctrl-C while training
    experiments  extrapolate, grid
    gan          gan train
    plotting     plot FORM
    demo         demo FORM
    files        save, load, run, set, quit
    info         help, layers, backend
    inspecting   compare (a layer on several backends), kernel (an op's kernel source), gradcheck
    looking      graph (the recorded autodiff graph), profile (time per op in one step)
    common       engine errors as NNErrors, file options, label text
"""
from __future__ import annotations

from shell.statements import data, demo, experiments, files, gan, info, inspecting, looking, models, plotting,\
    training

MODULES = (data, models, training, experiments, gan, plotting, demo, files, info, inspecting, looking)


def handler(name: str):
    """The function that runs statement `name` (a registry name)."""
    for module in MODULES:
        function = getattr(module, "st_" + name, None)
        if function is not None:
            return function
    raise LookupError(f"no handler for the statement '{name}'")


def handler_names() -> list[str]:
    """Every statement that has a handler (the tests check these against the registry)."""
    return [name[3:] for module in MODULES for name in vars(module) if name.startswith("st_")]
