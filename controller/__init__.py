"""gwlab controller: convergence checks, probes, failures and reports."""
