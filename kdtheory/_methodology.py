# ruff: noqa: E501  (markdown table rows of the methodology text are one line each)
"""How a verdict is decided: the methodology text of CLAIMS.md and of the documentation's
methodology page (which includes this section of CLAIMS.md). The rules themselves live in
:mod:`kdtheory.verdicts`; this text describes them and must say what they do.
"""

from __future__ import annotations

CLAIMS_HEADER = """# Claims

What kdtheory checks, claim by claim. Each section names a paper and says what the paper states
(**paper**); each claim says whether its statement here is the paper's or **ours**, our
formalization of the paper's claim with its assumptions made explicit (never a quotation), and
what it presupposes (its **premise**).

Every check of a claim on a run has one of three verdicts: **holds**, **fails** or
**inconclusive** (a premise is not met on the run, or the data cannot decide). The verdicts are
generated from the records in `paper_figures/*.json` by `kdtheory claims` (run by
`make figures`); a check marked *reported* is not asserted by the test suite and is shown, and
counted, whatever it shows. [How a verdict is decided](#how-a-verdict-is-decided) gives the
rules: intervals, margins, premises, multiplicity.
"""

METHODOLOGY = """## How a verdict is decided

<!-- methodology:start -->

Every claim is checked by a rule fixed before the run that judges it, written in the check's
statement (the statistic, its interval, the threshold or margin) and in the code
(`kdtheory.verdicts`). The records keep each check's number, its 95% confidence interval, its
premises as measured on the run and its verdict.

### Three verdicts

- **holds**: the claim's premises are met and its check passes: the 95% confidence interval lies
  inside the region the statement names (above a threshold, below one, or within a margin);
- **fails**: the premises are met and the interval lies outside that region, after Holm's
  adjustment where one verdict rests on several checks (below);
- **inconclusive**: a premise is not met (the run is outside the claim's scope: a claim about
  distilling a good teacher says nothing on a run whose teacher is worse than a student trained on
  the labels), or the interval straddles the region's boundary (undecided).

A claim's verdict on one run combines its checks: it **fails** if any check fails, **holds** if
every check whose premises are met holds (and there is one), and is **inconclusive** otherwise.
A check whose premise is not met counts for neither side.

*Reported* means that the test suite does not assert the check (an exploratory formalization, or
a setting where the simulation contradicts the claim): it is shown in the figure and the tables
and counted in the verdict like any other check. Every figure's verdict table says so in its
last line.

### Kinds of checks

| kind | statistic and interval | region |
|---|---|---|
| identity or inequality | property tests (Hypothesis) over random instances; in a simulation the largest error or the smallest gap over all designs | tolerance from floating point; an error at rounding level is recorded as a bound (`< 1e-10`) |
| rate | OLS slope of log risk on log $n$ over designs (t interval, $n_{obs} - 2$ degrees of freedom), or WLS on the per-$n$ means | a decay: slope below a threshold; a floor: the slope within a margin of 0 (equivalence) |
| ordering of methods | paired difference over seeds or designs (the same data, initialization and budget for both methods), t interval with $n - 1$ degrees of freedom | above 0, or above $-\\delta$ for "approaches" (non-inferiority) |
| ratio | ratio of mean paired gains, delta-method interval | above the stated fraction; the gain in the denominator is a premise |
| scatter slope | OLS slope, cluster-robust by seed or design ($G - 1$ degrees of freedom), within each group (class, cluster) as well as pooled | above or below a value |
| equivalence | two one-sided tests (TOST): the 95% interval inside $(c - \\delta, c + \\delta)$ | the margin $\\delta$ is part of the statement, fixed in advance |

Each side of a region is a one-sided test at level 2.5%, so "holds" is a test at 2.5% of the
claim's negation; an equivalence holds when both one-sided tests reject.

### Premises

Each claim states what it presupposes; the premise is measured on the run, with its interval,
and must be *established* (its 95% interval inside the premise's region), not merely not
refuted. A check whose premise is not met is inconclusive, whatever its interval shows: a
comparison of RaT and soft matching is read only on a run whose teacher beats the student
trained on the source labels and whose shift hurts the teacher; the recovered fraction of a
distillation gain only where that gain is positive.

### Pre-registration

The rule of a check (statistic, threshold, margin, the setting it is read at) is fixed in the
code before the run that judges it; the records are then written by that run. A choice made on
data (the best $\\lambda$ of a family of losses, a stopping time, a student ridge) is made on
seeds or designs that do not judge it, or the check built on it is labelled exploratory and
reported. No threshold or margin is changed after a verdict is seen; a check that fails is kept,
and its figure shows it.

### Multiplicity

A verdict that needs every one of $k$ checks to hold is an intersection-union test (Berger,
1982): its level is that of the checks, so "holds" needs no adjustment. Declaring a claim failed
when any of its $k$ checks fails would, unadjusted, wrongly fail a true claim with probability up
to $k$ times 2.5%; the tests behind "fails" are therefore adjusted by Holm's step-down procedure
within each claim on each run (`kdtheory.verdicts.holm`; the record keeps each check's raw
p-value and family size). A check whose interval lies outside its region but whose adjusted test
does not reject is undecided. Claims are separate questions and are not adjusted across one
another; each preset is a separate run with its own verdict.

### What the numbers mean

One formatter writes every number (`kdtheory.formatting`): a value with the digits its interval
supports, the interval's bounds rounded outward, integers as integers, bounds as `< 1e-10`. The
README's quoted numbers are generated from the records (`kdtheory claims`, and
`kdtheory claims --check` fails when a number disagrees). Records store each quantity at the
precision it is determined to (four digits beyond what its interval supports, six significant
digits otherwise, rounding-level errors as bounds), so that a rerun on another machine, with
another BLAS or thread count, writes the same files.

<!-- methodology:end -->
"""
