"""Reports of a forecast: matplotlib figures (plots), the self-contained HTML report (html)."""
