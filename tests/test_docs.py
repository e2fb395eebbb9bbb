"""The documentation's examples run, and its links lead somewhere.

* Every ```python block of README.md, CHANGELOG.md and docs/*.md runs: a file's
  blocks in order, in one namespace, in an empty temporary directory (so files
  the examples write land there).  A block made of ``>>>`` lines is a doctest:
  its printed output must match.  Code that cannot run here belongs in a
  ```bash or ```text block, or in examples/ (run by test_examples.py).
* The ``>>>`` examples in the docstrings of the installed package's modules run
  as doctests, one test per module.  The modules are imported by name (the
  installed ``fastprob``, not the source tree by path as ``--doctest-modules``
  would), so ``fastprob.kernels`` resolves as it does for users.
* Every relative link in those Markdown files points to an existing file, and
  to an existing heading where it names one (``page.md#heading``).
"""
import doctest
import importlib
import importlib.util
import os
import pathlib
import pkgutil
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
              + ([ROOT / "CHANGELOG.md"] if (ROOT / "CHANGELOG.md").exists() else []))
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

# ```python at the start of a line, up to the next ``` line.
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.S | re.M)
# [text](target) and [text]: target; images too.
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|^\s*\[[^\]]+\]:\s*(\S+)", re.M)

# Modules needing an optional dependency that may be missing; their doctests
# are skipped when it is.
OPTIONAL = {"matplotlib", "dask", "distributed", "pandas"}


def python_blocks(path):
    """(line number, code) of each ```python block of ``path``."""
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 2, m.group(2))
            for m in FENCE.finditer(text) if m.group(1).strip().lower() in ("python", "py", "python3")]


def doc_id(path):
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", [p for p in DOCS if python_blocks(p)], ids=doc_id)
def test_markdown_examples_run(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"docs:{doc_id(path)}"}
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for line, code in python_blocks(path):
        where = f"{doc_id(path)}, block at line {line}"
        if code.lstrip().startswith(">>>"):
            test = parser.get_doctest(code, namespace, where, str(path), line - 1)
            out = []
            result = runner.run(test, out=out.append, clear_globs=False)
            assert not result.failed, f"{where}:\n" + "".join(out)
        else:
            try:
                exec(compile(code, where, "exec"), namespace)
            except Exception as exc:  # noqa: BLE001 -- report which block failed, with its text
                raise AssertionError(f"{where} raised {type(exc).__name__}: {exc}\n\n{code}") from exc


def package_modules():
    """Names of the installed package's modules (fastprob, its subpackages, fastprob.kernels)."""
    names, todo = set(), ["fastprob", "fastprob.kernels"]
    while todo:
        package = todo.pop()
        if package in names:
            continue
        names.add(package)
        # Each package's own folder (fastprob.kernels lives apart from fastprob/ in a checkout).
        folder = os.path.dirname(importlib.util.find_spec(package).origin)
        for info in pkgutil.iter_modules([folder]):
            name = f"{package}.{info.name}"
            if info.ispkg:
                todo.append(name)
            elif info.name != "__main__":  # importing it runs the command line
                names.add(name)
    return sorted(names)


def has_examples(name):
    origin = importlib.util.find_spec(name).origin
    return origin.endswith(".py") and ">>>" in pathlib.Path(origin).read_text(encoding="utf-8")


MODULES = [name for name in package_modules() if has_examples(name)]


def test_docstring_examples_are_found():
    # Guards the walk above: if it found nothing, the test below would pass vacuously.
    assert {"fastprob.activations", "fastprob.gaussian", "fastprob.information"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        if exc.name and exc.name.split(".")[0] in OPTIONAL:
            pytest.skip(f"{name} needs {exc.name}")
        raise
    # The finder keeps the objects defined in the module (not those it imports).
    tests = [t for t in doctest.DocTestFinder().find(module, name) if t.examples]
    assert tests, f"{name} has '>>>' in its source but no docstring example was found"
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    out = []
    for test in sorted(tests, key=lambda t: t.lineno or 0):
        runner.run(test, out=out.append)
    result = runner.summarize(verbose=False)
    assert not result.failed, "".join(out)


def relative_links(path):
    text = FENCE.sub("", path.read_text(encoding="utf-8"))  # links inside code blocks are code
    text = re.sub(r"`[^`\n]*`", "", text)
    for m in LINK.finditer(text):
        target = m.group(1) or m.group(2)
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):
            continue  # a URL or mailto:
        yield target


def anchors(path):
    """The fragment ids of a Markdown file's headings, made as GitHub makes them."""
    seen, ids = {}, set()
    for m in re.finditer(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", FENCE.sub("", path.read_text(encoding="utf-8")), re.M):
        slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        ids.add(slug if n == 0 else f"{slug}-{n}")
    return ids


@pytest.mark.parametrize("path", DOCS, ids=doc_id)
def test_relative_links_point_to_files(path):
    missing = []
    for target in relative_links(path):
        file, _, fragment = target.partition("#")
        dest = (path.parent / file) if file else path
        if not dest.exists():
            missing.append(target)
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            missing.append(target)
    assert not missing, f"{doc_id(path)} links to missing files or headings: {missing}"
