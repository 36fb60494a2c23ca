"""kdtheory: the theory of knowledge distillation, executable.

Estimators (scikit-learn compatible), exact risks of linear smoothers, and Monte Carlo checks of
the claims stated in CLAIMS.md (ids such as RAT-1).
"""

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
