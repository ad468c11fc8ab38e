"""The CRM: models, persistence, settings and logging shared by the API and the activities."""
