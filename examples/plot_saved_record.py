"""
Re-analysing a saved record
===========================

Every figure in ``paper_figures/`` comes with the table behind it (``NAME-PRESET.csv``, one row
per method, sample size and Monte Carlo design) and its claims (``NAME-PRESET.json``: each
check's statement, value, interval, verdict and premises). A notebook can read both, re-run the
simulation's own analysis on the table without recomputing anything, and look at the numbers
another way. Here: the ``quick`` record of ``rat_separation`` (claims RAT-1, RAT-2, RAT-4).
"""

import importlib
import json

import matplotlib.pyplot as plt
import pandas as pd

from kdtheory.claims import Claim
from kdtheory.cli import PROJECT_ROOT
from kdtheory.plotting import METHOD_STYLE
from kdtheory.rates import fit_rate

name, preset = "rat_separation", "quick"
records = PROJECT_ROOT / "paper_figures"
table = pd.read_csv(records / f"{name}-{preset}.csv")
record = json.loads((records / f"{name}-{preset}.json").read_text())
saved = [Claim.from_dict(c) for c in record["claims"]]
print(record["command"], "->", len(table), "rows,", len(saved), "checks")
for claim in saved[:4]:
    print(f"{claim.id}: {claim.verdict:12s} {claim.value_text():24s} {claim.statement[:70]}")

# %%
# The same verdicts from the table
# --------------------------------
# The simulation module's ``analyze`` and ``claims`` are what ``kdtheory run`` called; run on
# the saved table they give the saved verdicts back.

module = importlib.import_module(f"kdtheory.simulations.{name}")
again = module.claims(table, module.analyze(table))
pairs = zip(saved, again, strict=True)
same = [a.verdict == b.verdict and a.statement == b.statement for a, b in pairs]
print(f"{sum(same)} of {len(saved)} checks re-derived identically")

# %%
# Another view: the rates, fitted here
# ------------------------------------
# The target risk of each method against ``n`` in the rate experiment without shift, with the
# log-log slope fitted by :func:`kdtheory.rates.fit_rate` (one observation per design).

rows = (table["experiment"] == "rate") & (table["shift"] == 1) & (table["fstar"] == "rate_tight")
rate = table[rows]
fits = {}
fig, ax = plt.subplots(figsize=(9.0, 4.0), layout="constrained")
methods = sorted(rate["method"].unique())
for k, (method, group) in enumerate(rate.groupby("method")):
    fits[method] = fit = fit_rate(group["n"], group["risk"])
    means = group.groupby("n")["risk"].mean()
    lo, hi = fit.ci
    style = METHOD_STYLE[method]  # the house style: one colour and marker per method
    dodge = 1.04 ** (k - (len(methods) - 1) / 2)  # methods side by side: none hides another
    ax.loglog(
        means.index * dodge,
        means.values,
        marker=style["marker"],
        color=style["color"],
        linestyle=("-", "--", ":", "-.")[k % 4],
        label=f"{style['label']}: slope {fit.slope:.2f} [{lo:.2f}, {hi:.2f}]",
    )
ax.set_xticks(sorted(rate["n"].unique()), [str(n) for n in sorted(rate["n"].unique())])
ax.xaxis.set_minor_locator(plt.NullLocator())  # only the sample sizes on x
ax.set_xlabel("n (source = target sample size; methods dodged sideways)")
ax.set_ylabel("exact target risk (mean over designs)")
ax.set_title(f"{name} ({preset}): rates re-fitted from the saved table")
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1), title="fitted slope [95% CI]")
ax.grid(True, which="both", alpha=0.3)
print(f"SM's slope {fits['sm'].slope:.2f} (a floor), RaT's {fits['rat'].slope:.2f} (minimax: -2/3)")
