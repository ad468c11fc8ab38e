"""The floor: crmflow's measured steps done as leanly as they can be done correctly.

Each measure of ``python -m bench`` compares crmflow with bare Temporal (what Temporal alone
costs) and with this floor (what the same business step costs when written with nothing
but what its guarantees need). The floor does the same work on the same Temporal server,
the same CRM database and the same SMTP sink:

- the same rows: a lead with its recorded start (``process_starts``) and status history,
  a quote's statuses, the sale it makes, every email's outbox row;
- the same order: the request's rows committed, then the process started (by its business
  key), then the start marked; a start Temporal refused leaves the start pending (503);
- every CRM write a process makes is a scheduled activity, retried until it holds, and
  idempotent (status changes and outbox rows keyed, ``ON CONFLICT DO NOTHING``);
- each email once: its outbox row written before the SMTP conversation, marked sent after,
  the acceptance kept in the attempt's heartbeat so a retry does not send it again;
- decisions checked by the process (an update validator: the author cannot decide, only a
  pending quote can be decided) and answered once the CRM row says so.

What it leaves out is what makes no guarantee: no ORM and no pydantic (plain SQL on asyncpg
or sqlite3, JSON by the standard library), a plain ASGI app (no framework), one
transaction per step with the status and the email's outbox row together, one activity per
step, search attributes given with the start. ``bench.floor.audit`` checks it keeps those
guarantees under a killed worker, as ``tests/e2e/test_faults.py`` checks crmflow's.

Run: ``python -m bench.floor.worker`` and ``python -m bench.floor.app`` (the stack starts
them, see ``bench.stack``).
"""
