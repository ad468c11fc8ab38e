"""The custom search attributes every process carries, so engineers can find it in the UI.

Registered by the dev stack and by the production compose file; see README "For engineers".
"""

from typing import Any

from temporalio.common import SearchAttributeKey

CRM_PROCESS = SearchAttributeKey.for_keyword("CrmProcess")
CRM_STATUS = SearchAttributeKey.for_keyword("CrmStatus")
CRM_CUSTOMER_ID = SearchAttributeKey.for_keyword("CrmCustomerId")
CRM_OWNER = SearchAttributeKey.for_keyword("CrmOwner")
CRM_AMOUNT = SearchAttributeKey.for_float("CrmAmount")

ALL: list[SearchAttributeKey[Any]] = [
    CRM_PROCESS, CRM_STATUS, CRM_CUSTOMER_ID, CRM_OWNER, CRM_AMOUNT
]
