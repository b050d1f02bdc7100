"""Cross-cutting pieces every TimeBase component shares: errors, configuration, logging."""
