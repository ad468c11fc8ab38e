"""Activities: the workflows' only way to the CRM database and to email."""
