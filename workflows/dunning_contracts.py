"""What invoice dunning asks of the CRM database: activity names, inputs and outputs.

Implemented by ``activities/billing.py``; kept here so the workflow module stays free of
database imports (see ``workflows/contracts.py`` for the ones every process shares).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

RECORD_PAYMENT = "record_payment"
UPDATE_INVOICE = "update_invoice"


@dataclass
class PaymentToRecord:
    invoice_id: int
    reference: str
    """Unique: a payment already recorded under it is not recorded again."""
    amount: Decimal
    received_at: datetime
    balance_after: Decimal
    recorded_by_id: int | None = None


@dataclass
class InvoiceUpdate:
    """The invoice's dunning facts as its process has them; writing them twice is harmless."""

    invoice_id: int
    level_reached: int
    late_fee: Decimal
    """Once above zero, the invoice gets its late fee line (once)."""
    late_fee_line: str
    promised_on: date | None
    credited: Decimal
    closed_at: datetime | None
