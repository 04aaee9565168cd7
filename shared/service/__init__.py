"""The use cases: look up, queue health, wait. Front doors call these and render the views."""
