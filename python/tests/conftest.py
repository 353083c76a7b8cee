import os
import sys
import warnings

from hypothesis import HealthCheck, Phase, settings

# numpy's test module marks classes thread_unsafe (a pytest-run-parallel
# marker); register it so pytest does not warn.

# Hypothesis profiles of the differential harness (test_differential.py):
# - ci (the default): few examples per test, derandomized so every run
#   draws the same cases; the whole file runs in well under a minute on the
#   2-core machine.
# - long: MMARRAY_HYPOTHESIS_PROFILE=long (scripts/test-long.sh): 100,000
#   examples per test, over 1,000,000 in all, random (a new seed each run,
#   printed by Hypothesis with any failure).
_COMMON = dict(deadline=None, database=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
# ci does not shrink a failure (shrinking one can take Hypothesis five
# minutes); each failure is reported as found, with its repro. The long
# profile shrinks.
settings.register_profile("ci", max_examples=int(os.environ.get("MMARRAY_HYPOTHESIS_EXAMPLES", 60)), derandomize=True,
                          phases=[Phase.explicit, Phase.generate], **_COMMON)
settings.register_profile("long", max_examples=int(os.environ.get("MMARRAY_HYPOTHESIS_EXAMPLES", 100_000)), **_COMMON)
settings.load_profile(os.environ.get("MMARRAY_HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config):
    config.addinivalue_line("markers", "thread_unsafe: numpy's marker, unused here")
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="numpy")


def pytest_terminal_summary(terminalreporter):
    """The differential harness's case counts, per test and in all."""
    d = sys.modules.get("_differential")
    if d is None or not d.EXAMPLES:
        return
    tr = terminalreporter
    profile = settings.get_current_profile_name() if hasattr(settings, "get_current_profile_name") else settings._current_profile
    tr.section(f"differential harness: cases (Hypothesis profile {profile!r})")
    width = max(map(len, d.EXAMPLES))
    for name in sorted(d.EXAMPLES):
        tr.write_line(f"{name:<{width}}  {d.EXAMPLES[name]:>9} examples  {d.COMPARISONS[name]:>9} calls compared")
    tr.write_line(f"{'total':<{width}}  {sum(d.EXAMPLES.values()):>9} examples  {sum(d.COMPARISONS.values()):>9} calls compared")
    d.write_counts()
