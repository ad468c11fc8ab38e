"""Who may do what: the roles a crmflow user can hold."""

from enum import StrEnum


class Role(StrEnum):
    SALES_REP = "sales_rep"
    SALES_MANAGER = "sales_manager"
    ACCOUNTANT = "accountant"
    SUPPORT_AGENT = "support_agent"
    SUPPORT_LEAD = "support_lead"
    ADMIN = "admin"
    INTEGRATION = "integration"
    """The website, mail and payment systems posting events."""
