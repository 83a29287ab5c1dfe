"""The packages stay layered: every import, function-local ones too, points down.

    knowledge  <-  chat  <-  evals  <-  builder  <-  app.py (the CLI and the app), bench/

knowledge imports nothing of ours; chat reads knowledge; evals runs chat; builder trains and
evaluates with all three; the top loads assistant.yaml and calls them. Nothing imports app.py or
bench/, and no package imports another's `_` modules: what one package offers the others is in
its `__init__`.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {"knowledge": 0, "chat": 1, "evals": 2, "builder": 3, "app": 4, "bench": 5}
NEVER_IMPORTED = ("app", "bench")


def imports(tree: ast.AST, package: str) -> list[tuple[int, str, list[str]]]:
    """(line, dotted module, names taken from it) for every import in the tree, at any depth;
    relative imports are resolved within PACKAGE."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            out.append((node.lineno, module, [alias.name for alias in node.names]))
    return sorted(out)


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def violations(root: Path) -> list[str]:
    """Every import in ROOT's packages, app.py and bench/ that breaks the layering."""
    found = []
    files = [p for name in LAYERS for p in ([root / f"{name}.py"] if (root / f"{name}.py").is_file() else sorted((root / name).rglob("*.py")))]
    for path in files:
        owner = path.relative_to(root).parts[0].removesuffix(".py")
        for line, module, names in imports(ast.parse(path.read_text(encoding="utf-8")), owner):
            target, *rest = module.split(".")
            if target not in LAYERS or target == owner:
                continue
            where = f"{path.relative_to(root)}:{line} imports {module}"
            if target in NEVER_IMPORTED:
                found.append(f"{where}: nothing imports {target}")
            elif LAYERS[target] > LAYERS[owner]:
                found.append(f"{where}: {owner} sits below {target}")
            elif any(map(_private, rest)) or (not rest and any(map(_private, names))):
                found.append(f"{where}: a private module or name of {target}; export it from {target}/__init__.py")
    return found


def test_every_import_points_down_and_through_the_front_door():
    assert violations(ROOT) == []


def test_the_check_sees_a_wrong_import_anywhere(tmp_path):
    for name in ("knowledge", "chat", "evals", "builder"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("")
    (tmp_path / "knowledge" / "x.py").write_text("def f():\n    from chat import Assistant\n")  # function-local, upward
    (tmp_path / "evals" / "y.py").write_text("import builder.config\n")  # evals does not read assistant.yaml
    (tmp_path / "builder" / "z.py").write_text("from chat._citations import claims\nfrom evals import _runner\nfrom . import _ok\n")
    (tmp_path / "chat" / "w.py").write_text("import app\n")
    (tmp_path / "app.py").write_text("from builder import build\nfrom knowledge.files import write_json\n")  # both fine
    found = violations(tmp_path)
    assert [f.split(" imports")[0] for f in found] == ["knowledge/x.py:2", "chat/w.py:1", "evals/y.py:1", "builder/z.py:1", "builder/z.py:2"]
    assert "knowledge sits below chat" in found[0] and "nothing imports app" in found[1] and "evals sits below builder" in found[2]
    assert "export it from chat/__init__.py" in found[3] and "export it from evals/__init__.py" in found[4]
