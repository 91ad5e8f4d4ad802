"""Compile CUDA C for the CPU: the kernel source, cuda_emu.h and the runtime, into a cached shared library.

The source is written to ``<cache>/<hash>.cu`` and compiled by g++ into ``<hash>.so`` (``<hash>-checked.so``
for a checked build) together with the runtime (scheduler.cpp, memory.cpp, compiled once per set of
flags) and, per kernel, two exported C functions: one that launches it and one that returns its
parameter types. The hash covers the runtime's sources, the kernel source, the kernel names, the
compiler and the flags, so a changed kernel is rebuilt and an unchanged one loads in a millisecond.

A checked build adds ``-fsanitize=thread``: g++ then calls a hook before every load and store, and
memory.cpp defines those hooks to check the access (the ThreadSanitizer library is not linked: the
objects are compiled with the flag and linked without it). ``-g1`` keeps line tables, so that a failed
check can name the line of the access (DWARF 4: binutils' addr2line misreads DWARF 5's file table).

The cache holds code that nnlab loads into the Python process, so its folder must belong to the user
and be writable by nobody else (else: EmuError, naming the folder and the fix).
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
HEADER = HERE / "cuda_emu.h"
RUNTIME = (HERE / "scheduler.cpp", HERE / "memory.cpp")
SOURCES = (HEADER, HERE / "runtime.h", *RUNTIME)
FLAGS = ("-std=c++20", "-fPIC", "-fvisibility=hidden", "-w")
CHECKED_FLAGS = ("-DCUDA_EMU_CHECKS", "-fsanitize=thread")

_SHARED = re.compile(r"__shared__\s+([\w:<>, ]+?)\s+(\w+)\s*((?:\[[^\]\n]+\])*)\s*;")
_DYNAMIC_SHARED = re.compile(r"extern\s+__shared__\s+([\w:<>, ]+?)\s+(\w+)\s*\[\s*\]\s*;")


#: callables told about every g++ build of a kernel file: listener(True) before it starts, listener(False)
#: after it ends (engine.tools.compile_notice says so in the shell); a library found in the cache tells nobody
BUILD_LISTENERS: list = []


class EmuError(RuntimeError):
    """A kernel could not be built or launched, or misused barriers, shuffles, memory or arguments."""


def compiler() -> str:
    return os.environ.get("CXX", "g++")


def cache_dir() -> Path:
    """$NNLAB_CACHE/cuda_emu (default ~/.cache/nnlab/cuda_emu), created private to the user.

    Refuses a folder that belongs to someone else or that others may write, and a cache root that others
    may write without the sticky bit (they could swap the folder): nnlab loads code from it.
    """
    env = os.environ.get("NNLAB_CACHE")
    root = Path(env) if env else Path.home() / ".cache" / "nnlab"
    folder = root / "cuda_emu"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        root_mode, info = root.stat().st_mode, folder.stat()
    except OSError as exc:
        raise EmuError(f"cannot create the cuda-emu cache folder {folder} ({exc.strerror}); set NNLAB_CACHE "
                       "to a folder you can write") from None
    fix = f"set NNLAB_CACHE to a folder only you can write (e.g. {Path.home() / '.cache' / 'nnlab'})"
    if info.st_uid != os.getuid():
        raise EmuError(f"the cuda-emu cache folder {folder} belongs to another user (uid {info.st_uid}); nnlab "
                       f"loads compiled code from it, so it must be yours: remove it, or {fix}")
    if info.st_mode & 0o022:
        raise EmuError(f"the cuda-emu cache folder {folder} can be written by other users (mode "
                       f"{stat.filemode(info.st_mode)}), so anyone could plant code that nnlab would load: "
                       f"run `chmod go-w {folder}`, or {fix}")
    if root_mode & 0o022 and not root_mode & stat.S_ISVTX:
        raise EmuError(f"the cache root {root} can be written by other users (mode {stat.filemode(root_mode)}, "
                       f"no sticky bit), so anyone could replace {folder.name}/ with code nnlab would load: "
                       f"run `chmod go-w {root}`, or {fix}")
    return folder


def emulator_source(code: str) -> str:
    """`code` with each `__shared__ T name[...];` turned into a static array that registers itself with the
    runtime (which poisons it before every block), and each `extern __shared__ T name[];` into a pointer to
    the launch's dynamic shared memory; see cuda_emu.h. Line numbers do not change."""
    code = _DYNAMIC_SHARED.sub(r'\1* const \2 = emu::dynamic_shared<\1>("\2");', code)
    code = _SHARED.sub(r"static \1 \2\3; EMU_SHARED(\2);", code)
    for number, line in enumerate(code.splitlines(), 1):
        if "__shared__" in line.split("//")[0]:
            raise EmuError(f"line {number}: the emulator understands `__shared__ T name[...];` inside a function "
                           f"(one array per declaration) and `extern __shared__ T name[];`, not: {line.strip()}")
    return code


