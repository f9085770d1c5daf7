"""Only what pyproject.toml cannot say: the wheel carries the reviewable data folders.

`cards/` (the card catalogue) and `fhir_profiles/` (the input contract) stay at the repository
root, where clinicians and integrators review them as data; the build copies them into the
package as `service/_data/`, so an installed wheel runs anywhere with no path settings
(`service.paths` prefers the checkout's folders when they exist).
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
DATA = ("cards", "fhir_profiles")


class BuildWithData(build_py):
    def run(self) -> None:
        super().run()
        for name in DATA:
            target = Path(self.build_lib) / "service" / "_data" / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(ROOT / name, target,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithData})
