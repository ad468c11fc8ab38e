"""Your own workflows on the CRM side: reading a definition (YAML or JSON, the published JSON
Schema, then the checks that name a step), the catalogue it is checked against, and
enrolling objects (commit, then start, like every process)."""