def build(code: str, names: list[str], options=(), debug: bool = False, checked: bool = False) -> Path:
    """Compile `code` with launch thunks for `names` into a cached shared library; return its path."""
    code = emulator_source(code)
    flags = (*FLAGS, *(("-O0", "-g") if debug else ("-O2",)))
    thunks = "".join(
        f'extern "C" __attribute__((visibility("default"))) int cudaemu_launch_{i}'
        f"(emu::LaunchConfig* cfg, void** args) {{ return emu::launch({name}, cfg, args); }}\n"
        f'extern "C" __attribute__((visibility("default"))) const char* cudaemu_signature_{i}()'
        f" {{ return emu::signature({name}); }}\n" for i, name in enumerate(names))
    lines = ("-g1", "-gdwarf-4") if checked and not debug else ()
    module_flags = (*flags, *(CHECKED_FLAGS if checked else ()), *lines, *options)
    folder = cache_dir()
    key = _key(code, thunks, *module_flags)
    library = folder / (f"{key}-checked.so" if checked else f"{key}.so")
    if library.exists():
        return library
    for listener in BUILD_LISTENERS:
        listener(True)
    try:
        source, main, obj = (folder / f"{key}{suffix}" for suffix in (".cu", ".cpp", "-checked.o" if checked else ".o"))
        _write_atomically(source, code)
        _write_atomically(main, f'#include "cuda_emu.h"\n#include "{source}"\n{thunks}')
        _compile([*module_flags, "-c", "-x", "c++", str(main)], obj, f"could not compile the kernels (source {source})")
        _compile([*flags, "-shared", str(obj), *map(str, _runtime(folder, flags)), "-ldl", "-Wl,-z,defs"], library,
                 "could not link the kernels")
        obj.unlink()
    finally:
        for listener in BUILD_LISTENERS:
            listener(False)
    return library


def _runtime(folder: Path, flags) -> list[Path]:
    """The objects of scheduler.cpp and memory.cpp, compiled once per set of flags (never checked themselves)."""
    objects = []
    for source in RUNTIME:
        obj = folder / f"{source.stem}-{_key(*flags)}.o"
        if not obj.exists():
            _compile([*flags, "-c", "-x", "c++", str(source)], obj, f"could not compile the emulator's {source.name}")
        objects.append(obj)
    return objects


def _key(*parts) -> str:
    """Cache key: a hash of the parts, the emulator's own sources and the compiler."""
    own = [path.read_text() for path in SOURCES]
    return hashlib.sha256("\0".join([*own, compiler(), *parts]).encode()).hexdigest()[:24]


def _compile(arguments, output: Path, failure: str):
    """Run the compiler into a temporary file, then move it to `output` (safe with parallel builds)."""
    with tempfile.NamedTemporaryFile(dir=output.parent, suffix=output.suffix, delete=False) as tmp:
        pass
    result = subprocess.run([compiler(), *arguments, "-I", str(HERE), "-o", tmp.name], capture_output=True, text=True)
    if result.returncode != 0:
        Path(tmp.name).unlink(missing_ok=True)             # the compiler may have removed it
        raise EmuError(f"{compiler()} {failure}:\n{result.stderr[:6000]}")
    os.replace(tmp.name, output)


def _write_atomically(path: Path, text: str):
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as tmp:
        tmp.write(text)
    os.replace(tmp.name, path)


def source_line(library: Path, offset: int) -> str:
    """'conv.cu:93 (in multiply_tiles, inlined into conv2d_forward<float>)' for a code offset in `library`,
    from its line tables (addr2line from binutils); '' when that cannot be found out."""
    try:
        result = subprocess.run(["addr2line", "-e", str(library), "-f", "-i", "-C", hex(offset - 1)],
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    lines = result.stdout.split("\n")
    frames = [(function, Path(place.split(" ")[0]).name) for function, place in zip(lines[::2], lines[1::2])
              if ":" in place and not place.startswith("??")]
    frames = [(function, place) for function, place in frames if not place.startswith(HEADER.name)]
    if not frames:
        return ""
    function, place = frames[0]
    callers = "".join(f", inlined into {f} at {p}" for f, p in frames[1:])
    return f"{place} (in {function}{callers})"
