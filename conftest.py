"""Keep `pytest --doctest-modules` away from files that are not importable test modules."""

collect_ignore_glob = [
    "docs/notebooks/*.py",  # jupytext notebooks: executed by the site build, not imported
    "docs/hooks/*.py",      # the MkDocs hook: tests/test_site.py loads and tests it
    "docs/vendor/*",        # the vendored MathJax copy
    "site/*",               # a built site
    "benchmarks/*",         # benchmarks import optional frameworks
]
