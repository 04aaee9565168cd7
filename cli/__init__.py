"""The terminal front door: the ``capture-status`` command, its launcher and its cards."""
