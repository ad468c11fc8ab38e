"""Insight: what the status history says about the processes, as managers read it.

Every status change is recorded with who, when and why (``status_changes``); each view here
turns it, with the rows it concerns, into the numbers of one chart: the funnel, the time
spent in each status (cycle times), approvals, support's targets, cash, the forecast. Each
answers with a few queries over the history (no row loaded per case: a percentile reads
back only the durations near it) and returns a :class:`~crm.insights.charts.Chart`: its
rows, as the API's JSON and CSV and the console's table beside its picture.
"""
