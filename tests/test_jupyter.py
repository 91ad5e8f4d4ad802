"""The %%nn magic runs the language in IPython on one session per kernel."""
import pytest

IPython = pytest.importorskip("IPython")


@pytest.fixture
def ipython(monkeypatch):
    from IPython.testing.globalipapp import get_ipython

    import shell.jupyter as jupyter
    monkeypatch.setattr(jupyter, "_session", None)  # a fresh notebook
    shell = get_ipython()
    shell.run_line_magic("load_ext", "shell.jupyter")
    return shell


def test_cells_share_one_session_and_print_plain_text(ipython, capsys):
    ipython.run_cell_magic("nn", "", "data digits\nmodel cnn input=(8,8,1)\n  conv2d 10 kernel=3 padding=same\n"
                                     "  flatten\n  dense 10 activation=softmax\nend\n")
    ipython.run_line_magic("nn", "summary")
    out = capsys.readouterr().out
    assert "(None, 8, 8, 10)" in out and "Total params: 6,510" in out
    assert "\x1b[" not in out


def test_a_mistake_in_a_cell_is_a_positioned_message_not_a_traceback(ipython, capsys):
    from shell.jupyter import NNCellError
    with pytest.raises(NNCellError):    # the cell fails (issue 11: "Run all" stops there)
        ipython.run_cell_magic("nn", "", "data digits\nmodel m input=(8,8,1)\n  dense 10 activation=sofmax\nend\n")
    out = capsys.readouterr()
    text = out.out + out.err
    assert "<cell>:3:" in text and "softmax" in text and "Traceback" not in text
