"""One process in two builds, before and after a patch, for ``crmflow processes versions``
(the test deploys the patch today).

Kept in a module of its own: the sandbox re-imports a workflow's module, which must stay light.
"""

from datetime import date

from temporalio import workflow

from workflows.patches import Patch, patched

GREETING = Patch("greet-first", date(2026, 12, 6), "the process greets before it waits",
                 ("PatchedProcess",))


@workflow.defn(name="PatchedProcess")
class BeforeThePatch:
    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


@workflow.defn(name="PatchedProcess")
class AfterThePatch:
    @workflow.run
    async def run(self) -> None:
        if patched(GREETING):
            workflow.logger.info("hello")
        await workflow.wait_condition(lambda: False)
