"""What the HTTP front doors run on: hardened servers, sockets, logging, Prometheus metrics."""
