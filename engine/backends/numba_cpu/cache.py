"""Where Numba keeps the compiled kernels, and what happens when it cannot write there.

Numba stores each ``cache=True`` kernel in NUMBA_CACHE_DIR when that is set, else next to its source (the
package's ``__pycache__``), else in the user's cache folder (``~/.cache/numba``). Where none of these can be
written (a read-only install and home, a NUMBA_CACHE_DIR that is a file or on a read-only disk), Numba
either refuses to define the kernels at all ("no locator available") or, when the chosen NUMBA_CACHE_DIR
is the one that fails, quietly caches somewhere else. nnlab then uses a private folder in the temporary
directory instead (``nnlab-numba-<uid>``, mode 0700, refused if another user owns it or may write to it)
and says so in one line: the kernels compile once per boot instead of failing or compiling every run.

Stale kernels. Numba keys a cached kernel to its own source file only, but a kernel's machine code also
holds the helpers it inlines (vectormath.py's exp and sigmoid in recurrent.py's cells, for instance): after
an edit to vectormath.py, Numba would go on loading the old cells. The locators below key this package's
kernels to a hash of every source file of the package as well, so any edit here recompiles them.

:func:`settle_cache_dir` runs once, from common.py, before any kernel module defines a kernel.
"""
from __future__ import annotations

import hashlib
import os
import stat
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

from numba.core.caching import CacheImpl, InTreeCacheLocator, UserProvidedCacheLocator, UserWideCacheLocator

PACKAGE_DIR = Path(__file__).resolve().parent
_settled: list[Path | None] = []


@lru_cache(maxsize=1)
def package_stamp() -> str:
    """A hash of the name and content of every source file of this package."""
    digest = hashlib.sha256()
    for source in sorted(PACKAGE_DIR.glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()


def _for_this_package(numba_locator):
    """Numba's `numba_locator`, for this package's kernels only, with package_stamp() in the source stamp."""
    class Locator(numba_locator):
        @classmethod
        def from_function(cls, py_func, py_file):
            if Path(py_file).resolve().parent != PACKAGE_DIR:
                return None                     # another library's kernel: Numba's own locators follow
            return super().from_function(py_func, py_file)

        def get_source_stamp(self):
            return super().get_source_stamp(), package_stamp()

    Locator.__name__ = Locator.__qualname__ = f"Package{numba_locator.__name__}"
    return Locator


# In Numba's order of preference (caching.CacheImpl._locator_classes), then Numba's own for other code.
PackageUserProvidedCacheLocator = _for_this_package(UserProvidedCacheLocator)
PackageInTreeCacheLocator = _for_this_package(InTreeCacheLocator)
PackageUserWideCacheLocator = _for_this_package(UserWideCacheLocator)
LOCATORS = ",".join([f"{__name__}.{cls.__name__}" for cls in (
    PackageUserProvidedCacheLocator, PackageInTreeCacheLocator, PackageUserWideCacheLocator)]
    + [cls.__name__ for cls in CacheImpl._locator_classes])


def writable(folder) -> bool:
    """True if `folder` exists or can be created, and a file can be created in it (Numba's own test)."""
    try:
        os.makedirs(folder, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


def _user_wide_dir() -> Path:
    from numba.misc.appdirs import AppDirs
    return Path(AppDirs(appname="numba", appauthor=False).user_cache_dir)


def needs_fallback(user_dir: str, in_tree: Path, user_wide: Path, can_write=writable) -> str | None:
    """Why Numba cannot cache where it would (a phrase for the notice), or None when it can.

    user_dir: NUMBA_CACHE_DIR ("" when unset); in_tree: the package's __pycache__; user_wide: ~/.cache/numba.
    """
    if user_dir:
        return None if can_write(user_dir) else f"NUMBA_CACHE_DIR ({user_dir}) cannot be written"
    if can_write(in_tree) or can_write(user_wide):
        return None
    return f"neither {in_tree} nor {user_wide} can be written"


def private_cache_dir(root=None) -> Path:
    """``<root>/nnlab-numba-<uid>`` (root: the temporary directory), created with mode 0700. An existing one
    is used only if it is a real folder owned by this user that no one else may write to; otherwise a
    fresh private folder is made (``mkdtemp``, also 0700), which lasts until the temporary files are cleared."""
    root = Path(root or tempfile.gettempdir())
    folder = root / f"nnlab-numba-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError:
        return Path(tempfile.mkdtemp(prefix="nnlab-numba-", dir=root))
    info = os.lstat(folder)
    if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077:
        return folder
    return Path(tempfile.mkdtemp(prefix="nnlab-numba-", dir=root))


def settle_cache_dir(notice=None) -> Path | None:
    """Install the package's locators; point Numba at a private cache folder when it cannot write its own
    (see the module docstring) and print one line about it (`notice`, default: to stderr). Returns that
    folder, or None when none was needed. Runs once per process."""
    if _settled:
        return _settled[0]
    import numba

    if not numba.config.CACHE_LOCATOR_CLASSES:   # (a user's own choice of locators is left alone)
        numba.config.CACHE_LOCATOR_CLASSES = LOCATORS
    why = needs_fallback(numba.config.CACHE_DIR, PACKAGE_DIR / "__pycache__", _user_wide_dir())
    folder = None
    if why is not None:
        folder = private_cache_dir()
        numba.config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"] = str(folder)
        (notice or (lambda line: print(line, file=sys.stderr)))(
            f"nnlab: {why}; compiled numba kernels are cached in {folder} instead")
    _settled.append(folder)
    return folder
