"""Documents the CRM renders as PDF — the quote a customer receives — from HTML templates
the company may replace (``CRMFLOW_DOCUMENT_TEMPLATES``), with WeasyPrint."""
