"""Build hook: the wheel carries copies of the repository files the library reads at run time.

config/schemas/*.yaml (the config and table schemas) and config/demo/design.yaml (the demo
design read by ``painmrs simulate``) stay the source of truth in the repository; building a
wheel copies them into ``painmrs/_data/`` (see ``painmrs.resources``). Editable installs skip
the copy: they read the repository files directly.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# (repository folder, glob, destination under painmrs/_data/)
DATA = [("config/schemas", "*.yaml", "schemas"), ("config/demo", "design.yaml", "demo")]


class BuildPyWithData(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for folder, pattern, dest in DATA:
            files = sorted((ROOT / folder).glob(pattern))
            if not files:
                raise RuntimeError(f"setup.py: no {folder}/{pattern} to package")
            target = Path(self.build_lib) / "painmrs" / "_data" / dest
            shutil.rmtree(target, ignore_errors=True)  # no stale copies from an earlier build
            target.mkdir(parents=True)
            for src in files:
                shutil.copyfile(src, target / src.name)


setup(cmdclass={"build_py": BuildPyWithData})
