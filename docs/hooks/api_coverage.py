"""The public API must be documented: a docstring on every public name and on its public methods.

Used twice, from the same list: as a mkdocs hook (``hooks:`` in mkdocs.yml), where each missing
docstring is a warning and so fails ``mkdocs build --strict``, and by ``tests/test_docs.py``, so
that the test command fails on it too.

The public names of a module are its ``__all__``, or without one the names it defines itself
that do not start with ``_``. Their public methods and properties are those their class defines
or inherits from another class of seqattn (the reference shows inherited members too).
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import pkgutil
import re

# The modules the reference documents: each ``::: module`` line of a page of docs/reference/.
REFERENCE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "reference")
PUBLIC = ("seqattn",) + tuple(sorted({m.group(1) for f in sorted(os.listdir(REFERENCE)) if f.endswith(".md")
                                      for m in re.finditer(r"^::: (seqattn[\w.]*)", open(os.path.join(REFERENCE, f), encoding="utf-8").read(), re.M)}))

# Every other module of the package, and why it is not in the reference. A new module must be
# put in one list or the other (tests/test_docs.py).
INTERNAL = {
    "seqattn.__main__": "runs the command",
    "seqattn.cli": "the command; its --help is its documentation",
    "seqattn.runs": "the command's runs, prepared (checks, data, threads, ranks)",
    "seqattn.flags": "how the command spells each option",
    "seqattn.options": "the command's option resolution",
    "seqattn.paths": "the command's input and output path checks, atomic writes and run locks",
    "seqattn.schema": "reading a checkpoint's meta field by field (its CheckpointError is seqattn.errors')",
    "seqattn.memory": "the command's memory check",
    "seqattn.install": "the distribution's name and the packages its extras bring, for error messages",
    "seqattn.packed": "Packed and flat are documented where seqattn.layers exports them",
}


def is_internal(module):
    """True for a module of a public package that the package's ``__all__`` speaks for (its
    public names are documented where the package exports them)."""
    parent = module.rpartition(".")[0]
    return module in INTERNAL or (parent in PUBLIC and parent != "seqattn" and module not in PUBLIC)


def public_names(module):
    """The public names of ``module`` (a module object)."""
    names = getattr(module, "__all__", None)
    if names is not None:
        return list(names)
    return [n for n, obj in vars(module).items()
            if not n.startswith("_") and getattr(obj, "__module__", None) == module.__name__]


def _members(cls):
    """(name, function) of the public methods and properties of ``cls``, its own and those it
    inherits from seqattn's classes (as the reference shows them), each from the class that
    Python would take it from."""
    seen = set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith("seqattn"):
            continue
        for name, attr in vars(klass).items():
            if name.startswith("_") or name in seen:
                continue
            seen.add(name)
            if isinstance(attr, (staticmethod, classmethod)):
                attr = attr.__func__
            elif isinstance(attr, property):
                attr = attr.fget
            if inspect.isfunction(attr):
                yield f"{klass.__module__}.{klass.__qualname__}.{name}", attr


def missing_docstrings(modules=PUBLIC):
    """The dotted paths of the public classes, functions, methods and properties without a
    docstring, in ``modules`` (names)."""
    missing, seen = [], set()
    for module_name in modules:
        module = importlib.import_module(module_name)
        if not inspect.getdoc(module):
            missing.append(module_name)
        for name in public_names(module):
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)) or id(obj) in seen:
                continue
            seen.add(id(obj))
            where = f"{obj.__module__}.{obj.__qualname__}"
            if not (obj.__doc__ or "").strip():
                missing.append(where)
            if inspect.isclass(obj):
                missing += [path for path, f in _members(obj) if not (f.__doc__ or "").strip() and path not in missing]
    return missing


def unlisted_modules():
    """Modules of seqattn that are neither in the reference nor said to be internal."""
    import seqattn

    names = [m.name for m in pkgutil.walk_packages(seqattn.__path__, "seqattn.")]
    return [n for n in names if n not in PUBLIC and not is_internal(n)]


def on_pre_build(config, **kwargs):
    """mkdocs hook: a warning (an error under --strict) for each missing docstring and each
    module the reference does not account for."""
    log = logging.getLogger("mkdocs.hooks.api_coverage")
    for path in missing_docstrings():
        log.warning("no docstring: %s (every public name and method of the reference needs one)", path)
    for name in unlisted_modules():
        log.warning("module %s is neither in the reference nor in INTERNAL of docs/hooks/api_coverage.py", name)
