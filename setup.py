"""Build step: copy the shipped files (see ``detector/resources.py``) into the package.

The model YAMLs, the default weights and the demo media live at the repository's top level;
a wheel carries them as package data under ``detector/_assets`` so an installed cspdet finds
them through ``importlib.resources`` from any working directory.
"""
import importlib.util
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
# detector/resources.py imports only the standard library, so it loads here without the package.
_spec = importlib.util.spec_from_file_location("_cspdet_resources", HERE / "detector" / "resources.py")
_resources = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_resources)


class BuildWithAssets(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the source tree directly
        for packaged, source, patterns in _resources.ASSETS.values():
            target = Path(self.build_lib) / "detector" / "_assets" / packaged
            target.mkdir(parents=True, exist_ok=True)
            for pattern in patterns:
                for f in sorted((HERE / source).glob(pattern)):
                    shutil.copy2(f, target / f.name)


setup(cmdclass={"build_py": BuildWithAssets})
