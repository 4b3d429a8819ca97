"""The ImageFolder index: listed once, reused while the tree is unchanged, listed again when it changed or is bad."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hyperparameter_system.training.folder_index import cache_file, folder_index


def _png(path: Path, value: int) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (4, 4), value).save(path)


def _age(root: Path) -> None:
    """Every folder an hour old, as a dataset is: a folder changed just now is never cached."""
    past = os.stat(root).st_mtime - 3600
    for folder in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        os.utime(folder, (past, past))


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """Two classes, one with a nested folder, and a file ImageFolder ignores."""
    root = tmp_path / "train"
    _png(root / "cat" / "1.png", 10)
    _png(root / "cat" / "more" / "2.png", 20)
    _png(root / "dog" / "1.png", 30)
    (root / "dog" / "notes.txt").write_text("not an image")
    _age(root)
    return root


def _torchvision(root: Path) -> tuple[list[str], list[tuple[str, int]]]:
    from torchvision.datasets import ImageFolder

    reference = ImageFolder(str(root))
    return reference.classes, reference.samples


def test_the_index_is_imagefolders_and_is_reused_while_the_tree_is_unchanged(tree: Path) -> None:
    index = folder_index(tree)
    assert (index.classes, index.samples) == _torchvision(tree)
    cached = json.loads(cache_file(tree.resolve()).read_text())
    cached["samples"].reverse()  # a marker: only a reused index comes back reversed
    cache_file(tree.resolve()).write_text(json.dumps(cached))
    assert folder_index(tree).samples == index.samples[::-1]


def test_a_file_added_in_a_nested_folder_makes_the_cache_stale(tree: Path) -> None:
    folder_index(tree)
    _png(tree / "cat" / "more" / "3.png", 40)
    index = folder_index(tree)
    assert str(tree / "cat" / "more" / "3.png") in [path for path, _ in index.samples]
    assert (index.classes, index.samples) == _torchvision(tree)


def test_a_new_class_makes_the_cache_stale(tree: Path) -> None:
    folder_index(tree)
    _png(tree / "eel" / "1.png", 50)
    assert folder_index(tree).classes == ["cat", "dog", "eel"]


@pytest.mark.parametrize("content", ["{not json", '{"format": 1}', "[]",
                                     "outside"], ids=["corrupt", "partial", "shape", "outside"])
def test_a_bad_cache_is_listed_again_and_replaced(tree: Path, content: str) -> None:
    expected = folder_index(tree)
    if content == "outside":  # whole and fresh, but naming a file outside the tree
        cached = json.loads(cache_file(tree.resolve()).read_text())
        cached["samples"][0][0] = "../../etc/passwd"
        content = json.dumps(cached)
    cache_file(tree.resolve()).write_text(content)
    assert folder_index(tree) == expected
    assert json.loads(cache_file(tree.resolve()).read_text())["samples"][0][0] == "cat/1.png"


def test_a_tree_changed_a_moment_ago_is_not_cached(tmp_path: Path) -> None:
    _png(tmp_path / "train" / "cat" / "1.png", 10)
    assert len(folder_index(tmp_path / "train").samples) == 1
    assert not cache_file((tmp_path / "train").resolve()).exists()


@pytest.mark.parametrize("kind", ["fifo", "dev_zero_link"])
def test_a_cache_that_is_not_a_plain_file_is_never_read(tree: Path, kind: str) -> None:
    """A FIFO in the cache's place would hang every cell; a link to /dev/zero would fill the memory."""
    expected = folder_index(tree)
    cached = cache_file(tree.resolve())
    cached.unlink()
    if kind == "fifo":
        os.mkfifo(cached)
    else:
        cached.symlink_to("/dev/zero")
    import concurrent.futures

    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:  # a read of the FIFO would never return: the answer must come within a deadline
        assert pool.submit(folder_index, tree).result(timeout=60) == expected
    finally:
        pool.shutdown(wait=False)
