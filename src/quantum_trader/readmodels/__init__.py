"""Read models: what the API, the dashboard, `audit` and `readiness` show, computed from the journal and
the engine's state without changing either (the journal's audit and readiness documents, the evidence
of paper sessions, the dashboard's figures, the bar tape behind its chart)."""
