"""One module per measure of issue 12; each runs crmflow's path and the bare reference in the
same stack, one after the other, and returns rows for the table (``bench.outcomes``)."""
