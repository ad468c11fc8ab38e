"""crmflow's benchmark suite: each measure beside a bare Temporal reference, in one run.

``python -m bench`` starts its own stack (Temporal dev server, CRM database, SMTP sink,
``crmflow api``, ``crmflow worker``, a bare reference worker and a no-op FastAPI app), runs
every measure of issue 12 against both crmflow and the bare reference on the same server,
and prints the ratios (see ``../shared/docs/performance.md``: ratios, not absolutes).

Kept free of imports: the bare workflows live in this package and the workflow sandbox
imports the package with them.
"""
