"""The REST routes, one module per resource; `app` includes them all."""
