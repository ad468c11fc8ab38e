"""Workflow code kept only so that processes started before a change replay as they ran."""
