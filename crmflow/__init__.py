"""crmflow's entry points: the ``crmflow`` command and the embedded dev stack."""
