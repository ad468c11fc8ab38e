"""crmflow's entry points: the ``crmflow`` command and the embedded dev stack."""

from importlib.metadata import version

__version__ = version("crmflow")
"""The release (``pyproject.toml``'s version), as installed."""
