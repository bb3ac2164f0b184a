"""The FastAPI service: composes knowledge, indexer and escalation into the support desk."""
