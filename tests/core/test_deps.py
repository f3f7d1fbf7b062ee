"""install/deps.py: the pip command lines it runs (through a fake python that records its argv)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load_deps():
    spec = importlib.util.spec_from_file_location("vggt_install_deps", ROOT / "install" / "deps.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


deps = _load_deps()

FAKE_PYTHON = """#!{python}
import json, os, sys
argv = sys.argv[1:]
constraints = open(argv[argv.index("--constraint") + 1]).read() if "--constraint" in argv else None
with open(os.environ["FAKE_PIP_LOG"], "a") as f:
    f.write(json.dumps({{"argv": argv, "constraints": constraints}}) + "\\n")
print("Collecting", argv[-1])
print("ERROR: No matching distribution found" if os.environ.get("FAKE_PIP_RC", "0") != "0" else "Successfully installed")
sys.exit(int(os.environ.get("FAKE_PIP_RC", "0")))
"""


@pytest.fixture
def fake_python(tmp_path, monkeypatch):
    exe = tmp_path / "fakepython"
    exe.write_text(FAKE_PYTHON.format(python=sys.executable))
    exe.chmod(0o755)
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_PIP_LOG", str(log))

    def calls():
        return [json.loads(line) for line in log.read_text().splitlines()]

    return str(exe), calls


def _pyproject_deps():
    import tomllib

    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["dependencies"]


def test_requirements_come_from_pyproject_without_numpy():
    to_install, constraints = deps.requirements()
    pins = _pyproject_deps()
    assert to_install == [d for d in pins if not d.startswith("numpy")]
    assert constraints == [d for d in pins if d.startswith("numpy")]
    # Blender's own numpy stays: <2 under Python 3.11 (4.2-5.0), 2.x under 3.13 (5.1 on)
    assert any("<2.0" in c and "python_version < '3.12'" in c for c in constraints), constraints
    assert any(">=2.2" in c and "python_version >= '3.12'" in c for c in constraints), constraints


def test_cpu_variant_installs_torch_from_pytorch_index_then_the_rest(fake_python, tmp_path):
    exe, calls = fake_python
    lines = []
    deps.install_dependencies(tmp_path / "deps", variant="cpu", python=exe, progress=lines.append)
    torch_call, rest_call = calls()
    for call in (torch_call, rest_call):
        argv = call["argv"]
        assert argv[:3] == ["-m", "pip", "install"]
        assert argv[argv.index("--target") + 1] == str(tmp_path / "deps")
        assert not any(a.startswith("numpy") for a in argv)
        assert "numpy>=1.26,<2.0" in call["constraints"]
    torch_args = torch_call["argv"]
    assert torch_args[torch_args.index("--index-url") + 1] == "https://download.pytorch.org/whl/cpu"
    assert [a for a in torch_args if a.startswith("torch")] == [d for d in _pyproject_deps() if d.startswith("torch")]
    assert "--index-url" not in rest_call["argv"]
    for name in ("pillow", "safetensors", "huggingface_hub", "av", "tqdm"):
        assert any(a.startswith(name) for a in rest_call["argv"]), name
    assert not any(a.startswith("torch") for a in rest_call["argv"])
    assert "Successfully installed" in lines and any(line.startswith("Collecting") for line in lines)
    assert (tmp_path / "deps").is_dir()


@pytest.mark.parametrize("variant", ["cu121", "cu124", "cu128"])
def test_cuda_variants_use_their_index(fake_python, tmp_path, variant):
    exe, calls = fake_python
    deps.install_dependencies(tmp_path, variant=variant, python=exe)
    torch_args = calls()[0]["argv"]
    assert torch_args[torch_args.index("--index-url") + 1] == f"https://download.pytorch.org/whl/{variant}"


def test_default_variant_is_one_pip_call_on_the_default_index(fake_python, tmp_path):
    exe, calls = fake_python
    deps.install_dependencies(tmp_path, variant="default", python=exe)
    (call,) = calls()
    assert "--index-url" not in call["argv"]
    assert any(a.startswith("torch") for a in call["argv"]) and any(a.startswith("pillow") for a in call["argv"])


def test_pip_failure_raises_one_line_error(fake_python, tmp_path, monkeypatch):
    exe, calls = fake_python
    monkeypatch.setenv("FAKE_PIP_RC", "1")
    with pytest.raises(deps.DependencyInstallError) as err:
        deps.install_dependencies(tmp_path, variant="cpu", python=exe)
    message = str(err.value)
    assert "\n" not in message and "exit 1" in message and "No matching distribution" in message
    assert len(calls()) == 1  # stops at the first failure


def test_unknown_variant_and_missing_python(tmp_path):
    with pytest.raises(ValueError, match="cu999"):
        deps.install_dependencies(tmp_path, variant="cu999")
    with pytest.raises(deps.DependencyInstallError, match="could not start"):
        deps.install_dependencies(tmp_path, variant="default", python=str(tmp_path / "no-python"))


# --- per platform: what "Install Dependencies (CPU)/(GPU)" runs on each artist's machine ---

BLENDER_PYTHONS = {"3.11": "/blender-4.2/python/bin/python3.11", "3.13": "/blender-5.2/python/bin/python3.13"}
PLATFORMS = ("linux", "win32", "darwin")  # sys.platform values


@pytest.mark.parametrize("platform,build,variant", [
    ("linux", "gpu", "default"), ("linux", "cpu", "cpu"),     # PyPI's Linux torch is the CUDA build
    ("win32", "gpu", "cu128"), ("win32", "cpu", "cpu"),       # PyPI has only CPU builds for Windows
    ("darwin", "gpu", "mps"), ("darwin", "cpu", "mps"),       # PyPI's macOS wheel: CPU and MPS in one
])
def test_variant_per_platform(platform, build, variant):
    assert deps.variant_for(build, platform) == variant


def test_variant_rejects_unknown_build_or_platform():
    with pytest.raises(ValueError, match="cuda"):
        deps.variant_for("cuda", "linux")
    with pytest.raises(ValueError, match="freebsd"):
        deps.variant_for("gpu", "freebsd14")


@pytest.mark.parametrize("python_version", sorted(BLENDER_PYTHONS))
@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("build", ["gpu", "cpu"])
def test_exact_pip_command_lines_per_platform_and_python(platform, build, python_version):
    python, target, constraints = BLENDER_PYTHONS[python_version], "/user/extensions/deps", "/tmp/c.txt"
    cmds = deps.pip_commands(target, deps.variant_for(build, platform), python, constraints)
    base = [python, "-m", "pip", "install", "--target", target, "--upgrade", "--prefer-binary", "--no-input",
            "--disable-pip-version-check", "--constraint", constraints]
    pins = _pyproject_deps()
    torch = [d for d in pins if d.startswith("torch")]
    rest = [d for d in pins if not d.startswith(("torch", "numpy"))]
    index = {("linux", "cpu"): "cpu", ("win32", "cpu"): "cpu", ("win32", "gpu"): "cu128"}.get((platform, build))
    if index is None:  # one resolve on PyPI: CUDA torch on Linux, MPS torch on macOS
        assert cmds == [base + torch + rest]
    else:
        assert cmds == [base + torch + ["--index-url", f"https://download.pytorch.org/whl/{index}"], base + rest]
    # under this Python's markers pip is asked for no numpy (Blender's stays), and for one openimageio
    from packaging.requirements import Requirement

    env = {"python_version": python_version, "python_full_version": f"{python_version}.0", "sys_platform": platform}
    asked = [Requirement(a) for cmd in cmds for a in cmd[len(base):] if not a.startswith(("--", "https:"))]
    asked = [r for r in asked if r.marker is None or r.marker.evaluate(env)]
    assert "numpy" not in {r.name for r in asked}
    assert [str(r.specifier) for r in asked if r.name == "openimageio"] == (
        ["<3.1,>=3.0.21"] if python_version == "3.11" else [">=3.0.21"])
