"""Worker Versioning: which build of crmflow a worker runs, and which processes it takes.

With ``CRMFLOW_WORKER_DEPLOYMENT`` set, the worker belongs to that Worker Deployment as one
version (the deployment name and ``CRMFLOW_WORKER_BUILD_ID``, crmflow's release by default).
Temporal sends a new process to the deployment's *current* version, set by the operator
(``temporal worker deployment set-current-version``) once the new build's workers poll.
Pinned (the default), a process stays on the build it started on until it ends, so a
change too wide for a patch is deployed as a new build while the old one drains; auto-upgrade
moves running processes to the current build, whose changes then need patches
(``workflows.patches``). The rolling deploy is walked through in the docs (how-to: change a
running process).
"""

from __future__ import annotations

from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import WorkerDeploymentConfig

from crm.settings import Settings
from crmflow import __version__

BEHAVIOURS = {"pinned": VersioningBehavior.PINNED,
              "auto_upgrade": VersioningBehavior.AUTO_UPGRADE}


def deployment_config(settings: Settings) -> WorkerDeploymentConfig | None:
    """The worker's deployment version, or None for an unversioned worker."""
    if settings.worker_deployment is None:
        return None
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(settings.worker_deployment, build_id(settings)),
        use_worker_versioning=True,
        default_versioning_behavior=BEHAVIOURS[settings.worker_versioning_behavior],
    )


def build_id(settings: Settings) -> str:
    return settings.worker_build_id or __version__
