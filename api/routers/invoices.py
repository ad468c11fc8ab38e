"""Invoices: to be built (see the issue of its process)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["invoices"])
