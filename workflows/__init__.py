"""The business processes as Temporal workflows: pure, deterministic, light imports."""
