"""The HTTP API: routers validate, authorise, then read the CRM or drive a process."""
