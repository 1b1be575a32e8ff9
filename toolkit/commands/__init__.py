"""One module per concept, each exporting ``COMMANDS`` (see ``toolkit.cli``)."""
