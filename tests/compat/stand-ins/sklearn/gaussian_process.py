"""See __init__.py: never called."""
