"""kdtheory: the theory of knowledge distillation, executable.

Estimators (scikit-learn compatible), exact risks of linear smoothers, and Monte Carlo checks of
the claims stated in CLAIMS.md (ids such as RAT-1).
"""

import importlib.util as _importlib_util
import sys as _sys
from pathlib import Path as _Path

from kdtheory.dynamics import GradientDescentRegressor
from kdtheory.semiparametric import CrossFitTeacher, DistilledRegressor
from kdtheory.student_teacher import ResidualAsTeacher, SoftMatching

__all__ = [
    "SoftMatching",
    "ResidualAsTeacher",
    "GradientDescentRegressor",
    "CrossFitTeacher",
    "DistilledRegressor",
]
__version__ = "0.1.0"


def _simulations_of_the_checkout() -> None:
    """Find ``kdtheory.simulations`` in a checkout's top-level ``simulations/`` folder.

    An install places that folder at ``kdtheory/simulations/`` (``package-dir`` in
    ``pyproject.toml``: a top-level ``simulations`` module would collide with other projects').
    Run from a checkout without installing (the checkout on ``PYTHONPATH``, as the GPU scripts
    do), the folder sits beside this package instead; register it under the same name.
    """
    here = _Path(__file__).resolve().parent
    folder = here.parent / "simulations"
    name = f"{__name__}.simulations"
    if name in _sys.modules or (here / "simulations").is_dir():
        return
    if not (folder / "__init__.py").is_file():
        return
    spec = _importlib_util.spec_from_file_location(
        name, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    module = _importlib_util.module_from_spec(spec)
    _sys.modules[name] = module
    spec.loader.exec_module(module)


_simulations_of_the_checkout()
