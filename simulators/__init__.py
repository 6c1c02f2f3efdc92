"""Mock PMS endpoints with a real folio ledger, a control API and fault knobs."""
