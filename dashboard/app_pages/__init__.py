"""Dashboard pages, one module per page, each rendering only."""
