"""The two distributions: the tap's wheel holds the tap only, and the sandbox's wheel installs
and runs on its own (standard library only). Built offline from the working tree."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# It runs pip, setuptools and venv: slow (about 15 s), so not in the quick tier.
pytestmark = pytest.mark.integration
LEFT_OVERS = shutil.ignore_patterns(".*", "build", "dist", "*.egg-info", "__pycache__", "docs")


def build_wheel(source: Path, into: Path) -> Path:
    """Build from a clean copy of `source`: a left-over build/ directory would add old files."""
    source = Path(shutil.copytree(source, into / "source", ignore=LEFT_OVERS))
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index",
         "--no-build-isolation", "--wheel-dir", str(into / "wheels"), str(source)],
        capture_output=True, text=True, timeout=300, check=False, cwd=into,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = (into / "wheels").glob("*.whl")
    return wheel


@pytest.fixture(scope="module")
def tap_wheel(tmp_path_factory) -> zipfile.ZipFile:
    return zipfile.ZipFile(build_wheel(ROOT, tmp_path_factory.mktemp("tap")))


@pytest.fixture(scope="module")
def sandbox_wheel(tmp_path_factory) -> Path:
    return build_wheel(ROOT / "sandbox", tmp_path_factory.mktemp("sandbox"))


def test_the_taps_wheel_holds_the_tap_and_its_schemas_and_no_sandbox(tap_wheel):
    names = tap_wheel.namelist()
    packages = {name.split("/", 1)[0] for name in names if "dist-info" not in name}
    assert packages == {"tap_kustomer"}
    assert not [name for name in names if "sandbox" in name.lower()]
    assert "tap_kustomer/schemas/customers.json" in names
    assert "tap_kustomer/cli.py" in names


def test_the_taps_wheel_requires_only_requests_and_orjson(tap_wheel):
    (metadata,) = [name for name in tap_wheel.namelist() if name.endswith(".dist-info/METADATA")]
    text = tap_wheel.read(metadata).decode()
    required = [
        line.split(":", 1)[1].strip()
        for line in text.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]
    assert sorted(r.split(">")[0].split("<")[0] for r in required) == ["orjson", "requests"]


def test_the_sandbox_installs_and_runs_on_its_own(sandbox_wheel, tmp_path):
    names = zipfile.ZipFile(sandbox_wheel).namelist()
    assert not [name for name in names if name.startswith("tap_kustomer")]
    assert any(name.startswith("kustomer_sandbox/catalog/") for name in names)  # its data
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    install = [str(python), "-m", "pip", "install", "--quiet", "--no-index", str(sandbox_wheel)]
    done = subprocess.run(install, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    # No tap in this venv: the sandbox starts, serves its ground truth, and stops.
    code = (
        "import json, urllib.request\n"
        "from kustomer_sandbox import Sandbox\n"
        "with Sandbox(seed=3, scale=0.01) as sb:\n"
        "    request = urllib.request.Request(sb.base_url + '/__sandbox/truth?stream=customers',"
        " headers={'Authorization': 'Bearer ' + sb.token})\n"
        "    print(len(json.load(urllib.request.urlopen(request))['streams']['customers']))\n"
    )
    done = subprocess.run(
        [str(python), "-I", "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout) > 0
    helped = subprocess.run(
        [str(env / "bin" / "kustomer-sandbox"), "--help"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert helped.returncode == 0 and "--replicas" in helped.stdout
