"""The architecture's rules, checked on the source tree (docs/ARCHITECTURE.md explains them).

- Every backend package has one module per family of the contract, and CUDA one kernels/<family>.cu.
- Backends import only the registry, the contract, the shared helpers and their own package, never another
  backend; the core (autodiff, ops, layers, models, training, ...) never imports the instruments (engine.tools),
  presentation (engine.viz), the lecture material (engine.lecture) or the shell; the engine never imports the shell.
- No source file of engine/ or shell/ is over 600 lines.
- The activation codes compiled into the CUDA kernels are the contract's.
"""
import ast
import re
from pathlib import Path

import pytest

from engine.backends.contract import ACTIVATION_CODES, FAMILIES

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "engine"
BACKEND_PACKAGES = {"numpy_ref": "engine.backends.numpy_ref", "numba_cpu": "engine.backends.numba_cpu",
                    "cuda": "engine.backends.cuda"}
SHARED_BY_BACKENDS = {"engine.backends", "engine.backends.contract", "engine.backends.recurrent_gemm", "engine.shapes"}
CORE = ["autograd.py", "functional.py", "layers.py", "models.py", "training.py", "losses.py", "optimizers.py",
        "initializers.py", "regularizers.py", "metrics.py", "summary.py", "shapes.py", "random.py", "config.py",
        "datasets.py", "ops"]
NOT_FOR_THE_CORE = ("engine.tools", "engine.viz", "engine.lecture", "shell")


def python_files(*paths):
    for path in paths:
        yield from ([path] if path.suffix == ".py" else sorted(path.rglob("*.py")))


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside functions (`from a import b` is a.b when b is a module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if is_module(submodule) else node.module)
    return found


def engine_modules(path: Path) -> set[str]:
    return {m for m in imported_modules(path) if m == "engine" or m.startswith(("engine.", "shell"))}


@pytest.mark.parametrize("package", sorted(BACKEND_PACKAGES))
def test_every_backend_has_a_module_per_family(package):
    folder = ENGINE / "backends" / package
    missing = [family for family in FAMILIES if not (folder / f"{family}.py").is_file()]
    assert not missing, f"{folder} lacks family modules {missing}"


def test_cuda_has_a_kernel_file_per_family():
    kernel_files = {p.stem for p in (ENGINE / "backends" / "cuda" / "kernels").glob("*.cu")}
    assert kernel_files == set(FAMILIES)


@pytest.mark.parametrize("package", sorted(BACKEND_PACKAGES))
def test_backends_import_only_the_contract_shared_helpers_and_themselves(package):
    own = BACKEND_PACKAGES[package]
    for path in python_files(ENGINE / "backends" / package):
        for module in engine_modules(path):
            allowed = module in SHARED_BY_BACKENDS or module == own or module.startswith(own + ".")
            assert allowed, f"{path.relative_to(ROOT)} imports {module}"


@pytest.mark.parametrize("name", CORE)
def test_the_core_never_imports_tools_presentation_lecture_or_shell(name):
    for path in python_files(ENGINE / name):
        bad = [m for m in engine_modules(path) if m.startswith(NOT_FOR_THE_CORE)]
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_the_engine_never_imports_the_shell():
    for path in python_files(ENGINE):
        bad = [m for m in engine_modules(path) if m.startswith("shell")]
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_no_source_file_is_over_600_lines():
    long = {str(p.relative_to(ROOT)): n for p in python_files(ENGINE, ROOT / "shell")
            if (n := len(p.read_text().splitlines())) > 600}
    assert not long, f"split these along their seams: {long}"


def test_the_cuda_activation_enum_is_the_contracts():
    header = (ENGINE / "backends" / "cuda" / "kernels" / "common.h").read_text()
    enum = re.search(r"enum Activation \{([^}]*)\}", header).group(1)
    codes = {name.strip().lower(): int(value) for name, value in re.findall(r"(\w+)\s*=\s*(\d+)", enum)}
    assert codes == ACTIVATION_CODES
