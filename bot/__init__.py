"""The Slack front door of capture-status: ``/capture-status``, buttons, a shortcut, App Home.

It is thin (docs/architecture.md): parse what Slack sent, ``ack()`` before any I/O, look the ids up
through the shared client, and render the shared :class:`~shared.explain.engine.Explanation` as
Block Kit. Run it with ``python -m bot`` (Socket Mode when ``SLACK_APP_TOKEN`` is set,
otherwise an HTTP server with ``POST /slack/events``, ``GET /healthz`` and ``GET /readyz``).
"""
