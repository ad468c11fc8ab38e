"""Files: what the CRM's objects carry (a quote's document, a ticket's proof), kept in a
file store by their content's hash, described by a ``files`` row."""
