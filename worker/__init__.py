"""The Temporal worker: crmflow's workflows and activities on one task queue."""
