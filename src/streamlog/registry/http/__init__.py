"""The registry's REST API over Starlette (app.py: routes; negotiation.py: content types and bodies)."""
