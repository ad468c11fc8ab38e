"""A QuoteApproval changed without ``workflow.patched``, for the replay test to catch.

Kept in a module of its own: the sandbox re-imports a workflow's module, which must stay light.
"""

from datetime import timedelta

from temporalio import workflow

from workflows.quote_approval import QuoteApprovalInput


@workflow.defn(name="QuoteApproval")
class QuoteApprovalThatWaitsFirst:
    """An unguarded change: a new timer before anything else."""

    @workflow.run
    async def run(self, quote: QuoteApprovalInput) -> None:
        await workflow.sleep(timedelta(minutes=1))
