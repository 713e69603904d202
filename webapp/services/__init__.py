"""Domain operations shared by pages, API and CLI. No request objects here."""
