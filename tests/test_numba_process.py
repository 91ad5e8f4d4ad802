"""The numba backend's process settings: where its kernels are cached (numba_cpu/cache.py), also when Numba
cannot write its own cache folder, and the malloc policy it sets (numba_cpu/memory.py)."""
import os
import platform
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from engine.backends import unavailable_reason

pytestmark = pytest.mark.skipif(unavailable_reason("numba") is not None, reason="needs numba")

ROOT = Path(__file__).resolve().parents[1]


def test_a_fallback_is_needed_only_when_no_cache_folder_can_be_written():
    from engine.backends.numba_cpu.cache import needs_fallback
    tree, home = Path("/pkg/__pycache__"), Path("/home/u/.cache/numba")
    assert needs_fallback("", tree, home, can_write=lambda f: True) is None
    assert needs_fallback("", tree, home, can_write=lambda f: Path(f) == home) is None   # Numba's own fallback
    why = needs_fallback("", tree, home, can_write=lambda f: False)
    assert str(tree) in why and str(home) in why
    # a NUMBA_CACHE_DIR the user chose but that cannot be written is said, not silently replaced
    assert "NUMBA_CACHE_DIR (/ro)" in needs_fallback("/ro", tree, home, can_write=lambda f: f != "/ro")
    assert needs_fallback("/ok", tree, home, can_write=lambda f: f == "/ok") is None


def test_the_private_folder_is_0700_and_never_one_someone_else_could_have_planted(tmp_path):
    from engine.backends.numba_cpu.cache import private_cache_dir
    folder = private_cache_dir(tmp_path)
    assert folder == tmp_path / f"nnlab-numba-{os.getuid()}"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert private_cache_dir(tmp_path) == folder                       # reused on the next run
    folder.chmod(0o777)                                                # now others could plant kernels in it
    other = private_cache_dir(tmp_path)
    assert other != folder and other.parent == tmp_path and stat.S_IMODE(other.stat().st_mode) == 0o700
    folder.rmdir()
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    folder.symlink_to(tmp_path / "elsewhere")                           # a link at the name is not followed
    assert private_cache_dir(tmp_path) not in (folder, tmp_path / "elsewhere")


def test_an_unwritable_numba_cache_dir_falls_back_with_one_line_and_still_caches(tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(blocked), TMPDIR=str(tmp_path), PYTHONPATH=str(ROOT))
    program = ("import numpy as np\n"
               "from engine.backends.numba_cpu import activations\n"
               "print(activations.softmax_forward(np.zeros((2, 4), np.float32)).sum())\n")
    done = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2.0"
    private = tmp_path / f"nnlab-numba-{os.getuid()}"
    notices = [line for line in done.stderr.splitlines() if line.startswith("nnlab:")]
    assert notices == [f"nnlab: NUMBA_CACHE_DIR ({blocked}) cannot be written; "
                       f"compiled numba kernels are cached in {private} instead"]
    assert any(private.rglob("*.nbi")), "the kernels were not cached in the private folder"


def test_an_edit_to_any_file_of_the_package_invalidates_its_cached_kernels(tmp_path, monkeypatch):
    # Numba keys a cached kernel to its own file; recurrent.py's cells also inline vectormath.py's sigmoid.
    import numba
    from engine.backends.numba_cpu import cache, recurrent
    assert numba.config.CACHE_LOCATOR_CLASSES.startswith(f"{cache.__name__}.PackageUserProvided")
    kernel = recurrent._lstm_steps.py_func
    locator = cache.PackageInTreeCacheLocator.from_function(kernel, recurrent.__file__)
    assert cache.PackageInTreeCacheLocator.from_function(pytest.approx, pytest.__file__) is None  # not ours
    before = locator.get_source_stamp()
    copy = tmp_path / "numba_cpu"
    copy.mkdir()
    for source in cache.PACKAGE_DIR.glob("*.py"):
        (copy / source.name).write_bytes(source.read_bytes())
    monkeypatch.setattr(cache, "PACKAGE_DIR", copy)
    cache.package_stamp.cache_clear()
    try:
        assert locator.get_source_stamp() == before                 # same sources, same stamp
        with open(copy / "vectormath.py", "a") as f:
            f.write("\n# an edit\n")
        cache.package_stamp.cache_clear()
        assert locator.get_source_stamp() != before                 # recurrent.py unchanged, stamp not
    finally:
        cache.package_stamp.cache_clear()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the malloc policy is glibc's mallopt")
def test_the_numba_backend_keeps_freed_memory_for_the_next_step():
    from engine.backends.numba_cpu.memory import keep_freed_memory
    assert keep_freed_memory() is True
