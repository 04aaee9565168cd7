"""The LeadSquared edge: HTTP to the async API, envelope models, RequestIds, bounds."""
